import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Reason } from "../../src/errors/reasons.ts";
import { type Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { type Frame, TestSocket } from "../helpers/ws-client.ts";

const MAX_PAYLOAD_BYTES = 1024;
const MAX_FRAME_BYTES = 8192;

let node: TestNode;
let api: Api;
let queue: string;
let topic: string;
/** The socket every bad frame goes to; it must keep working after each one. */
let target: TestSocket;
let targetSub: string;
/** A bystander on the same node. */
let other: TestSocket;

beforeAll(async () => {
  node = await startTestNode({
    env: {
      AVISO_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES),
      AVISO_MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
    },
  });
  ({ api } = await newUser(node.url));
  queue = uniqueName("q");
  topic = uniqueName("t");
  expect((await api.post("/v1/queues", { name: queue })).status).toBe(201);
  expect((await api.post("/v1/topics", { name: topic })).status).toBe(201);
  expect(
    (await api.post(`/v1/queues/${queue}/messages`, { messages: [{ payload: 1 }, { payload: 2 }] })).status,
  ).toBe(201);
  expect((await api.post(`/v1/topics/${topic}/messages`, { payload: "t0" })).status).toBe(201);
  target = await TestSocket.connect(node.wsUrl, api.token);
  other = await TestSocket.connect(node.wsUrl, api.token);
  const subscribed = await target.request({ op: "subscribe", id: "live", topic, pattern: "#" });
  targetSub = subscribed.sub as string;
});
afterAll(async () => {
  await Promise.all([target?.close(), other?.close()]);
  await node?.close();
});

let pingCount = 0;
async function stillServes(socket: TestSocket): Promise<void> {
  const id = `alive-${pingCount++}`;
  socket.send({ op: "ping", id });
  await socket.waitFor((frame) => frame.op === "pong" && frame.id === id);
}

/** Nothing the bad frames could have touched has changed, and both sockets still answer. */
async function expectNothingChanged(): Promise<void> {
  await Promise.all([stillServes(target), stillServes(other)]);
  const queueView = await api.get<{ depth: number; inFlight: number; consumers: number }>(
    `/v1/queues/${queue}`,
  );
  expect(queueView.body).toMatchObject({ depth: 2, inFlight: 0, consumers: 0 });
  const topicView = await api.get<{ nextOffset: number }>(`/v1/topics/${topic}`);
  expect(topicView.body.nextOffset).toBe(1);
  expect(target.frames.filter((frame) => frame.op === "message")).toEqual([]);
  expect(
    target.frames.some((frame) => frame.op === "ok" && frame.sub !== undefined && frame.sub !== targetSub),
  ).toBe(false);
}

/** Sends `raw` and returns the error frame it causes (the first error frame after this call). */
async function errorFor(raw: string | Buffer, binary = false): Promise<Frame> {
  const seen = target.frames.length;
  target.sendRaw(raw, binary);
  return target.waitFor((frame) => frame.op === "error" && target.frames.indexOf(frame) >= seen);
}

const big = "x".repeat(MAX_PAYLOAD_BYTES);

interface BadFrame {
  name: string;
  raw: () => string;
  reason: Reason;
  id?: string | number;
  /** Expected `details`, partially. */
  details?: Record<string, unknown>;
}

const badFrames: BadFrame[] = [
  { name: "malformed JSON", raw: () => '{"op":"ping",', reason: "BAD_JSON" },
  { name: "a JSON array", raw: () => '[{"op":"ping"}]', reason: "VALIDATION_FAILED" },
  { name: "a JSON number", raw: () => "42", reason: "VALIDATION_FAILED" },
  { name: "JSON null", raw: () => "null", reason: "VALIDATION_FAILED" },
  { name: "a JSON string", raw: () => '"ping"', reason: "VALIDATION_FAILED" },
  { name: "an unknown op", raw: () => '{"op":"frobnicate","id":"u1"}', reason: "UNKNOWN_OP", id: "u1" },
  { name: "no op", raw: () => '{"id":"u2"}', reason: "UNKNOWN_OP", id: "u2" },
  { name: "a non-string op", raw: () => '{"op":7,"id":"u3"}', reason: "UNKNOWN_OP", id: "u3" },
  // Refused unparsed, so the reply cannot carry the id (fuzz.test.ts has the 10,000-deep crash case).
  {
    name: "an op nested 3,000 levels deep",
    raw: () => `{"op":${"[".repeat(3_000)}${"]".repeat(3_000)},"id":"d1"}`,
    reason: "VALIDATION_FAILED",
    details: { problems: [{ path: "/", message: "JSON nested deeper than 64 levels" }] },
  },
  {
    name: "a payload nesting the frame 65 levels deep",
    raw: () => `{"op":"publish","id":"d2","queue":"${queue}","payload":${"[".repeat(64)}${"]".repeat(64)}}`,
    reason: "VALIDATION_FAILED",
  },
  {
    name: "prefetch of the wrong type",
    raw: () => JSON.stringify({ op: "subscribe", id: "v1", queue, prefetch: "ten" }),
    reason: "VALIDATION_FAILED",
    id: "v1",
    details: { problems: [expect.objectContaining({ path: "/prefetch" })] },
  },
  {
    name: "prefetch 0",
    raw: () => JSON.stringify({ op: "subscribe", id: "v2", queue, prefetch: 0 }),
    reason: "VALIDATION_FAILED",
    id: "v2",
    details: { problems: [expect.objectContaining({ path: "/prefetch" })] },
  },
  {
    name: "prefetch above the node's maximum",
    raw: () => JSON.stringify({ op: "subscribe", id: "v3", queue, prefetch: 1_000_000 }),
    reason: "VALIDATION_FAILED",
    id: "v3",
  },
  {
    name: "an unknown field",
    raw: () => JSON.stringify({ op: "publish", id: "v4", queue, payload: 1, colour: "red" }),
    reason: "VALIDATION_FAILED",
    id: "v4",
  },
  {
    name: "a publish without payload",
    raw: () => JSON.stringify({ op: "publish", id: "v5", queue }),
    reason: "VALIDATION_FAILED",
    id: "v5",
    details: { problems: expect.arrayContaining([expect.objectContaining({ path: "/payload" })]) },
  },
  {
    name: "ack ids that are not an array",
    raw: () => JSON.stringify({ op: "ack", id: "v6", sub: "q1", ids: "1" }),
    reason: "VALIDATION_FAILED",
    id: "v6",
    details: { problems: [expect.objectContaining({ path: "/ids" })] },
  },
  {
    name: "a negative nack delay",
    raw: () => JSON.stringify({ op: "nack", id: "v7", sub: "q1", ids: ["1"], delayMs: -1 }),
    reason: "VALIDATION_FAILED",
    id: "v7",
  },
  {
    name: "from of the wrong kind",
    raw: () => JSON.stringify({ op: "subscribe", id: "v8", topic, from: "yesterday" }),
    reason: "VALIDATION_FAILED",
    id: "v8",
  },
  {
    name: "a frame naming both a queue and a topic",
    raw: () => JSON.stringify({ op: "publish", id: "v9", queue, topic, payload: 1 }),
    reason: "VALIDATION_FAILED",
    id: "v9",
  },
  {
    name: "an invalid pattern (wildcard inside a word)",
    raw: () => JSON.stringify({ op: "subscribe", id: "p1", topic, pattern: "a.b*" }),
    reason: "INVALID_PATTERN",
    id: "p1",
  },
  {
    name: "an invalid pattern (empty word)",
    raw: () => JSON.stringify({ op: "subscribe", id: "p2", topic, pattern: "a..b" }),
    reason: "INVALID_PATTERN",
    id: "p2",
  },
  {
    name: "an invalid routing key",
    raw: () => JSON.stringify({ op: "publish", id: "k1", topic, key: "a.#", payload: 1 }),
    reason: "INVALID_ROUTING_KEY",
    id: "k1",
  },
  {
    name: "an empty queue name",
    raw: () => JSON.stringify({ op: "publish", id: "n1", queue: "", payload: 1 }),
    reason: "VALIDATION_FAILED",
    id: "n1",
  },
  {
    name: "an over-long topic name",
    raw: () => JSON.stringify({ op: "subscribe", id: "n2", topic: "t".repeat(201) }),
    reason: "VALIDATION_FAILED",
    id: "n2",
  },
  {
    name: "a queue name with a space",
    raw: () => JSON.stringify({ op: "publish", id: "n3", queue: `${queue} x`, payload: 1 }),
    reason: "INVALID_NAME",
    id: "n3",
  },
  {
    name: "a topic name with a slash",
    raw: () => JSON.stringify({ op: "subscribe", id: "n4", topic: `${topic}/x` }),
    reason: "INVALID_NAME",
    id: "n4",
  },
  {
    name: "an oversized payload to a queue",
    raw: () => JSON.stringify({ op: "publish", id: "big1", queue, payload: big }),
    reason: "PAYLOAD_TOO_LARGE",
    id: "big1",
  },
  {
    name: "an oversized payload to a topic",
    raw: () => JSON.stringify({ op: "publish", id: "big2", topic, payload: { text: big } }),
    reason: "PAYLOAD_TOO_LARGE",
    id: "big2",
  },
  {
    name: "an ack on a topic subscription",
    raw: () => JSON.stringify({ op: "ack", id: "a1", sub: targetSub, ids: ["0"] }),
    reason: "VALIDATION_FAILED",
    id: "a1",
  },
  {
    name: "unsubscribe from an unknown subscription",
    raw: () => JSON.stringify({ op: "unsubscribe", id: "a2", sub: "t999" }),
    reason: "UNKNOWN_SUBSCRIPTION",
    id: "a2",
  },
];

describe("WebSocket bad input", () => {
  it.each(badFrames)("answers $name with $reason and changes nothing", async (bad) => {
    const error = await errorFor(bad.raw());
    expect(error).toMatchObject({
      reason: bad.reason,
      code: expect.any(String),
      message: expect.any(String),
    });
    expect(error.id).toBe(bad.id);
    if (bad.details !== undefined) expect(error.details).toMatchObject(bad.details);
    await expectNothingChanged();
  });

  it("answers a binary frame with BINARY_FRAME and changes nothing", async () => {
    const error = await errorFor(Buffer.from(JSON.stringify({ op: "ping", id: "bin" })), true);
    expect(error).toMatchObject({ code: "invalid_argument", reason: "BINARY_FRAME" });
    expect(target.frames.some((frame) => frame.op === "pong" && frame.id === "bin")).toBe(false);
    await expectNothingChanged();
  });

  it("accepts a payload of exactly the limit and refuses one byte more", async () => {
    const edgeTopic = uniqueName("edge");
    expect((await api.post("/v1/topics", { name: edgeTopic })).status).toBe(201);
    // The limit counts the payload's JSON: a string of n characters is n + 2 bytes.
    const payload = "y".repeat(MAX_PAYLOAD_BYTES - 2);
    const fits = await target.request({ op: "publish", id: "fits", topic: edgeTopic, payload });
    expect(fits).toMatchObject({ op: "ok", id: "fits", offset: 0 });
    const over = await target.request({
      op: "publish",
      id: "over",
      topic: edgeTopic,
      payload: `${payload}y`,
    });
    expect(over).toMatchObject({ op: "error", id: "over", reason: "PAYLOAD_TOO_LARGE" });
    const view = await api.get<{ nextOffset: number }>(`/v1/topics/${edgeTopic}`);
    expect(view.body.nextOffset).toBe(1);
    await expectNothingChanged();
  });

  it("closes a socket that sends a frame over AVISO_MAX_FRAME_BYTES and leaves the others alone", async () => {
    const victim = await TestSocket.connect(node.wsUrl, api.token);
    victim.send({ op: "publish", id: "huge", queue, payload: "z".repeat(MAX_FRAME_BYTES) });
    const closed = await victim.closed;
    // uWS (v20.30) drops the TCP connection without a close frame when a frame passes
    // maxPayloadLength, so the client sees 1006 (abnormal closure), as docs/errors.md says.
    expect(closed.code).toBe(1006);
    expect(victim.frames.some((frame) => frame.op === "ok")).toBe(false);
    await expectNothingChanged();
  });
});
