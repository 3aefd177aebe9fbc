import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ConsumerSink, Delivery } from "../../src/broker/queue/queue-ports.ts";
import type { TopicMessage } from "../../src/broker/types.ts";
import {
  createPeerClient,
  type PeerClient,
  type PeerClientOptions,
} from "../../src/cluster/peer/peer-client.ts";
import { type RunningPeerServer, startPeerServer } from "../../src/cluster/peer/peer-server.ts";
import type { PeerEvent } from "../../src/cluster/peer/peer-types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  expectReason,
  json,
  type Latch,
  latch,
  newQueue,
  newTopic,
  type PeerServingNode,
  queueInput,
  SECRET,
  startPeerServingNode,
  topicInput,
} from "../helpers/peer-serving-node.ts";

/**
 * The peer link end to end: a real peer server over REAL engines (EngineHost +
 * local serving nodes on SQLite), reached through createPeerClient and through a
 * stock @grpc/grpc-js client built from the .proto (wire compatibility).
 */

const PROTO = new URL("../../proto/aviso/peer/v1/peer.proto", import.meta.url).pathname;

/** A ConsumerSink that records what it gets. */
function recordingSink(): ConsumerSink & { deliveries: Delivery[]; closedWith: Latch<AvisoError> } {
  const closedWith = latch<AvisoError>();
  const deliveries: Delivery[] = [];
  return {
    deliveries,
    closedWith,
    deliver: (batch) => deliveries.push(...batch),
    closed: closedWith.resolve,
  };
}

/** A TCP relay whose connections can be cut, to break a link without the server's cooperation. */
async function startRelay(
  targetPort: number,
): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, "127.0.0.1");
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const cut = () => {
    for (const socket of sockets) socket.resetAndDestroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    cut,
    close: () => {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe("peer rpc (grpc-js server and client over real engines)", () => {
  let node: PeerServingNode;
  let server: RunningPeerServer;
  let peer: PeerClient;
  const extraClients: PeerClient[] = [];
  const clientFor = (options: Partial<PeerClientOptions> = {}) => {
    const client = createPeerClient({
      peerUrl: `127.0.0.1:${server.port}`,
      clusterSecret: SECRET,
      ...options,
    });
    extraClients.push(client);
    return client;
  };

  beforeAll(async () => {
    node = await startPeerServingNode();
    server = await startPeerServer({
      host: "127.0.0.1",
      port: 0,
      clusterSecret: SECRET,
      handler: {
        servingNodes: node.servingNodes,
        notify: async (event) => {
          node.notices.push(event);
        },
      },
    });
    peer = createPeerClient({ peerUrl: `127.0.0.1:${server.port}`, clusterSecret: SECRET });
  });
  afterEach(() => {
    for (const client of extraClients.splice(0)) client.close();
  });
  afterAll(async () => {
    peer?.close();
    await server?.close();
    await node?.close();
  });

  describe("publish", () => {
    it("answers every publish of a tick with its ids and offsets, in order per destination", async () => {
      const queue = await newQueue(node);
      const topic = await newTopic(node);
      const queueCalls = Array.from({ length: 40 }, (_, i) => peer.queues.publish(queue, [queueInput(i)]));
      const topicCalls = Array.from({ length: 40 }, (_, i) =>
        peer.topics.publish(topic, [topicInput(2 * i), topicInput(2 * i + 1)]),
      );
      const ids = await Promise.all(queueCalls);
      const offsets = await Promise.all(topicCalls);
      expect(ids.flat().map(Number)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(offsets).toEqual(Array.from({ length: 40 }, (_, i) => [2 * i, 2 * i + 1]));
      expect(await peer.topics.head(topic)).toEqual({ nextOffset: 80, firstOffset: 0 });
      const feed = await peer.topics.feed(topic);
      const [first] = await feed.read(3, 1);
      expect(first).toMatchObject({
        offset: 3,
        key: "a.b",
        payload: json({ n: 3 }),
        headers: json({ h: "3" }),
      });
      feed.close();
    });

    it("keeps per-destination order when batches of later ticks go while earlier ones are in flight", async () => {
      const queue = await newQueue(node);
      const calls: Array<Promise<string[]>> = [];
      for (let tick = 0; tick < 60; tick++) {
        for (let j = 0; j < 3; j++) calls.push(peer.queues.publish(queue, [queueInput(tick * 3 + j)]));
        // The next publishes start a new batch before this one is answered.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const ids = (await Promise.all(calls)).flat().map(Number);
      expect(ids).toEqual(Array.from({ length: 180 }, (_, i) => i + 1));
      const received = await node.servingNodes.queues.receive(queue, {
        max: 180,
        waitMs: 0,
        ackTimeoutMs: 30_000,
      });
      expect(received.map((delivery) => JSON.parse(delivery.payload))).toEqual(
        Array.from({ length: 180 }, (_, i) => ({ n: i })),
      );
    });

    it("fails a batch the serving node never answers after the call timeout, and keeps serving later batches", async () => {
      const client = clientFor({ callTimeoutMs: 300 });
      const queue = await newQueue(node);
      const hung = client.queues.publish("hung-1", [queueInput(1)]);
      await expectReason(hung, "OWNER_UNAVAILABLE");
      expect(await client.queues.publish(queue, [queueInput(2)])).toEqual(["1"]);
    });

    it("gives every unanswered batch its own full deadline, however many are in flight", async () => {
      const client = clientFor({ callTimeoutMs: 300 });
      const failedAfter = async (queue: string): Promise<number> => {
        const sent = performance.now();
        await expectReason(client.queues.publish(queue, [queueInput(1)]), "OWNER_UNAVAILABLE");
        return performance.now() - sent;
      };
      const first = failedAfter("hung-1");
      await new Promise((resolve) => setTimeout(resolve, 150));
      const second = failedAfter("hung-2");
      // Timers fire no earlier than asked (allow 1 ms of clock rounding); the second must not share the first's.
      expect(await first).toBeGreaterThanOrEqual(299);
      expect(await second).toBeGreaterThanOrEqual(299);
    });

    it("keeps each entry's outcome apart: one failing destination does not fail the others", async () => {
      const queue = await newQueue(node);
      const results = await Promise.allSettled([
        peer.queues.publish(queue, [queueInput(1)]),
        peer.queues.publish("no-such-queue", [queueInput(2)]),
        peer.queues.publish("private-payroll", [queueInput(3)]),
        peer.topics.publish("no-such-topic", [topicInput(4)]),
      ]);
      expect(results[0]).toEqual({ status: "fulfilled", value: ["1"] });
      const reasons = results
        .slice(1)
        .map((r) => (r.status === "rejected" ? (r.reason as AvisoError).reason : ""));
      expect(reasons).toEqual(["QUEUE_NOT_FOUND", "ACCESS_DENIED", "TOPIC_NOT_FOUND"]);
    });

    it("honours idempotency keys across the link", async () => {
      const queue = await newQueue(node);
      const input = { ...queueInput(1), idempotencyKey: "k-1" };
      const [first, again] = await Promise.all([
        peer.queues.publish(queue, [input]),
        peer.queues.publish(queue, [input]),
      ]);
      expect(again).toEqual(first);
      expect(await peer.queues.stats(queue)).toMatchObject({ depth: 1 });
    });
  });

  describe("pull", () => {
    it("receives, acks and nacks by receipt, reporting stale receipts", async () => {
      const queue = await newQueue(node);
      await peer.queues.publish(queue, [queueInput(1), queueInput(2), queueInput(3)]);
      const leased = await peer.queues.receive(queue, { max: 2, waitMs: 0, ackTimeoutMs: undefined });
      expect(leased.map((d) => [d.id, d.payload, d.deliveries])).toEqual([
        ["1", json({ n: 1 }), 1],
        ["2", json({ n: 2 }), 1],
      ]);
      const [one, two] = leased as [Delivery, Delivery];
      expect(await peer.queues.ack(queue, [one.receipt])).toEqual({ acked: 1, stale: [] });
      expect(await peer.queues.nack(queue, [two.receipt], 0)).toEqual({ acked: 1, stale: [] });
      expect(await peer.queues.ack(queue, [one.receipt])).toEqual({ acked: 0, stale: [one.receipt] });
      const again = await peer.queues.receive(queue, { max: 5, waitMs: 0, ackTimeoutMs: 5000 });
      expect(again.map((d) => [d.id, d.deliveries])).toEqual([
        ["2", 2],
        ["3", 1],
      ]);
      await expectReason(peer.queues.ack(queue, ["not-a-receipt"]), "INVALID_RECEIPT");
    });

    it("long-polls until a message arrives", async () => {
      const queue = await newQueue(node);
      const waiting = peer.queues.receive(queue, { max: 1, waitMs: 10_000, ackTimeoutMs: undefined });
      await peer.queues.publish(queue, [queueInput(7)]);
      const [delivery] = await waiting;
      expect(delivery?.payload).toBe(json({ n: 7 }));
    });

    it("stops the serving node's wait when the caller gives up, leaving later messages to others", async () => {
      const queue = await newQueue(node);
      node.receiveStarted = latch();
      node.receiveAborted = latch();
      const abort = new AbortController();
      const waiting = peer.queues.receive(
        queue,
        { max: 1, waitMs: 30_000, ackTimeoutMs: undefined },
        abort.signal,
      );
      await node.receiveStarted.promise;
      abort.abort();
      expect(await waiting).toEqual([]);
      await node.receiveAborted.promise;
      await peer.queues.publish(queue, [queueInput(1)]);
      const [delivery] = await peer.queues.receive(queue, { max: 1, waitMs: 0, ackTimeoutMs: undefined });
      expect(delivery).toMatchObject({ id: "1", deliveries: 1 });
    });

    it("reports live stats, and none for a queue the serving node has not loaded", async () => {
      const queue = await newQueue(node);
      expect(await peer.queues.stats(queue)).toBeUndefined();
      await peer.queues.publish(queue, [queueInput(1), queueInput(2)]);
      expect(await peer.queues.stats(queue)).toEqual({
        depth: 2,
        ready: 2,
        delayed: 0,
        inFlight: 0,
        consumers: 0,
      });
    });
  });

  describe("push consumers (Consume stream)", () => {
    it("never has more than prefetch un-acked, and answers acks with the settled result", async () => {
      const queue = await newQueue(node);
      await peer.queues.publish(
        queue,
        Array.from({ length: 10 }, (_, i) => queueInput(i)),
      );
      const sink = recordingSink();
      const consumer = await peer.queues.consume(queue, sink, 3);
      expect(consumer.prefetch).toBe(3);
      await eventually(() => expect(sink.deliveries.map((d) => d.id)).toEqual(["1", "2", "3"]));
      expect(await peer.queues.stats(queue)).toMatchObject({ inFlight: 3, ready: 7, consumers: 1 });
      expect(await consumer.ack(["1", "2"])).toEqual({ acked: 2, stale: [] });
      await eventually(() => expect(sink.deliveries.map((d) => d.id)).toEqual(["1", "2", "3", "4", "5"]));
      expect(await consumer.ack(["1", "99"])).toEqual({ acked: 0, stale: ["1", "99"] });
      expect(await consumer.nack(["3"], 0)).toEqual({ acked: 1, stale: [] });
      await eventually(() => expect(sink.deliveries.at(-1)).toMatchObject({ id: "3", deliveries: 2 }));
      expect(await peer.queues.stats(queue)).toMatchObject({ inFlight: 3, consumers: 1 });
      consumer.close();
    });

    it("puts un-acked messages back at once when the consumer closes its stream", async () => {
      const queue = await newQueue(node);
      await peer.queues.publish(queue, [queueInput(1), queueInput(2)]);
      const sink = recordingSink();
      const consumer = await peer.queues.consume(queue, sink, 2);
      await eventually(() => expect(sink.deliveries).toHaveLength(2));
      const acked = consumer.ack(["1"]);
      consumer.close();
      expect(await acked).toEqual({ acked: 1, stale: [] });
      expect(await consumer.ack(["2"])).toEqual({ acked: 0, stale: ["2"] });
      await eventually(async () =>
        expect(await peer.queues.stats(queue)).toMatchObject({ inFlight: 0, consumers: 0 }),
      );
      const back = await peer.queues.receive(queue, { max: 5, waitMs: 0, ackTimeoutMs: undefined });
      expect(back.map((d) => [d.id, d.deliveries])).toEqual([["2", 2]]);
    });

    it("closes the consumer on the serving node when the link breaks, and tells the sink OWNER_UNAVAILABLE", async () => {
      const queue = await newQueue(node);
      await peer.queues.publish(queue, [queueInput(1), queueInput(2)]);
      const relay = await startRelay(server.port);
      try {
        const viaRelay = clientFor({ peerUrl: `127.0.0.1:${relay.port}` });
        const sink = recordingSink();
        const consumer = await viaRelay.queues.consume(queue, sink, 5);
        await eventually(() => expect(sink.deliveries).toHaveLength(2));
        relay.cut();
        expect((await sink.closedWith.promise).reason).toBe("OWNER_UNAVAILABLE");
        await expectReason(consumer.ack(["1"]), "OWNER_UNAVAILABLE");
        await eventually(async () =>
          expect(await peer.queues.stats(queue)).toMatchObject({ inFlight: 0, ready: 2 }),
        );
      } finally {
        await relay.close();
      }
    });

    it("passes the serving node's reason to the sink when the serving node stops serving the queue", async () => {
      const queue = await newQueue(node);
      const sink = recordingSink();
      await peer.queues.consume(queue, sink, 1);
      node.servingNodes.release("queue", queue, new AvisoError("QUEUE_NOT_FOUND", "deleted"));
      const reason = await sink.closedWith.promise;
      expect([reason.reason, reason.message]).toEqual(["QUEUE_NOT_FOUND", "deleted"]);
    });

    it("refuses to start on a queue that does not exist", async () => {
      await expectReason(peer.queues.consume("no-such-queue", recordingSink(), 1), "QUEUE_NOT_FOUND");
    });
  });

  describe("topic feeds (Feed stream)", () => {
    it("streams history from an offset then live, contiguous, while publishes keep coming", async () => {
      const topic = await newTopic(node);
      for (let page = 0; page < 6; page++) {
        await node.servingNodes.topics.publish(
          topic,
          Array.from({ length: 500 }, (_, i) => topicInput(page * 500 + i)),
        );
      }
      // Commits keep landing while the serving node reads and sends history, so some
      // fall between its head and the live stream: none may be lost or doubled.
      let publishing = true;
      const publisher = (async () => {
        for (let i = 0; publishing && i < 400; i++) {
          await Promise.all([1, 2, 3].map((j) => node.servingNodes.topics.publish(topic, [topicInput(-j)])));
        }
      })();
      const seen: number[] = [];
      const feed = await peer.topics.feed(topic, 7);
      feed.onCommitted((messages: readonly TopicMessage[]) => seen.push(...messages.map((m) => m.offset)));
      expect(feed.firstOffset()).toBe(0);
      await eventually(() => expect(seen.length).toBeGreaterThan(3000), { timeoutMs: 30_000 });
      publishing = false;
      await publisher;
      const head = (await node.servingNodes.topics.head(topic)).nextOffset;
      expect(head).toBeGreaterThan(3000);
      await eventually(() => expect(feed.nextOffset()).toBe(head), { timeoutMs: 20_000 });
      expect(seen).toEqual(Array.from({ length: head - 7 }, (_, i) => 7 + i));
      const live = latch<readonly TopicMessage[]>();
      feed.onCommitted(live.resolve);
      await peer.topics.publish(topic, [topicInput(-9)]);
      expect((await live.promise).map((m) => [m.offset, m.payload])).toEqual([[head, json({ n: -9 })]]);
      feed.close();
    });

    it("starts live at the serving node's head without an offset", async () => {
      const topic = await newTopic(node);
      await peer.topics.publish(topic, [topicInput(1), topicInput(2)]);
      const feed = await peer.topics.feed(topic);
      expect([feed.firstOffset(), feed.nextOffset()]).toEqual([0, 2]);
      const batch = latch<readonly TopicMessage[]>();
      feed.onCommitted(batch.resolve);
      await peer.topics.publish(topic, [topicInput(3)]);
      expect((await batch.promise).map((m) => m.offset)).toEqual([2]);
      expect((await feed.read(0, 10)).map((m) => m.offset)).toEqual([0, 1, 2]);
      feed.close();
    });

    it("follows the serving node's firstOffset as retention trims the log", async () => {
      const topic = await newTopic(node, { maxAgeMs: null, maxMessages: 5 });
      const feed = await peer.topics.feed(topic);
      await peer.topics.publish(
        topic,
        Array.from({ length: 20 }, (_, i) => topicInput(i)),
      );
      await eventually(() => expect([feed.firstOffset(), feed.nextOffset()]).toEqual([15, 20]), {
        timeoutMs: 10_000,
      });
      expect((await feed.read(0, 100)).map((m) => m.offset)).toEqual([15, 16, 17, 18, 19]);
      feed.close();
    });

    it("cuts replies and batches of big messages to a few MiB, so none nears the transport's limit", async () => {
      const topic = await newTopic(node);
      const big = (n: number) => ({ key: "", payload: json("x".repeat(3 * 1024 * 1024 + n)), headers: null });
      await Promise.all([0, 1, 2].map((n) => peer.topics.publish(topic, [big(n)])));
      const feed = await peer.topics.feed(topic, 0);
      const batches: number[][] = [];
      feed.onCommitted((messages) => batches.push(messages.map((m) => m.offset)));
      await eventually(() => expect(feed.nextOffset()).toBe(3));
      expect(batches).toEqual([[0], [1], [2]]);
      const page = await feed.read(0, 10);
      expect(page.map((m) => [m.offset, m.payload.length])).toEqual([[0, 3 * 1024 * 1024 + 2]]);
      feed.close();
    });

    it("ends with the serving node's reason when the topic is released", async () => {
      const topic = await newTopic(node);
      const feed = await peer.topics.feed(topic);
      const ended = latch<AvisoError>();
      feed.onEnded(ended.resolve);
      node.servingNodes.release("topic", topic, new AvisoError("TOPIC_NOT_FOUND", "deleted"));
      const reason = await ended.promise;
      expect([reason.reason, reason.message]).toEqual(["TOPIC_NOT_FOUND", "deleted"]);
      expect(feed.endedWith).toBe(reason);
    });

    it("ends with OWNER_UNAVAILABLE when the link breaks", async () => {
      const topic = await newTopic(node);
      const relay = await startRelay(server.port);
      try {
        const feed = await clientFor({ peerUrl: `127.0.0.1:${relay.port}` }).topics.feed(topic);
        const ended = latch<AvisoError>();
        feed.onEnded(ended.resolve);
        relay.cut();
        expect((await ended.promise).reason).toBe("OWNER_UNAVAILABLE");
      } finally {
        await relay.close();
      }
    });

    it("refuses an offset beyond the head, keeping the error's details", async () => {
      const topic = await newTopic(node);
      await peer.topics.publish(topic, [topicInput(1)]);
      const error = await expectReason(peer.topics.feed(topic, 5), "OFFSET_OUT_OF_RANGE");
      expect(error.details).toEqual({ nextOffset: 1 });
      await expectReason(peer.topics.feed("no-such-topic"), "TOPIC_NOT_FOUND");
    });
  });

  describe("notify", () => {
    it("hands every kind of event to the handler", async () => {
      node.notices.length = 0;
      await peer.notify({ type: "changed", kind: "queue", name: "a" });
      await peer.notify({ type: "bindingCreated", topic: "t", queue: "q" });
      await peer.notify({ type: "bindingRemoved", topic: "t", queue: "q" });
      await peer.notify({
        type: "release",
        kind: "topic",
        name: "b",
        reason: new AvisoError("FENCED", "moved"),
      });
      expect(node.notices.slice(0, 3)).toEqual([
        { type: "changed", kind: "queue", name: "a" },
        { type: "bindingCreated", topic: "t", queue: "q" },
        { type: "bindingRemoved", topic: "t", queue: "q" },
      ]);
      const release = node.notices[3] as Extract<PeerEvent, { type: "release" }>;
      expect([release.kind, release.name, release.reason.reason, release.reason.message]).toEqual([
        "topic",
        "b",
        "FENCED",
        "moved",
      ]);
    });
  });

  describe("the link", () => {
    it("refuses callers without the cluster secret", async () => {
      const intruder = clientFor({ clusterSecret: "wrong" });
      const error = await expectReason(intruder.topics.head("anything"), "OWNER_UNAVAILABLE");
      expect(error.message).toContain("UNAUTHENTICATED");
      await expectReason(intruder.topics.feed("anything"), "OWNER_UNAVAILABLE");
      await expectReason(intruder.queues.consume("anything", recordingSink(), 1), "OWNER_UNAVAILABLE");
      await expectReason(intruder.queues.publish("anything", [queueInput(1)]), "OWNER_UNAVAILABLE");
    });

    it("answers OWNER_UNAVAILABLE at once for a peer that is down", async () => {
      const gone = await startPeerServer({
        host: "127.0.0.1",
        port: 0,
        clusterSecret: SECRET,
        handler: { servingNodes: node.servingNodes, notify: async () => {} },
      });
      await gone.close();
      const client = clientFor({ peerUrl: `127.0.0.1:${gone.port}` });
      await expectReason(client.queues.publish("q", [queueInput(1)]), "OWNER_UNAVAILABLE");
      await expectReason(client.queues.consume("q", recordingSink(), 1), "OWNER_UNAVAILABLE");
      await expectReason(client.topics.feed("t"), "OWNER_UNAVAILABLE");
    });

    it("ends open streams with SHUTTING_DOWN when the peer server closes", async () => {
      const closing = await startPeerServer({
        host: "127.0.0.1",
        port: 0,
        clusterSecret: SECRET,
        handler: { servingNodes: node.servingNodes, notify: async () => {} },
      });
      const queue = await newQueue(node);
      const topic = await newTopic(node);
      const client = clientFor({ peerUrl: `127.0.0.1:${closing.port}` });
      const sink = recordingSink();
      await client.queues.consume(queue, sink, 1);
      const feed = await client.topics.feed(topic);
      const ended = latch<AvisoError>();
      feed.onEnded(ended.resolve);
      await closing.close();
      expect((await sink.closedWith.promise).reason).toBe("SHUTTING_DOWN");
      expect((await ended.promise).reason).toBe("SHUTTING_DOWN");
    });

    it("cuts long polls still waiting after the close grace period", async () => {
      const closing = await startPeerServer({
        host: "127.0.0.1",
        port: 0,
        clusterSecret: SECRET,
        closeGraceMs: 100,
        handler: { servingNodes: node.servingNodes, notify: async () => {} },
      });
      const queue = await newQueue(node);
      node.receiveStarted = latch();
      const client = clientFor({ peerUrl: `127.0.0.1:${closing.port}` });
      const waiting = client.queues.receive(queue, { max: 1, waitMs: 60_000, ackTimeoutMs: undefined });
      await node.receiveStarted.promise;
      await closing.close();
      await expectReason(waiting, "OWNER_UNAVAILABLE");
    });

    it("fails pending work and ends streams with the given reason when the client closes", async () => {
      const topic = await newTopic(node);
      const client = clientFor();
      const feed = await client.topics.feed(topic);
      const ended = latch<AvisoError>();
      feed.onEnded(ended.resolve);
      client.close(new AvisoError("OWNER_UNAVAILABLE", "member left"));
      expect((await ended.promise).reason).toBe("OWNER_UNAVAILABLE");
      await expectReason(client.topics.head(topic), "OWNER_UNAVAILABLE");
    });
  });

  describe("wire compatibility with a stock @grpc/grpc-js client (proto-loader, protobufjs)", () => {
    interface StockPeerClient extends grpc.Client {
      publishBatch(
        request: object,
        metadata: grpc.Metadata,
        callback: (error: grpc.ServiceError | null, response?: StockPublishResponse) => void,
      ): grpc.ClientUnaryCall;
      feed(request: object, metadata?: grpc.Metadata): grpc.ClientReadableStream<StockFeedEvent>;
    }
    interface StockPublishResponse {
      results: Array<{ outcome: string; ids?: { ids: string[] }; offsets?: { offsets: number[] } }>;
    }
    interface StockFeedEvent {
      event: "head" | "batch" | "ended";
      head?: { nextOffset: number; firstOffset: number };
      batch?: { messages: Array<{ offset: number; payloadJson: string; headersJson?: string }> };
    }

    let stock: StockPeerClient;
    const authorized = () => {
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${SECRET}`);
      return metadata;
    };

    beforeAll(async () => {
      const definition = await protoLoader.load(PROTO, {
        longs: Number,
        enums: String,
        defaults: true,
        oneofs: true,
      });
      const loaded = grpc.loadPackageDefinition(definition) as unknown as {
        aviso: {
          peer: {
            v1: {
              PeerService: new (address: string, credentials: grpc.ChannelCredentials) => StockPeerClient;
            };
          };
        };
      };
      stock = new loaded.aviso.peer.v1.PeerService(
        `127.0.0.1:${server.port}`,
        grpc.credentials.createInsecure(),
      );
    });
    afterAll(() => stock?.close());

    it("publishes a batch to a queue and a topic", async () => {
      const queue = await newQueue(node);
      const topic = await newTopic(node);
      const response = await new Promise<StockPublishResponse | undefined>((resolve, reject) =>
        stock.publishBatch(
          {
            entries: [
              {
                kind: "RESOURCE_KIND_QUEUE",
                name: queue,
                inputs: [{ payloadJson: "1" }, { payloadJson: "2", delayMs: 0 }],
              },
              {
                kind: "RESOURCE_KIND_TOPIC",
                name: topic,
                inputs: [{ payloadJson: '"x"', key: "k", headersJson: "{}" }],
              },
              { kind: "RESOURCE_KIND_QUEUE", name: "no-such-queue", inputs: [{ payloadJson: "3" }] },
            ],
          },
          authorized(),
          (error, reply) => (error === null ? resolve(reply) : reject(error)),
        ),
      );
      expect(response?.results.map((r) => r.outcome)).toEqual(["ids", "offsets", "error"]);
      expect(response?.results[0]?.ids?.ids).toEqual(["1", "2"]);
      expect(response?.results[1]?.offsets?.offsets).toEqual([0]);
      expect(response?.results[2]).toMatchObject({ error: { reason: "QUEUE_NOT_FOUND" } });
      const [message] = await (await peer.topics.feed(topic)).read(0, 1);
      expect(message).toMatchObject({ payload: '"x"', key: "k", headers: "{}" });
    });

    it("reads a Feed: head, then history, then live", async () => {
      const topic = await newTopic(node);
      await peer.topics.publish(topic, [topicInput(0), topicInput(1)]);
      const call = stock.feed({ topic, fromOffset: 1 }, authorized());
      const events: StockFeedEvent[] = [];
      const gotHistory = latch();
      const gotLive = latch();
      call.on("data", (event: StockFeedEvent) => {
        events.push(event);
        if (events.length === 2) gotHistory.resolve();
        if (events.length === 3) gotLive.resolve();
      });
      call.on("error", () => {});
      await gotHistory.promise;
      await peer.topics.publish(topic, [topicInput(2)]);
      await gotLive.promise;
      call.cancel();
      expect(events[0]).toMatchObject({ event: "head", head: { nextOffset: 2, firstOffset: 0 } });
      expect(events.slice(1).map((e) => e.batch?.messages.map((m) => [m.offset, m.payloadJson]))).toEqual([
        [[1, json({ n: 1 })]],
        [[2, json({ n: 2 })]],
      ]);
    });

    it("is refused without the secret: UNAUTHENTICATED", async () => {
      const status = await new Promise<grpc.status>((resolve) => {
        stock.publishBatch({ entries: [] }, new grpc.Metadata(), (error) =>
          resolve(error?.code ?? grpc.status.OK),
        );
      });
      expect(status).toBe(grpc.status.UNAUTHENTICATED);
    });

    it("sees the Aviso reason in trailing metadata and a mapped status code", async () => {
      const error = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = stock.feed({ topic: "no-such-topic" }, authorized());
        call.on("data", () => {});
        call.on("error", resolve);
        call.on("end", () => resolve(null));
      });
      expect(error?.code).toBe(grpc.status.NOT_FOUND);
      expect(error?.metadata.get("aviso-reason")).toEqual(["TOPIC_NOT_FOUND"]);
    });
  });
});
