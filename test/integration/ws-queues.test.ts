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

/** A fresh user with a fresh queue; a long ack timeout so redeliveries seen here never come from it. */
async function queueFixture(options: Record<string, unknown> = {}) {
  const { api, username } = await newUser(node.url);
  const queue = uniqueName("q");
  const created = await api.post("/v1/queues", { name: queue, ackTimeoutMs: 60_000, ...options });
  expect(created.status).toBe(201);
  return { api, username, queue, token: api.token as string };
}

async function publish(api: Api, queue: string, payloads: unknown[]): Promise<string[]> {
  const response = await api.post<{ ids: string[] }>(`/v1/queues/${queue}/messages`, {
    messages: payloads.map((payload) => ({ payload })),
  });
  expect(response.status).toBe(201);
  return response.body.ids;
}

async function subscribe(socket: TestSocket, queue: string, prefetch?: number): Promise<string> {
  const frame: Record<string, unknown> & { id: string } = { op: "subscribe", id: uniqueName("sub"), queue };
  if (prefetch !== undefined) frame.prefetch = prefetch;
  const reply = await socket.request(frame);
  expect(reply).toMatchObject({ op: "ok", sub: expect.any(String) });
  return reply.sub as string;
}

let barrierCount = 0;
/** Every frame the server wrote before this call has arrived once the pong is here (one socket is ordered). */
async function barrier(socket: TestSocket): Promise<void> {
  const id = `barrier-${barrierCount++}`;
  socket.send({ op: "ping", id });
  await socket.waitFor((frame) => frame.op === "pong" && frame.id === id);
}

async function queueStats(api: Api, queue: string) {
  const response = await api.get<{ depth: number; inFlight: number; consumers: number }>(
    `/v1/queues/${queue}`,
  );
  expect(response.status).toBe(200);
  return response.body;
}

const messageOf = (sub: string) => (frame: Frame) => frame.op === "message" && frame.sub === sub;

describe("WebSocket queue subscriptions", () => {
  it("never has more than prefetch un-acked deliveries, and acks release more", async () => {
    const { api, queue, token } = await queueFixture();
    const socket = await connect(token);
    const sub = await subscribe(socket, queue, 5);
    let ackedSent = 0;
    let maxUnacked = 0;
    socket.ws.on("message", () => {
      maxUnacked = Math.max(maxUnacked, socket.messagesFor(sub).length - ackedSent);
    });
    const ids = await publish(
      api,
      queue,
      Array.from({ length: 40 }, (_, i) => i),
    );
    await barrier(socket);
    expect(socket.messagesFor(sub)).toHaveLength(5);

    const firstTwo = socket
      .messagesFor(sub)
      .slice(0, 2)
      .map((frame) => frame.id);
    ackedSent += 2;
    expect(await socket.request({ op: "ack", id: "a1", sub, ids: firstTwo })).toEqual({
      op: "ok",
      id: "a1",
      acked: 2,
      stale: [],
    });
    await barrier(socket);
    expect(socket.messagesFor(sub)).toHaveLength(7);

    while (ackedSent < ids.length) {
      const pending = socket
        .messagesFor(sub)
        .slice(ackedSent)
        .map((frame) => frame.id);
      if (pending.length === 0) {
        await socket.collect(messageOf(sub), ackedSent + 1);
        continue;
      }
      ackedSent += pending.length;
      socket.send({ op: "ack", sub, ids: pending });
    }
    await barrier(socket);
    expect(maxUnacked).toBe(5);
    expect(socket.messagesFor(sub).map((frame) => frame.id)).toEqual(ids);
    expect(await queueStats(api, queue)).toMatchObject({ depth: 0, inFlight: 0, consumers: 1 });
  });

  it("delivers to one consumer in publish order, and only after the subscribe ok", async () => {
    const { api, queue, token } = await queueFixture();
    const early = await publish(
      api,
      queue,
      Array.from({ length: 30 }, (_, i) => i),
    );
    const socket = await connect(token);
    const sub = await subscribe(socket, queue, 100);
    const okIndex = socket.frames.findIndex((frame) => frame.op === "ok" && frame.sub === sub);
    const late: string[] = [];
    for (let i = 30; i < 50; i += 1) late.push(...(await publish(api, queue, [i])));
    const messages = await socket.collect(messageOf(sub), 50);
    expect(socket.frames.findIndex(messageOf(sub))).toBeGreaterThan(okIndex);
    expect(messages.map((frame) => frame.payload)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(messages.map((frame) => frame.id)).toEqual([...early, ...late]);
    expect(messages.every((frame) => frame.deliveries === 1 && frame.queue === queue)).toBe(true);
  });

  it("gives competing consumers disjoint sets that together are every message", async () => {
    const { api, queue, token } = await queueFixture();
    const consumers = await Promise.all([connect(token), connect(token), connect(token)]);
    const subs = await Promise.all(consumers.map((socket) => subscribe(socket, queue, 5)));
    consumers.forEach((socket, i) => {
      const sub = subs[i] as string;
      socket.ws.on("message", (data) => {
        const frame = JSON.parse(data.toString()) as Frame;
        if (frame.op === "message" && frame.sub === sub) socket.send({ op: "ack", sub, ids: [frame.id] });
      });
    });
    const ids = await publish(
      api,
      queue,
      Array.from({ length: 300 }, (_, i) => i),
    );
    const received = () => consumers.flatMap((socket, i) => socket.messagesFor(subs[i] as string));
    await eventually(() => expect(received().length).toBeGreaterThanOrEqual(300), { timeoutMs: 10_000 });
    const all = received().map((frame) => frame.id as string);
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual([...ids].sort());
    for (const [i, socket] of consumers.entries()) {
      expect(socket.messagesFor(subs[i] as string).length).toBeGreaterThan(0);
    }
    expect(received().every((frame) => frame.deliveries === 1)).toBe(true);
  });

  it("redelivers a disconnected consumer's in-flight messages to another consumer at once", async () => {
    const { api, queue, token } = await queueFixture();
    const leaving = await connect(token);
    const leavingSub = await subscribe(leaving, queue, 10);
    const ids = await publish(
      api,
      queue,
      Array.from({ length: 10 }, (_, i) => i),
    );
    await leaving.collect(messageOf(leavingSub), 10);
    const staying = await connect(token);
    const stayingSub = await subscribe(staying, queue, 10);
    await barrier(staying);
    expect(staying.messagesFor(stayingSub)).toHaveLength(0);

    const closedAt = Date.now();
    await leaving.close();
    openSockets.splice(openSockets.indexOf(leaving), 1);
    const redelivered = await staying.collect(messageOf(stayingSub), 10, 5000);
    // The queue's ack timeout is 60 s: only the disconnect can have released them.
    expect(Date.now() - closedAt).toBeLessThan(5000);
    expect(redelivered.map((frame) => frame.id)).toEqual(ids);
    expect(redelivered.every((frame) => frame.deliveries === 2)).toBe(true);
  });

  it("redelivers a nacked message after delayMs, not before", async () => {
    const { api, queue, token } = await queueFixture();
    const socket = await connect(token);
    const sub = await subscribe(socket, queue, 10);
    const [id] = await publish(api, queue, ["again"]);
    await socket.collect(messageOf(sub), 1);
    const nackedAt = Date.now();
    const reply = await socket.request({ op: "nack", id: "n", sub, ids: [id], delayMs: 400 });
    expect(reply).toEqual({ op: "ok", id: "n", acked: 1, stale: [] });
    await barrier(socket);
    expect(socket.messagesFor(sub)).toHaveLength(1);
    const [, again] = await socket.collect(messageOf(sub), 2, 5000);
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(380);
    expect(again).toMatchObject({ id, payload: "again", deliveries: 2 });
  });

  it("answers an ack with an id with acked and stale", async () => {
    const { api, queue, token } = await queueFixture();
    const socket = await connect(token);
    const sub = await subscribe(socket, queue, 10);
    const ids = await publish(api, queue, ["a", "b"]);
    await socket.collect(messageOf(sub), 2);
    const first = await socket.request({ op: "ack", id: 7, sub, ids: [ids[0]] });
    expect(first).toEqual({ op: "ok", id: 7, acked: 1, stale: [] });
    const again = await socket.request({ op: "ack", id: 8, sub, ids: [ids[0], "999999"] });
    expect(again).toEqual({ op: "ok", id: 8, acked: 0, stale: [ids[0], "999999"] });
    expect(await queueStats(api, queue)).toMatchObject({ depth: 0, inFlight: 1 });
  });

  it("answers UNKNOWN_SUBSCRIPTION to an ack or nack for a subscription the socket does not hold", async () => {
    const { token } = await queueFixture();
    const socket = await connect(token);
    const withId = await socket.request({ op: "ack", id: "x", sub: "q99", ids: ["1"] });
    expect(withId).toMatchObject({ op: "error", id: "x", sub: "q99", reason: "UNKNOWN_SUBSCRIPTION" });
    socket.send({ op: "nack", sub: "nope", ids: ["1"] });
    const withoutId = await socket.waitFor((frame) => frame.op === "error" && frame.sub === "nope");
    expect(withoutId).toMatchObject({ code: "not_found", reason: "UNKNOWN_SUBSCRIPTION" });
    expect(withoutId.id).toBeUndefined();
  });

  it("publishes over the socket with ok {messageId}, ids increasing in send order", async () => {
    const { api, queue, token } = await queueFixture();
    const socket = await connect(token);
    const count = 500;
    for (let i = 0; i < count; i += 1) socket.send({ op: "publish", id: i, queue, payload: { i } });
    const replies = await socket.collect((frame) => frame.op === "ok" || frame.op === "error", count, 20_000);
    expect(replies.filter((frame) => frame.op === "error")).toEqual([]);
    const idOf = new Map(replies.map((frame) => [frame.id as number, Number(frame.messageId)]));
    const inSendOrder = Array.from({ length: count }, (_, i) => idOf.get(i) as number);
    for (let i = 1; i < count; i += 1) expect(inSendOrder[i]).toBeGreaterThan(inSendOrder[i - 1] as number);
    expect((await queueStats(api, queue)).depth).toBe(count);
    // And the queue delivers them in that order.
    const sub = await subscribe(socket, queue, count);
    const delivered = await socket.collect(messageOf(sub), count);
    expect(delivered.map((frame) => (frame.payload as { i: number }).i)).toEqual(
      Array.from({ length: count }, (_, i) => i),
    );
  });

  it("publishes to a topic over the socket with offsets increasing in send order", async () => {
    const { api } = await newUser(node.url);
    const topic = uniqueName("t");
    expect((await api.post("/v1/topics", { name: topic })).status).toBe(201);
    const socket = await connect(api.token);
    const count = 500;
    for (let i = 0; i < count; i += 1) socket.send({ op: "publish", id: i, topic, payload: i });
    const replies = await socket.collect((frame) => frame.op === "ok" || frame.op === "error", count, 20_000);
    const offsetOf = new Map(replies.map((frame) => [frame.id as number, frame.offset as number]));
    expect(Array.from({ length: count }, (_, i) => offsetOf.get(i))).toEqual(
      Array.from({ length: count }, (_, i) => i),
    );
  });

  it("unsubscribes with ok and returns un-acked messages to the queue", async () => {
    const { api, queue, token } = await queueFixture();
    const socket = await connect(token);
    const sub = await subscribe(socket, queue, 3);
    const ids = await publish(api, queue, [0, 1, 2, 3, 4]);
    await socket.collect(messageOf(sub), 3);
    expect(await socket.request({ op: "unsubscribe", id: "u", sub })).toEqual({ op: "ok", id: "u", sub });
    expect(await queueStats(api, queue)).toMatchObject({ depth: 5, inFlight: 0, consumers: 0 });
    await publish(api, queue, [5]);
    await barrier(socket);
    expect(socket.messagesFor(sub)).toHaveLength(3);
    const stale = await socket.request({ op: "ack", id: "late", sub, ids: [ids[0]] });
    expect(stale).toMatchObject({ op: "error", reason: "UNKNOWN_SUBSCRIPTION" });

    const next = await subscribe(socket, queue, 10);
    const again = await socket.collect(messageOf(next), 6);
    expect(again.map((frame) => frame.payload)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(again.map((frame) => frame.deliveries)).toEqual([2, 2, 2, 1, 1, 1]);
  });

  it("ends the subscription with an ended frame (QUEUE_NOT_FOUND) when the queue is deleted", async () => {
    const { api, queue, token } = await queueFixture();
    const socket = await connect(token);
    const sub = await subscribe(socket, queue, 10);
    await publish(api, queue, ["in flight"]);
    await socket.collect(messageOf(sub), 1);
    expect((await api.delete(`/v1/queues/${queue}`)).status).toBe(204);
    const ended = await socket.waitFor((frame) => frame.op === "ended" && frame.sub === sub);
    expect(ended).toMatchObject({ code: "not_found", reason: "QUEUE_NOT_FOUND" });
    const ack = await socket.request({ op: "ack", id: "gone", sub, ids: ["1"] });
    expect(ack).toMatchObject({ op: "error", reason: "UNKNOWN_SUBSCRIPTION" });
    await barrier(socket);
    const resubscribe = await socket.request({ op: "subscribe", id: "re", queue });
    expect(resubscribe).toMatchObject({ op: "error", reason: "QUEUE_NOT_FOUND" });
  });
});
