import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { eventually } from "../helpers/eventually.ts";
import { type Frame, TestSocket } from "../helpers/ws-client.ts";

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode();
});
afterAll(async () => {
  await node?.close();
});

const openSockets: TestSocket[] = [];
afterEach(async () => {
  await Promise.all(openSockets.splice(0).map((socket) => socket.close()));
});

async function connect(token: string | undefined): Promise<TestSocket> {
  const socket = await TestSocket.connect(node.wsUrl, token);
  openSockets.push(socket);
  return socket;
}

async function topicFixture(options: Record<string, unknown> = {}) {
  const { api, username } = await newUser(node.url);
  const topic = uniqueName("t");
  const created = await api.post("/v1/topics", { name: topic, ...options });
  expect(created.status).toBe(201);
  return { api, username, topic, token: api.token as string };
}

async function publish(api: Api, topic: string, messages: Array<{ key?: string; payload: unknown }>) {
  const response = await api.post<{ offsets: number[] }>(`/v1/topics/${topic}/messages`, { messages });
  expect(response.status).toBe(201);
  return response.body.offsets;
}

async function subscribe(socket: TestSocket, fields: Record<string, unknown>): Promise<string> {
  const reply = await socket.request({ op: "subscribe", id: uniqueName("s"), ...fields });
  expect(reply).toMatchObject({ op: "ok", sub: expect.any(String) });
  return reply.sub as string;
}

let barrierCount = 0;
/** Once the pong arrives, every frame the node wrote to this socket before it has arrived too. */
async function barrier(socket: TestSocket): Promise<void> {
  const id = `barrier-${barrierCount++}`;
  socket.send({ op: "ping", id });
  await socket.waitFor((frame) => frame.op === "pong" && frame.id === id);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const messageOf = (sub: string) => (frame: Frame) => frame.op === "message" && frame.sub === sub;
const keysOf = (socket: TestSocket, sub: string) => socket.messagesFor(sub).map((frame) => frame.key);

describe("WebSocket topic subscriptions", () => {
  it("delivers live messages by AMQP pattern, several patterns on one socket", async () => {
    const { api, topic, token } = await topicFixture();
    const socket = await connect(token);
    const patterns = ["a.*.c", "a.#", "#", "*.b"];
    const subs = new Map<string, string>();
    for (const pattern of patterns) subs.set(pattern, await subscribe(socket, { topic, pattern }));
    expect(new Set(subs.values()).size).toBe(patterns.length);
    const keys = ["a.b.c", "a.x.c", "a", "a.b", "b", "x.b", "a.b.c.d", "", "a.c", "b.a.c"];
    await publish(
      api,
      topic,
      keys.map((key, i) => ({ key, payload: i })),
    );
    await barrier(socket);
    const sub = (pattern: string) => subs.get(pattern) as string;
    expect(keysOf(socket, sub("a.*.c"))).toEqual(["a.b.c", "a.x.c"]);
    expect(keysOf(socket, sub("a.#"))).toEqual(["a.b.c", "a.x.c", "a", "a.b", "a.b.c.d", "a.c"]);
    expect(keysOf(socket, sub("#"))).toEqual(keys);
    expect(keysOf(socket, sub("*.b"))).toEqual(["a.b", "x.b"]);
    const all = socket.messagesFor(sub("#"));
    expect(all.map((frame) => frame.offset)).toEqual(range(0, keys.length));
    expect(all[0]).toMatchObject({ topic, key: "a.b.c", payload: 0, publishedAt: expect.any(Number) });
    expect(socket.frames.some((frame) => frame.op === "replayed")).toBe(false);
  });

  it("delivers to every socket subscribed with the same pattern", async () => {
    const { api, topic, token } = await topicFixture();
    const sockets = await Promise.all([connect(token), connect(token)]);
    const subs = await Promise.all(sockets.map((socket) => subscribe(socket, { topic, pattern: "x.*" })));
    await publish(api, topic, [
      { key: "x.1", payload: 1 },
      { key: "y.1", payload: 2 },
      { key: "x.2", payload: 3 },
    ]);
    for (const [i, socket] of sockets.entries()) {
      await barrier(socket);
      expect(socket.messagesFor(subs[i] as string).map((frame) => frame.payload)).toEqual([1, 3]);
    }
  });

  it("stops deliveries on unsubscribe, and the same pattern can be subscribed again at once", async () => {
    const { api, topic, token } = await topicFixture();
    const socket = await connect(token);
    const first = await subscribe(socket, { topic, pattern: "a.*" });
    await publish(api, topic, [{ key: "a.1", payload: 1 }]);
    await socket.collect(messageOf(first), 1);
    expect(await socket.request({ op: "unsubscribe", id: "u", sub: first })).toEqual({
      op: "ok",
      id: "u",
      sub: first,
    });
    await publish(api, topic, [{ key: "a.2", payload: 2 }]);
    await barrier(socket);
    expect(socket.messagesFor(first).map((frame) => frame.payload)).toEqual([1]);

    const second = await subscribe(socket, { topic, pattern: "a.*" });
    await publish(api, topic, [{ key: "a.3", payload: 3 }]);
    await barrier(socket);
    const payloads = socket.frames.filter((frame) => frame.op === "message").map((frame) => frame.payload);
    // The group key may be reused for the new subscription; either way 3 arrives exactly once.
    expect(payloads).toEqual([1, 3]);
    expect(socket.messagesFor(second).at(-1)).toMatchObject({ payload: 3, offset: 2 });
  });

  it("refuses the same pattern twice on one socket with SUBSCRIPTION_ID_IN_USE and keeps the first", async () => {
    const { api, topic, token } = await topicFixture();
    const socket = await connect(token);
    const first = await subscribe(socket, { topic, pattern: "a.#" });
    const again = await socket.request({ op: "subscribe", id: "dup", topic, pattern: "a.#" });
    expect(again).toMatchObject({
      op: "error",
      id: "dup",
      code: "already_exists",
      reason: "SUBSCRIPTION_ID_IN_USE",
      details: { sub: first },
    });
    await publish(api, topic, [{ key: "a.b", payload: "once" }]);
    await barrier(socket);
    expect(socket.frames.filter((frame) => frame.op === "message")).toEqual([
      expect.objectContaining({ sub: first, payload: "once" }),
    ]);
  });

  it("replays from an offset then goes live with no gap and no duplicate while a publisher runs", async () => {
    const { api, topic, token } = await topicFixture();
    const total = 2000;
    const batch = 10;
    let published = 0;
    const publisher = (async () => {
      for (let next = 0; next < total; next += batch) {
        const offsets = await publish(
          api,
          topic,
          range(next, next + batch).map((i) => ({ key: `k.${i % 3}`, payload: i })),
        );
        expect(offsets).toEqual(range(next, next + batch));
        published = next + batch;
      }
    })();
    await eventually(() => expect(published).toBeGreaterThanOrEqual(800), { timeoutMs: 20_000 });
    const from = 400;
    const socket = await connect(token);
    const sub = await subscribe(socket, { topic, from });
    const joinedAt = published;
    await publisher;
    await socket.collect(messageOf(sub), total - from, 20_000);
    await barrier(socket);
    const messages = socket.messagesFor(sub);
    expect(messages.map((frame) => frame.offset)).toEqual(range(from, total));
    expect(messages.map((frame) => frame.payload)).toEqual(range(from, total));

    const replayedIndex = socket.frames.findIndex((frame) => frame.op === "replayed");
    const replayed = socket.frames[replayedIndex] as Frame;
    expect(replayed).toMatchObject({ sub, from, complete: true });
    const to = replayed.to as number;
    expect(to).toBeGreaterThanOrEqual(joinedAt);
    // The publisher was still running after the switch, so both halves are exercised.
    expect(to).toBeLessThan(total);
    const before = socket.frames.slice(0, replayedIndex).filter(messageOf(sub));
    const after = socket.frames.slice(replayedIndex + 1).filter(messageOf(sub));
    expect(before.map((frame) => frame.offset)).toEqual(range(from, to));
    expect(after.map((frame) => frame.offset)).toEqual(range(to, total));
  });

  it('replays from "earliest", and from the next offset replays nothing', async () => {
    const { api, topic, token } = await topicFixture();
    await publish(
      api,
      topic,
      range(0, 5).map((i) => ({ payload: i })),
    );
    const socket = await connect(token);
    const earliest = await subscribe(socket, { topic, from: "earliest", pattern: "#" });
    const replayed = await socket.waitFor((frame) => frame.op === "replayed" && frame.sub === earliest);
    expect(replayed).toEqual({ op: "replayed", sub: earliest, from: 0, to: 5, complete: true });
    expect(socket.messagesFor(earliest).map((frame) => frame.payload)).toEqual(range(0, 5));

    const other = await connect(token);
    const atHead = await subscribe(other, { topic, from: 5 });
    const none = await other.waitFor((frame) => frame.op === "replayed" && frame.sub === atHead);
    expect(none).toEqual({ op: "replayed", sub: atHead, from: 5, to: 5, complete: true });
    await publish(api, topic, [{ payload: "live" }]);
    await barrier(other);
    expect(other.messagesFor(atHead)).toEqual([expect.objectContaining({ offset: 5, payload: "live" })]);
  });

  it("refuses an offset beyond the next offset with OFFSET_OUT_OF_RANGE", async () => {
    const { api, topic, token } = await topicFixture();
    await publish(api, topic, [{ payload: 1 }, { payload: 2 }]);
    const socket = await connect(token);
    const reply = await socket.request({ op: "subscribe", id: "far", topic, from: 3 });
    expect(reply).toMatchObject({
      op: "error",
      id: "far",
      code: "invalid_argument",
      reason: "OFFSET_OUT_OF_RANGE",
      details: { nextOffset: 2 },
    });
    // Nothing was left behind: the same socket subscribes normally afterwards.
    const sub = await subscribe(socket, { topic, from: 2 });
    await publish(api, topic, [{ payload: 3 }]);
    await socket.collect(messageOf(sub), 1);
    expect(socket.messagesFor(sub).map((frame) => frame.offset)).toEqual([2]);
  });

  it("reports a retention gap with replayed complete:false", async () => {
    const { api, topic, token } = await topicFixture({ retention: { maxMessages: 5 } });
    await publish(
      api,
      topic,
      range(0, 20).map((i) => ({ payload: i })),
    );
    await eventually(
      async () => {
        const view = await api.get<{ firstOffset: number }>(`/v1/topics/${topic}`);
        expect(view.body.firstOffset).toBe(15);
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const socket = await connect(token);
    const sub = await subscribe(socket, { topic, from: 0 });
    const replayed = await socket.waitFor((frame) => frame.op === "replayed");
    expect(replayed).toEqual({ op: "replayed", sub, from: 0, to: 20, complete: false });
    expect(socket.messagesFor(sub).map((frame) => frame.offset)).toEqual(range(15, 20));
  });

  it("ends subscriptions with ended frames (TOPIC_NOT_FOUND) when the topic is deleted", async () => {
    const { api, topic, token } = await topicFixture();
    const socket = await connect(token);
    const live = await subscribe(socket, { topic, pattern: "#" });
    const other = await subscribe(socket, { topic, pattern: "a.*" });
    expect((await api.delete(`/v1/topics/${topic}`)).status).toBe(204);
    for (const sub of [live, other]) {
      const ended = await socket.waitFor((frame) => frame.op === "ended" && frame.sub === sub);
      expect(ended).toMatchObject({ code: "not_found", reason: "TOPIC_NOT_FOUND" });
    }
    const unsubscribe = await socket.request({ op: "unsubscribe", id: "u", sub: live });
    expect(unsubscribe).toMatchObject({ op: "error", reason: "UNKNOWN_SUBSCRIPTION" });
    // A topic of the same name made afterwards is a new topic: a new subscription to it works.
    await api.post("/v1/topics", { name: topic });
    const fresh = await subscribe(socket, { topic });
    await publish(api, topic, [{ payload: "new" }]);
    await socket.collect(messageOf(fresh), 1);
    expect(socket.messagesFor(fresh)).toEqual([expect.objectContaining({ offset: 0, payload: "new" })]);
  });

  it("answers a private topic without a grant as missing (TOPIC_NOT_FOUND, S7), and accepts it with one", async () => {
    const owner = await topicFixture({ private: true });
    const stranger = await newUser(node.url, "stranger");
    const socket = await connect(stranger.api.token);
    const denied = await socket.request({ op: "subscribe", id: "no", topic: owner.topic });
    expect(denied).toMatchObject({
      op: "error",
      id: "no",
      code: "not_found",
      reason: "TOPIC_NOT_FOUND",
    });
    const replay = await socket.request({ op: "subscribe", id: "no2", topic: owner.topic, from: "earliest" });
    expect(replay).toMatchObject({ op: "error", reason: "TOPIC_NOT_FOUND" });
    const publishDenied = await socket.request({ op: "publish", id: "p", topic: owner.topic, payload: 1 });
    expect(publishDenied).toMatchObject({ op: "error", reason: "TOPIC_NOT_FOUND" });

    const granted = await owner.api.post(`/v1/topics/${owner.topic}/grants`, {
      username: stranger.username,
      permissions: ["consume"],
    });
    expect(granted.status).toBe(200);
    const sub = await subscribe(socket, { topic: owner.topic });
    await publish(owner.api, owner.topic, [{ payload: "for grantees" }]);
    await socket.collect(messageOf(sub), 1);
    expect(socket.messagesFor(sub)[0]).toMatchObject({ offset: 0, payload: "for grantees" });
  });

  it("answers a subscribe with the offset it starts at, so a client can resume before its first message", async () => {
    const { api, topic, token } = await topicFixture();
    await publish(api, topic, [{ payload: 0 }, { payload: 1 }, { payload: 2 }]);
    const socket = await connect(token);
    const latest = await socket.request({ op: "subscribe", id: "latest", topic });
    expect(latest).toMatchObject({ op: "ok", from: 3 });
    const other = await connect(token);
    const earliest = await other.request({ op: "subscribe", id: "earliest", topic, from: "earliest" });
    expect(earliest).toMatchObject({ op: "ok", from: 0 });
    const third = await connect(token);
    expect(await third.request({ op: "subscribe", id: "n", topic, from: 2 })).toMatchObject({
      op: "ok",
      from: 2,
    });
  });
});
