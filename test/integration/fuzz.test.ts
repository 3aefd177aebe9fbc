import { Agent, request as httpRequest } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routeTable } from "../../src/edge/edge-server.ts";
import { assertJsonDepth } from "../../src/edge/json-depth.ts";
import { wsOps } from "../../src/edge/ws/dispatch.ts";
import { clientFrameSchemas } from "../../src/edge/ws/frames.ts";
import { reasons } from "../../src/errors/reasons.ts";
import { type Api, newUser, uniqueName } from "../helpers/api.ts";
import { operationsSpendingCaller } from "../helpers/authorization-matrix.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import {
  deepNesting,
  hostileStrings,
  jsonText,
  nearValidBody,
  pathSegment,
  queryString,
  schemaKeys,
} from "../helpers/hostile-input.ts";
import { type Frame, TestSocket } from "../helpers/ws-client.ts";

/**
 * docs/security.md S11: hostile input on every REST route and every
 * WebSocket op gets a client error — never INTERNAL, never a crash — and
 * changes nothing. The routes and ops come from the tables the node itself
 * mounts, so a new one is fuzzed without touching this file.
 *
 * Runs are bounded (RUNS_PER_ROUTE, RUNS_PER_OP) and the seed fixed, so the
 * file takes well under a minute on a loaded machine and a failure replays;
 * fast-check prints the counterexample and its seed.
 */

/** AVISO_FUZZ_SEED and AVISO_FUZZ_SCALE (a run multiplier) explore further by hand; CI uses the defaults. */
const SCALE = Number(process.env.AVISO_FUZZ_SCALE ?? 1);
const RUNS_PER_ROUTE = Math.round(30 * SCALE);
const RUNS_PER_OP = Math.round(60 * SCALE);
const SEED = Number(process.env.AVISO_FUZZ_SEED ?? 0x5e11);

/** The route table as the node mounts it; services are never called while building it. */
const routes = routeTable({} as never, {} as never);
const opSchemas = Object.values(clientFrameSchemas);

let node: TestNode;
let alice: Api;
let token: string;
let queue: string;
let topic: string;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** What successful (2xx / ok) requests may have changed; everything else must be as it was. */
const succeeded = {
  queueMessages: 0,
  topicMessages: 0,
  leased: false,
  names: new Set<string>(),
  /** Each success, for the failure message. */
  log: [] as string[],
};
const stateBefore: Record<string, unknown> = {};
const prototypeKeysBefore = Object.getOwnPropertyNames(Object.prototype);

beforeAll(async () => {
  node = await startTestNode({
    // A long auth deadline: the anonymous sockets below must outlive their fuzz runs on a slow machine.
    env: { AVISO_MAX_BODY_BYTES: "1048576", AVISO_WS_AUTH_TIMEOUT_MS: "120000" },
  });
  const user = await newUser(node.url, "fuzz");
  alice = user.api;
  token = alice.token as string;
  queue = uniqueName("fq");
  topic = uniqueName("ft");
  expect((await alice.post("/v1/queues", { name: queue })).status).toBe(201);
  expect((await alice.post("/v1/topics", { name: topic })).status).toBe(201);
  expect((await alice.post(`/v1/queues/${queue}/messages`, { payload: { keep: 1 } })).status).toBe(201);
  expect((await alice.post(`/v1/topics/${topic}/messages`, { payload: { keep: 1 } })).status).toBe(201);
  stateBefore.queue = (await alice.get(`/v1/queues/${queue}/grants`)).body;
  stateBefore.topic = (await alice.get(`/v1/topics/${topic}/grants`)).body;
  stateBefore.bindings = (await alice.get(`/v1/topics/${topic}/subscriptions`)).body;
});
afterAll(async () => {
  agent.destroy();
  await node?.close();
});

interface RawResponse {
  status: number;
  contentType: string;
  text: string;
}

/** Sends bytes exactly as given (fetch would normalise the path and refuse some headers). */
function send(method: string, path: string, headers: Record<string, string>, body?: Buffer) {
  const url = new URL(node.url);
  return new Promise<RawResponse>((resolve, reject) => {
    const req = httpRequest(
      { agent, host: url.hostname, port: url.port, method: method.toUpperCase(), path, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers["content-type"] ?? "",
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A refusal is a 4xx with `{error:{code,reason,message}}` naming a registered reason other than INTERNAL. */
function expectClientError(response: RawResponse, what: string): void {
  expect(response.status, what).toBeGreaterThanOrEqual(400);
  expect(response.status, what).toBeLessThan(500);
  expect(response.contentType, what).toMatch(/^application\/json/);
  const body = JSON.parse(response.text) as { error?: Record<string, unknown> };
  expect(body.error, what).toMatchObject({
    code: expect.any(String),
    reason: expect.any(String),
    message: expect.any(String),
  });
  expect(Object.keys(reasons), what).toContain(body.error?.reason);
  expect(body.error?.reason, what).not.toBe("INTERNAL");
}

/** Records what a successful request may have changed. */
function noteSuccess(method: string, template: string, path: string, text: string): void {
  succeeded.log.push(`${method} ${path.slice(0, 200)} → ${text.slice(0, 200)}`);
  const body = (text.startsWith("{") ? JSON.parse(text) : {}) as Record<string, unknown>;
  const onQueue = path.startsWith(`/v1/queues/${queue}/`);
  const onTopic = path.startsWith(`/v1/topics/${topic}/`);
  if (template.endsWith("/messages") && method === "post") {
    const count = Array.isArray(body.ids)
      ? body.ids.length
      : Array.isArray(body.offsets)
        ? body.offsets.length
        : 1;
    if (onQueue) succeeded.queueMessages += count;
    if (onTopic) succeeded.topicMessages += count;
  }
  if (template.endsWith("/receive") && onQueue) succeeded.leased = true;
  // Names a successful request created (a queue, a topic, an auto-created queue, a user).
  JSON.stringify(body, (_key, value: unknown) => {
    if (typeof value === "string") succeeded.names.add(value);
    return value;
  });
}

const contentTypes = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/jsonx",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "",
);
const authorizations = fc.oneof(
  { weight: 8, arbitrary: fc.constant("token") },
  {
    weight: 1,
    arbitrary: fc.constantFrom("", "Bearer", "Bearer x.y.z", "Basic Zm9vOmJhcg==", "bearer  a b"),
  },
);

describe("fuzz: every REST route answers hostile input with a client error", () => {
  for (const route of routes) {
    it(`${route.method.toUpperCase()} ${route.path}`, async () => {
      const names = () => [queue, topic];
      const bodyKeys = schemaKeys(route.body);
      const body = fc.oneof(
        { weight: 4, arbitrary: fc.constant(null).chain(() => jsonText(bodyKeys)) },
        {
          weight: 4,
          arbitrary:
            route.body === undefined
              ? jsonText(bodyKeys)
              : fc.constant(null).chain(() => nearValidBody(route.body, names())),
        },
        { weight: 1, arbitrary: deepNesting },
        { weight: 1, arbitrary: hostileStrings },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
      );
      const paramNames = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
      // A delete of the fuzz user's own resources would succeed; those routes get only hostile names.
      const segment =
        route.method === "delete"
          ? pathSegment(["no-such-resource"])
          : fc.constant(null).chain(() => pathSegment(names()));
      const request = fc.record({
        params: fc.tuple(...paramNames.map(() => segment)),
        query: queryString(schemaKeys(route.query)),
        body: fc.option(body, { freq: 6 }),
        contentType: contentTypes,
        authorization: authorizations,
      });
      await fc.assert(
        fc.asyncProperty(request, async (input) => {
          let path = route.path;
          paramNames.forEach((name, index) => {
            path = path.replace(`{${name}}`, input.params[index] as string);
          });
          if (input.query !== "") path = `${path}?${input.query}`;
          const headers: Record<string, string> = {};
          if (input.contentType !== "") headers["content-type"] = input.contentType;
          // A route that spends its caller (deletes it, revokes its tokens) gets a throwaway user.
          const callerToken = operationsSpendingCaller.has(route.operationId)
            ? ((await newUser(node.url, "spent")).api.token as string)
            : token;
          if (input.authorization !== "")
            headers.authorization =
              input.authorization === "token" ? `Bearer ${callerToken}` : input.authorization;
          const bytes = input.body === null ? undefined : Buffer.from(input.body);
          // Node's client sends a GET/DELETE body with no length at all, which no server can frame.
          if (bytes !== undefined) headers["content-length"] = String(bytes.length);
          const response = await send(route.method, path, headers, bytes);
          const what = `${route.method} ${path.slice(0, 300)} → ${response.status} ${response.text.slice(0, 300)}`;
          if (response.status >= 200 && response.status < 300) {
            noteSuccess(route.method, route.path, path, response.text);
            return;
          }
          expectClientError(response, what);
        }),
        { numRuns: RUNS_PER_ROUTE, seed: SEED, endOnFailure: true },
      );
      // The node still serves a well-behaved request.
      expect((await alice.get(`/v1/queues/${queue}`)).status).toBe(200);
    });
  }
});

/** The frame as the node parses it, when it is a JSON object. */
function parsedFrame(raw: string | Buffer): Record<string, unknown> | undefined {
  if (typeof raw !== "string") return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The id the node will echo: the frame's own `id`, when the frame is shallow enough to be parsed. */
function echoedId(frame: Record<string, unknown> | undefined, raw: string | Buffer): unknown {
  if (frame === undefined || typeof raw !== "string") return undefined;
  try {
    assertJsonDepth(raw);
  } catch {
    return undefined;
  }
  const { id } = frame;
  return typeof id === "string" || (typeof id === "number" && Number.isInteger(id)) ? id : undefined;
}

/**
 * Sends `raw` and collects what answers it: the reply carrying its id (ok or
 * error, possibly after later frames' replies), else what arrives before a
 * ping sent after it.
 */
let frameCounter = 0;

async function exchange(socket: TestSocket, raw: string | Buffer, binary: boolean): Promise<Frame[]> {
  const seen = socket.frames.length;
  const isNew = (frame: Frame) => socket.frames.indexOf(frame) >= seen;
  socket.sendRaw(raw, binary);
  const ping = `ping-${seen}`;
  socket.send({ op: "ping", id: ping });
  await socket.waitFor((frame) => isNew(frame) && frame.op === "pong" && frame.id === ping);
  const id = echoedId(parsedFrame(raw), raw);
  if (id !== undefined) {
    await socket.waitFor(
      (frame) => isNew(frame) && frame.id === id && ["ok", "error", "pong"].includes(frame.op),
    );
  }
  return socket.frames.slice(seen).filter((frame) => frame.id !== ping);
}

type FuzzFrame = { text: string; withOp: boolean } | { bytes: Uint8Array };

/** Sends generated frames for `opName` on `socket`, one at a time; every answer is a clean one. */
async function fuzzFrames(
  socket: TestSocket,
  opName: string,
  frame: fc.Arbitrary<FuzzFrame>,
  numRuns: number,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(frame, async (input) => {
      const id = `fz-${frameCounter++}`;
      let raw: string | Buffer;
      let binary = false;
      if ("bytes" in input) {
        raw = Buffer.from(input.bytes);
        binary = true;
      } else if (input.withOp && input.text.startsWith("{")) {
        // The op and a tracking id go first; a fuzzed `op`/`id` later in the text overrides them.
        const rest = input.text.slice(1);
        raw = `{"op":${JSON.stringify(opName)},"id":"${id}"${rest === "}" ? "" : ","}${rest}`;
      } else raw = input.text;
      const replies = await exchange(socket, raw, binary);
      const what = `${opName}: ${String(raw).slice(0, 300)} → ${JSON.stringify(replies).slice(0, 500)}`;
      expect(replies.length, what).toBeGreaterThan(0);
      for (const reply of replies) {
        if (reply.op === "error") {
          expect(reply.reason, what).not.toBe("INTERNAL");
          expect(Object.keys(reasons), what).toContain(reply.reason);
        }
        if (reply.op === "ok") {
          const sent = parsedFrame(raw) ?? {};
          const toQueue = "queue" in sent || !("topic" in sent);
          noteSuccess("ws", opName, String(raw), JSON.stringify(reply));
          if (sent.op === "publish" && toQueue && sent.queue === queue) succeeded.queueMessages += 1;
          if (sent.op === "publish" && !toQueue && sent.topic === topic) succeeded.topicMessages += 1;
          if (sent.op === "subscribe" && toQueue && sent.queue === queue) succeeded.leased = true;
        }
      }
    }),
    { numRuns, seed: SEED, endOnFailure: true },
  );
}

describe("fuzz: every WebSocket op answers hostile frames with an error frame", () => {
  let socket: TestSocket;
  let bystander: TestSocket;
  beforeAll(async () => {
    socket = await TestSocket.connect(node.wsUrl, token);
    bystander = await TestSocket.connect(node.wsUrl, token);
  });
  afterAll(async () => {
    await Promise.all([socket?.close(), bystander?.close()]);
  });

  for (const opName of Object.keys(wsOps)) {
    it(`op ${opName}`, async () => {
      const schemas = opSchemas.filter((schema) => schema.properties.op.const === opName);
      const keys = [...new Set(schemas.flatMap((schema) => schemaKeys(schema)))];
      const names = () => [queue, topic];
      // Objects for this op: its own fields with hostile values, or one step from valid.
      const opObject = fc.oneof(
        fc.constant(null).chain(() => jsonText(keys)),
        ...schemas.map((schema) => fc.constant(null).chain(() => nearValidBody(schema, names()))),
      );
      const frame = fc.oneof(
        { weight: 6, arbitrary: opObject.map((text) => ({ text, withOp: true })) },
        { weight: 1, arbitrary: deepNesting.map((text) => ({ text, withOp: false })) },
        { weight: 1, arbitrary: hostileStrings.map((text) => ({ text, withOp: false })) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes })) },
      );
      await fuzzFrames(socket, opName, frame, RUNS_PER_OP);
      // Before authentication only auth and ping are served; everything else must still be a clean refusal.
      const anonymous = await TestSocket.connect(node.wsUrl);
      try {
        await fuzzFrames(anonymous, opName, frame, Math.ceil(RUNS_PER_OP / 4));
        expect(anonymous.ws.readyState).toBe(anonymous.ws.OPEN);
      } finally {
        await anonymous.close();
      }
      // Both sockets stay open and answer; the node still serves REST.
      const pong = `after-${opName}`;
      bystander.send({ op: "ping", id: pong });
      await bystander.waitFor((frame) => frame.op === "pong" && frame.id === pong);
      expect(socket.ws.readyState).toBe(socket.ws.OPEN);
      expect((await alice.get(`/v1/queues/${queue}`)).status).toBe(200);
    });
  }
});

/** What the fuzz found, kept as plain examples: each failed before its fix. */
describe("fuzz findings", () => {
  const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;

  it("answers a payload 10,000 levels deep with 400 VALIDATION_FAILED, not 500 (JSON.stringify overflowed the stack)", async () => {
    for (const path of [`/v1/queues/${queue}/messages`, `/v1/topics/${topic}/messages`]) {
      const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
      const body = Buffer.from(`{"payload":${deep}}`);
      const answer = await send("post", path, { ...headers, "content-length": String(body.length) }, body);
      expectClientError(answer, `${path} → ${answer.status} ${answer.text.slice(0, 200)}`);
      expect(JSON.parse(answer.text)).toMatchObject({
        error: { reason: "VALIDATION_FAILED", details: { problems: [{ path: "/" }] } },
      });
    }
  });

  it("answers a frame whose op is 10,000 levels deep with an error frame and keeps serving (quoting the op crashed the node)", async () => {
    const socket = await TestSocket.connect(node.wsUrl, token);
    try {
      const [error] = await exchange(socket, `{"op":${deep},"id":"deep"}`, false);
      expect(error).toMatchObject({ op: "error", reason: "VALIDATION_FAILED" });
      const long = await socket.request({ op: "x".repeat(100_000), id: "long" });
      expect(long).toMatchObject({ op: "error", reason: "UNKNOWN_OP" });
      expect(String(long.message).length).toBeLessThan(200);
      socket.send({ op: "ping", id: "after" });
      await socket.waitFor((frame) => frame.op === "pong" && frame.id === "after");
    } finally {
      await socket.close();
    }
  });
});

describe("fuzz: refused input changed nothing", () => {
  it("leaves the fuzz user's queue, topic, grants, bindings and listings as successful requests left them", async () => {
    const queueView = (await alice.get<{ depth: number; inFlight: number }>(`/v1/queues/${queue}`)).body;
    const log = succeeded.log.join("\n");
    expect(queueView.depth + queueView.inFlight, log).toBe(1 + succeeded.queueMessages);
    if (!succeeded.leased) expect(queueView.inFlight).toBe(0);
    const topicView = (await alice.get<{ nextOffset: number }>(`/v1/topics/${topic}`)).body;
    expect(topicView.nextOffset, log).toBe(1 + succeeded.topicMessages);
    expect((await alice.get(`/v1/queues/${queue}/grants`)).body).toEqual(stateBefore.queue);
    expect((await alice.get(`/v1/topics/${topic}/grants`)).body).toEqual(stateBefore.topic);
    expect((await alice.get(`/v1/topics/${topic}/subscriptions`)).body).toEqual(stateBefore.bindings);
    const known = new Set([queue, topic, ...succeeded.names]);
    const queues = (await alice.get<{ queues: Array<{ name: string }> }>("/v1/queues")).body.queues;
    expect(queues.map((entry) => entry.name).filter((name) => !known.has(name))).toEqual([]);
    const topics = (await alice.get<{ topics: Array<{ name: string }> }>("/v1/topics")).body.topics;
    expect(topics.map((entry) => entry.name).filter((name) => !known.has(name))).toEqual([]);
    // Keys like `__proto__` polluted no prototype in the node's process (it runs in this one).
    expect(Object.getOwnPropertyNames(Object.prototype)).toEqual(prototypeKeysBefore);
  });
});
