import type { Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { eventually } from "../helpers/eventually.ts";
import { type Frame, TestSocket } from "../helpers/ws-client.ts";

const SLOW_CONSUMER_BUFFER_BYTES = 256 * 1024;
/** A payload must fit the slow-consumer buffer (config cross-check). */
const MAX_PAYLOAD_BYTES = 64 * 1024;
const PAYLOAD = "p".repeat(60_000);
const MESSAGES_PER_PUBLISH = 4;
/** Far more than the kernel's socket buffers plus the limit; the publisher stops long before. */
const MAX_PUBLISHES = 400;

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode({
    env: {
      AVISO_SLOW_CONSUMER_BUFFER_BYTES: String(SLOW_CONSUMER_BUFFER_BYTES),
      AVISO_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES),
      AVISO_SLOW_CONSUMER_STALL_MS: "1000",
    },
  });
});
afterAll(async () => {
  await node?.close();
});

const openSockets: TestSocket[] = [];
afterEach(async () => {
  for (const socket of openSockets.splice(0)) {
    tcpOf(socket).resume();
    socket.ws.terminate();
    await socket.closed;
  }
});

async function connect(token: string | undefined): Promise<TestSocket> {
  const socket = await TestSocket.connect(node.wsUrl, token);
  openSockets.push(socket);
  return socket;
}

function tcpOf(socket: TestSocket): Socket {
  return (socket.ws as unknown as { _socket: Socket })._socket;
}

async function wsConnections(api: Api): Promise<number> {
  const metrics = await api.get("/metrics");
  const match = /^aviso_ws_connections(?:\{[^}]*\})? (\d+)/m.exec(String(metrics.body));
  expect(match).not.toBeNull();
  return Number(match?.[1]);
}

/** Publishes batches of large messages in the background until stopped (or MAX_PUBLISHES). */
function startPublisher(publishOnce: () => Promise<void>) {
  let stopped = false;
  let publishes = 0;
  const running = (async () => {
    while (!stopped && publishes < MAX_PUBLISHES) {
      await publishOnce();
      publishes += 1;
    }
  })();
  return {
    get messages() {
      return publishes * MESSAGES_PER_PUBLISH;
    },
    async stop(): Promise<number> {
      stopped = true;
      await running;
      return publishes * MESSAGES_PER_PUBLISH;
    },
  };
}

const messageOf = (sub: string) => (frame: Frame) => frame.op === "message" && frame.sub === sub;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("slow consumers", () => {
  it("closes a topic subscriber that stops reading with 4008 while a healthy one gets everything", async () => {
    const { api } = await newUser(node.url);
    const topic = uniqueName("t");
    expect((await api.post("/v1/topics", { name: topic })).status).toBe(201);
    const slow = await connect(api.token);
    const healthy = await connect(api.token);
    const slowSub = (await slow.request({ op: "subscribe", id: 1, topic })).sub as string;
    const healthySub = (await healthy.request({ op: "subscribe", id: 1, topic })).sub as string;
    expect(await wsConnections(api)).toBe(2);
    tcpOf(slow).pause();

    const publisher = startPublisher(async () => {
      const response = await api.post(`/v1/topics/${topic}/messages`, {
        messages: range(0, MESSAGES_PER_PUBLISH).map(() => ({ payload: PAYLOAD })),
      });
      expect(response.status).toBe(201);
    });
    // The node closes the slow socket on its side first; the client learns it once it reads again.
    await eventually(async () => expect(await wsConnections(api)).toBe(1), {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    const total = await publisher.stop();
    expect(total).toBeLessThan(MAX_PUBLISHES * MESSAGES_PER_PUBLISH);

    const received = await healthy.collect(messageOf(healthySub), total, 20_000);
    expect(received.map((frame) => frame.offset)).toEqual(range(0, total));
    expect(healthy.frames.filter((frame) => frame.op === "error")).toEqual([]);

    tcpOf(slow).resume();
    const closed = await slow.closed;
    expect(closed).toEqual({ code: 4008, reason: "SLOW_CONSUMER" });
    // What it did get before the close is the start of the topic, in order, without holes.
    const slowOffsets = slow.messagesFor(slowSub).map((frame) => frame.offset as number);
    expect(slowOffsets).toEqual(range(0, slowOffsets.length));
    expect(slowOffsets.length).toBeLessThan(total);
  });

  it("closes a queue consumer that stops reading with 4008 and gives its un-acked messages to another", async () => {
    const { api } = await newUser(node.url);
    const queue = uniqueName("q");
    expect((await api.post("/v1/queues", { name: queue, ackTimeoutMs: 600_000 })).status).toBe(201);
    const slow = await connect(api.token);
    const healthy = await connect(api.token);
    const slowSub = (await slow.request({ op: "subscribe", id: 1, queue, prefetch: 1000 })).sub as string;
    // A small prefetch keeps the healthy consumer's own backlog far below the limit: it shares this
    // process's event loop with the node, so it cannot read while the node is writing.
    const healthySub = (await healthy.request({ op: "subscribe", id: 1, queue, prefetch: 2 })).sub as string;
    healthy.ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame.op === "message" && frame.sub === healthySub)
        healthy.send({ op: "ack", sub: healthySub, ids: [frame.id] });
    });
    tcpOf(slow).pause();

    const published: string[] = [];
    const publisher = startPublisher(async () => {
      const response = await api.post<{ ids: string[] }>(`/v1/queues/${queue}/messages`, {
        messages: range(0, MESSAGES_PER_PUBLISH).map(() => ({ payload: PAYLOAD })),
      });
      expect(response.status).toBe(201);
      published.push(...response.body.ids);
    });
    await eventually(
      async () => {
        const view = await api.get<{ consumers: number }>(`/v1/queues/${queue}`);
        expect(view.body.consumers).toBe(1);
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    const total = await publisher.stop();
    expect(published).toHaveLength(total);

    // Everything reaches the healthy consumer: what the slow one held comes back at once.
    await eventually(
      () => expect(new Set(healthy.messagesFor(healthySub).map((frame) => frame.id)).size).toBe(total),
      { timeoutMs: 20_000 },
    );
    const healthyIds = healthy.messagesFor(healthySub).map((frame) => frame.id as string);
    expect(healthyIds).toHaveLength(total);
    expect([...healthyIds].sort()).toEqual([...published].sort());
    await eventually(async () => {
      const view = await api.get<{ depth: number; inFlight: number }>(`/v1/queues/${queue}`);
      expect(view.body).toMatchObject({ depth: 0, inFlight: 0 });
    });

    tcpOf(slow).resume();
    expect(await slow.closed).toEqual({ code: 4008, reason: "SLOW_CONSUMER" });
    const heldBySlow = slow.messagesFor(slowSub).map((frame) => frame.id as string);
    expect(heldBySlow.length).toBeGreaterThan(0);
    const redelivered = new Map(
      healthy.messagesFor(healthySub).map((frame) => [frame.id as string, frame.deliveries as number]),
    );
    for (const id of heldBySlow) expect(redelivered.get(id)).toBe(2);
  });

  // KNOWN BUGS (reported, design fix pending) in the next two tests: the node writes a whole burst
  // (up to `prefetch` queue deliveries, or a 500-message replay page) in one corked write and judges
  // the socket right after it, so a backlog larger than slowConsumerBufferBytes closes a client that
  // reads promptly, and every reconnect repeats it. Pushing must wait for the socket to drain instead.
  it("does not close a queue consumer that keeps up when a backlog larger than the buffer limit is pushed", async () => {
    const { api } = await newUser(node.url);
    const queue = uniqueName("q");
    expect((await api.post("/v1/queues", { name: queue })).status).toBe(201);
    const backlog = 100;
    for (let i = 0; i < backlog / 10; i += 1) {
      const response = await api.post(`/v1/queues/${queue}/messages`, {
        messages: range(0, 10).map(() => ({ payload: PAYLOAD })),
      });
      expect(response.status).toBe(201);
    }
    const consumer = await connect(api.token);
    let ackedThrough = 0;
    consumer.ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame.op !== "message") return;
      ackedThrough += 1;
      consumer.send({ op: "ack", sub: frame.sub as string, ids: [frame.id] });
    });
    const closedEarly = consumer.closed.then(({ code, reason }) => {
      throw new Error(`the consumer was closed with ${code} ${reason}`);
    });
    const sub = (await consumer.request({ op: "subscribe", id: 1, queue, prefetch: backlog })).sub as string;
    await Promise.race([
      closedEarly,
      (async () => {
        await consumer.collect(messageOf(sub), backlog, 20_000);
        expect(ackedThrough).toBe(backlog);
        await eventually(async () => {
          const view = await api.get<{ depth: number; inFlight: number; consumers: number }>(
            `/v1/queues/${queue}`,
          );
          expect(view.body).toMatchObject({ depth: 0, inFlight: 0, consumers: 1 });
        });
        consumer.send({ op: "ping", id: "alive" });
        await consumer.waitFor((frame) => frame.op === "pong" && frame.id === "alive");
      })(),
    ]);
  });

  it("does not close a topic subscriber that keeps up while it replays more history than the buffer limit", async () => {
    const { api } = await newUser(node.url);
    const topic = uniqueName("t");
    expect((await api.post("/v1/topics", { name: topic })).status).toBe(201);
    const history = 100;
    for (let i = 0; i < history / 10; i += 1) {
      const response = await api.post(`/v1/topics/${topic}/messages`, {
        messages: range(0, 10).map(() => ({ payload: PAYLOAD })),
      });
      expect(response.status).toBe(201);
    }
    const subscriber = await connect(api.token);
    const closedEarly = subscriber.closed.then(({ code, reason }) => {
      throw new Error(`the subscriber was closed with ${code} ${reason}`);
    });
    const sub = (await subscriber.request({ op: "subscribe", id: 1, topic, from: 0 })).sub as string;
    await Promise.race([
      closedEarly,
      (async () => {
        const replayed = await subscriber.waitFor((frame) => frame.op === "replayed", 20_000);
        expect(replayed).toEqual({ op: "replayed", sub, from: 0, to: history, complete: true });
        expect(subscriber.messagesFor(sub).map((frame) => frame.offset)).toEqual(range(0, history));
        subscriber.send({ op: "ping", id: "alive" });
        await subscriber.waitFor((frame) => frame.op === "pong" && frame.id === "alive");
      })(),
    ]);
  });
});
