import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { createTestDatabase } from "../helpers/mariadb.ts";
import { TestSocket } from "../helpers/ws-client.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, store: await createTestDatabase("cluster_routing") });
});
afterAll(async () => {
  await cluster?.stop();
});

describe("a 3-node cluster", () => {
  it("lists every member on every node", async () => {
    const { api } = await newUser(cluster.node(0).url);
    for (let i = 0; i < 3; i += 1) {
      const view = await new Api(cluster.node(i).url, api.token).get<{ mode: string; members: unknown[] }>(
        "/v1/cluster",
      );
      expect(view.status).toBe(200);
      expect(view.body.mode).toBe("cluster");
      expect(view.body.members).toHaveLength(3);
    }
  });

  it("serves a queue through any node: publish on one, receive on another, ack on a third", async () => {
    const { api } = await newUser(cluster.node(0).url);
    const on = (i: number) => new Api(cluster.node(i).url, api.token);
    const queue = uniqueName("q");
    expect((await on(1).post("/v1/queues", { name: queue })).status).toBe(201);
    const published = await on(2).post<{ ids: string[] }>(`/v1/queues/${queue}/messages`, {
      messages: [{ payload: 1 }, { payload: 2 }, { payload: 3 }],
    });
    expect(published.status).toBe(201);
    const received = await on(0).post<{ messages: Array<{ payload: number; receipt: string }> }>(
      `/v1/queues/${queue}/receive`,
      { max: 10 },
    );
    expect(received.body.messages.map((m) => m.payload)).toEqual([1, 2, 3]);
    const acked = await on(1).post(`/v1/queues/${queue}/ack`, {
      receipts: received.body.messages.map((m) => m.receipt),
    });
    expect(acked.body).toEqual({ acked: 3, stale: [] });
    for (let i = 0; i < 3; i += 1) {
      const view = await on(i).get<{ depth: number; inFlight: number }>(`/v1/queues/${queue}`);
      expect(view.body).toMatchObject({ depth: 0, inFlight: 0 });
    }
  });

  it("delivers a topic published on node 1 to a subscriber on node 3 in order", async () => {
    const { api } = await newUser(cluster.node(0).url);
    const topic = uniqueName("t");
    expect((await new Api(cluster.node(0).url, api.token).post("/v1/topics", { name: topic })).status).toBe(
      201,
    );
    const socket = await TestSocket.connect(cluster.node(2).wsUrl, api.token);
    const ok = await socket.request({ op: "subscribe", id: 1, topic, pattern: "orders.#" });
    expect(ok.op).toBe("ok");
    const publisher = new Api(cluster.node(1).url, api.token);
    for (let i = 0; i < 50; i += 1) {
      const sent = await publisher.post(`/v1/topics/${topic}/messages`, { payload: i, key: "orders.eu" });
      expect(sent.status).toBe(201);
    }
    const frames = await socket.collect((frame) => frame.op === "message", 50);
    expect(frames.map((frame) => frame.payload)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(frames.map((frame) => frame.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    await socket.close();
  });

  it("pushes a queue owned elsewhere to a WebSocket consumer, with acks travelling back", async () => {
    const { api } = await newUser(cluster.node(0).url);
    const queue = uniqueName("q");
    await new Api(cluster.node(0).url, api.token).post("/v1/queues", { name: queue });
    const sockets = await Promise.all(
      [0, 1, 2].map((i) => TestSocket.connect(cluster.node(i).wsUrl, api.token)),
    );
    for (const socket of sockets) {
      expect((await socket.request({ op: "subscribe", id: 1, queue, prefetch: 5 })).op).toBe("ok");
    }
    for (const [i, socket] of sockets.entries()) {
      socket.ws.on("message", (data) => {
        const frame = JSON.parse(data.toString()) as { op: string; sub: string; id: string };
        if (frame.op === "message") socket.send({ op: "ack", sub: frame.sub, ids: [frame.id] });
      });
      void i;
    }
    const publisher = new Api(cluster.node(2).url, api.token);
    const total = 90;
    const sent = await publisher.post<{ ids: string[] }>(`/v1/queues/${queue}/messages`, {
      messages: Array.from({ length: total }, (_, i) => ({ payload: i })),
    });
    expect(sent.status).toBe(201);
    const deadline = Date.now() + 20_000;
    let seen: string[] = [];
    while (Date.now() < deadline) {
      seen = sockets.flatMap((socket) =>
        socket.frames.filter((f) => f.op === "message").map((f) => f.id as string),
      );
      if (seen.length >= total) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(new Set(seen)).toEqual(new Set(sent.body.ids));
    await Promise.all(sockets.map((socket) => socket.close()));
  });
});
