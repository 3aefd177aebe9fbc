import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import {
  ack,
  createQueue,
  type Delivery,
  drain,
  getQueue,
  idNumbers,
  publishToQueue,
  receive,
} from "../helpers/broker-api.ts";
import { eventually } from "../helpers/eventually.ts";
import { expectError } from "../helpers/expect-error.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";

// Concurrent: most cases wait on timers (ack deadlines, TTLs, delays); each uses its own queues.
describe.concurrent.each(storeKinds)("queue semantics over REST (%s store)", (kind) => {
  let node: TestNode;
  let alice: Api;

  beforeAll(async () => {
    node = await startNodeOn(kind, { prefix: "queue_semantics" });
    alice = (await newUser(node.url, "alice")).api;
  });
  afterAll(async () => {
    await node?.close();
  });

  const receipts = (messages: readonly Delivery[]) => messages.map((m) => m.receipt);

  describe("ack deadlines", () => {
    it("redelivers an un-acked message once the queue's ackTimeoutMs passes, counting deliveries", async () => {
      const queue = await createQueue(alice, { ackTimeoutMs: 250 });
      const [id] = await publishToQueue(alice, queue.name, [{ payload: "slow" }]);
      const leaseRequestedAt = Date.now();
      const [first] = await receive(alice, queue.name);
      expect(first).toMatchObject({ id, deliveries: 1 });
      // The lease began after leaseRequestedAt, so no redelivery can come sooner than its deadline.
      const [second] = await receive(alice, queue.name, { waitMs: 5_000 });
      expect(Date.now() - leaseRequestedAt).toBeGreaterThanOrEqual(245);
      expect(second).toMatchObject({ id, payload: "slow", deliveries: 2 });
      // A long lease this time, so the ack below cannot race the deadline.
      const [third] = await receive(alice, queue.name, { waitMs: 5_000, ackTimeoutMs: 60_000 });
      expect(third).toMatchObject({ id, deliveries: 3 });
      expect(await ack(alice, queue.name, receipts([first, second] as Delivery[]))).toEqual({
        acked: 0,
        stale: receipts([first, second] as Delivery[]),
      });
      expect(await ack(alice, queue.name, [(third as Delivery).receipt])).toEqual({ acked: 1, stale: [] });
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
    });

    it("uses a receive's own ackTimeoutMs over the queue's", async () => {
      const queue = await createQueue(alice);
      const [id] = await publishToQueue(alice, queue.name, [{ payload: "short lease" }]);
      await receive(alice, queue.name, { ackTimeoutMs: 200 });
      const [again] = await receive(alice, queue.name, { waitMs: 5_000 });
      expect(again).toMatchObject({ id, deliveries: 2 });
    });
  });

  describe("dead letters", () => {
    it("moves a message delivered maxDeliveries times to the dead-letter queue with its history in headers", async () => {
      const dlq = await createQueue(alice);
      const queue = await createQueue(alice, {
        maxDeliveries: 2,
        deadLetterQueue: dlq.name,
        ackTimeoutMs: 200,
      });
      const [id] = await publishToQueue(alice, queue.name, [
        { payload: { job: 7 }, headers: { trace: "t-1" } },
      ]);
      const [first] = await receive(alice, queue.name);
      await alice.post(`/v1/queues/${queue.name}/nack`, { receipts: [(first as Delivery).receipt] });
      const [second] = await receive(alice, queue.name);
      expect(second).toMatchObject({ id, deliveries: 2 });
      // Second delivery times out: that was the last one allowed.
      const [dead] = await receive(alice, dlq.name, { waitMs: 5_000 });
      expect(dead?.payload).toEqual({ job: 7 });
      expect(dead?.headers).toEqual({
        trace: "t-1",
        "aviso-dead-letter-queue": queue.name,
        "aviso-dead-letter-reason": "max_deliveries",
        "aviso-dead-letter-id": id,
        "aviso-deliveries": "2",
      });
      expect(dead?.deliveries).toBe(1);
      await eventually(async () => {
        expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
      });
      expect(await receive(alice, queue.name)).toEqual([]);
      expect(await getQueue(alice, dlq.name)).toMatchObject({ depth: 0, inFlight: 1 });
    });

    it("drops a message past maxDeliveries when the queue has no dead-letter queue", async () => {
      const queue = await createQueue(alice, { maxDeliveries: 1, ackTimeoutMs: 200 });
      await publishToQueue(alice, queue.name, [{ payload: "once" }, { payload: "nacked" }]);
      const [timedOut, nacked] = await receive(alice, queue.name, { max: 2 });
      await alice.post(`/v1/queues/${queue.name}/nack`, { receipts: [(nacked as Delivery).receipt] });
      await eventually(async () => {
        expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
      });
      expect(await receive(alice, queue.name)).toEqual([]);
      expect(await ack(alice, queue.name, [(timedOut as Delivery).receipt])).toMatchObject({ acked: 0 });
    });

    it("expires messages older than messageTtlMs into the dead-letter queue without delivering them", async () => {
      const dlq = await createQueue(alice);
      const queue = await createQueue(alice, { messageTtlMs: 250, deadLetterQueue: dlq.name });
      const ids = await publishToQueue(alice, queue.name, [
        { payload: "a" },
        { payload: "b", headers: { h: "1" } },
      ]);
      await eventually(async () => {
        expect(await getQueue(alice, dlq.name)).toMatchObject({ depth: 2 });
      });
      expect(await receive(alice, queue.name)).toEqual([]);
      const dead = await receive(alice, dlq.name, { max: 10 });
      expect(dead.map((m) => m.payload)).toEqual(["a", "b"]);
      expect(dead.map((m) => m.headers?.["aviso-dead-letter-id"])).toEqual(ids);
      for (const message of dead) {
        expect(message.headers).toMatchObject({
          "aviso-dead-letter-queue": queue.name,
          "aviso-dead-letter-reason": "expired",
          "aviso-deliveries": "0",
        });
      }
      expect(dead[1]?.headers?.h).toBe("1");
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
    });

    it("drops a dead letter whose dead-letter queue was deleted, as if there were none", async () => {
      const dlq = await createQueue(alice);
      const queue = await createQueue(alice, { maxDeliveries: 1, deadLetterQueue: dlq.name });
      expect((await alice.delete(`/v1/queues/${dlq.name}`)).status).toBe(204);
      await publishToQueue(alice, queue.name, [{ payload: "orphan" }]);
      const [leased] = await receive(alice, queue.name);
      await alice.post(`/v1/queues/${queue.name}/nack`, { receipts: [(leased as Delivery).receipt] });
      await eventually(async () => {
        expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
      });
      expect(await receive(alice, queue.name)).toEqual([]);
      expectError(await alice.get(`/v1/queues/${dlq.name}`), "QUEUE_NOT_FOUND");
    });

    it("expires messages without a dead-letter queue by dropping them", async () => {
      const queue = await createQueue(alice, { messageTtlMs: 200 });
      await publishToQueue(alice, queue.name, [{ payload: "stale" }]);
      await eventually(async () => {
        expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
      });
      expect(await receive(alice, queue.name)).toEqual([]);
    });
  });

  describe("limits and timing", () => {
    it("refuses publishes past maxLength with 429 QUEUE_FULL and stores none of the batch", async () => {
      const queue = await createQueue(alice, { maxLength: 3 });
      const stored = await publishToQueue(alice, queue.name, [{ payload: 1 }, { payload: 2 }]);
      const path = `/v1/queues/${queue.name}/messages`;
      expectError(await alice.post(path, { messages: [{ payload: 3 }, { payload: 4 }] }), "QUEUE_FULL");
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 2 });
      stored.push(...(await publishToQueue(alice, queue.name, [{ payload: 3, idempotencyKey: "third" }])));
      expectError(await alice.post(path, { payload: 4 }), "QUEUE_FULL");
      // A retry of a message already stored is answered, not refused: it adds nothing.
      expect(await publishToQueue(alice, queue.name, [{ payload: 3, idempotencyKey: "third" }])).toEqual([
        stored[2],
      ]);
      // In-flight messages still count; only an ack makes room.
      const [first] = await receive(alice, queue.name);
      expectError(await alice.post(path, { payload: 4 }), "QUEUE_FULL");
      await ack(alice, queue.name, [(first as Delivery).receipt]);
      stored.push(...(await publishToQueue(alice, queue.name, [{ payload: 4 }])));
      const rest = await receive(alice, queue.name, { max: 10 });
      expect(rest.map((m) => m.id)).toEqual(stored.slice(1));
      expect(rest.map((m) => m.payload)).toEqual([2, 3, 4]);
    });

    it("holds a delayed message back until delayMs has passed", async () => {
      const queue = await createQueue(alice);
      const publishedAt = Date.now();
      const [delayedId] = await publishToQueue(alice, queue.name, [{ payload: "late", delayMs: 1500 }]);
      const [nowId] = await publishToQueue(alice, queue.name, [{ payload: "now" }]);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 2 });
      expect((await receive(alice, queue.name, { max: 10 })).map((m) => m.id)).toEqual([nowId]);
      const [late] = await receive(alice, queue.name, { waitMs: 5_000 });
      expect(Date.now() - publishedAt).toBeGreaterThanOrEqual(1495);
      expect(late).toMatchObject({ id: delayedId, payload: "late", deliveries: 1 });
    });
  });

  describe("idempotency keys", () => {
    it("stores a retried publish once and answers the same id", async () => {
      const queue = await createQueue(alice);
      const [first] = await publishToQueue(alice, queue.name, [
        { payload: "pay", idempotencyKey: "order-1" },
      ]);
      const [retry] = await publishToQueue(alice, queue.name, [
        { payload: "pay", idempotencyKey: "order-1" },
      ]);
      expect(retry).toBe(first);
      const [other] = await publishToQueue(alice, queue.name, [
        { payload: "pay", idempotencyKey: "order-2" },
      ]);
      expect(other).not.toBe(first);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 2 });
      const received = await receive(alice, queue.name, { max: 10 });
      expect(received.map((m) => m.id)).toEqual([first, other]);
      await ack(alice, queue.name, receipts(received));
      // Still remembered after the message is gone: a late retry does not publish it again.
      const [late] = await publishToQueue(alice, queue.name, [{ payload: "pay", idempotencyKey: "order-1" }]);
      expect(late).toBe(first);
      expect(await receive(alice, queue.name)).toEqual([]);
    });

    it("publishes a key repeated inside one batch once, and matches keys of earlier publishes", async () => {
      const queue = await createQueue(alice);
      const [earlier] = await publishToQueue(alice, queue.name, [{ payload: 0, idempotencyKey: "k0" }]);
      const ids = await publishToQueue(alice, queue.name, [
        { payload: 1, idempotencyKey: "k1" },
        { payload: 1, idempotencyKey: "k1" },
        { payload: 2, idempotencyKey: "k2" },
        { payload: 0, idempotencyKey: "k0" },
        { payload: 3 },
      ]);
      expect(ids[0]).toBe(ids[1]);
      expect(new Set([ids[0], ids[2], ids[4]]).size).toBe(3);
      expect(ids[3]).toBe(earlier);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 4 });
      expect((await receive(alice, queue.name, { max: 10 })).map((m) => m.payload)).toEqual([0, 1, 2, 3]);
    });

    it("keeps keys per queue: the same key on another queue publishes there", async () => {
      const one = await createQueue(alice);
      const two = await createQueue(alice);
      await publishToQueue(alice, one.name, [{ payload: "x", idempotencyKey: "shared" }]);
      await publishToQueue(alice, two.name, [{ payload: "x", idempotencyKey: "shared" }]);
      expect(await getQueue(alice, two.name)).toMatchObject({ depth: 1 });
    });
  });

  describe("order and competition", () => {
    it("delivers a few hundred messages to one consumer in commit order", async () => {
      const queue = await createQueue(alice);
      const published: string[] = [];
      for (let batch = 0; batch < 3; batch += 1) {
        const messages = Array.from({ length: 100 }, (_, i) => ({ payload: batch * 100 + i }));
        published.push(...(await publishToQueue(alice, queue.name, messages)));
      }
      // Concurrent publishes commit in some order; their ids are that order.
      const concurrent = await Promise.all(
        Array.from({ length: 30 }, (_, i) => publishToQueue(alice, queue.name, [{ payload: 300 + i }])),
      );
      published.push(...concurrent.flat().sort((a, b) => Number(a) - Number(b)));
      const delivered: Delivery[] = [];
      for (;;) {
        const batch = await receive(alice, queue.name, { max: 16 });
        if (batch.length === 0) break;
        delivered.push(...batch);
        await ack(alice, queue.name, receipts(batch));
      }
      expect(delivered.map((m) => m.id)).toEqual(published);
      expect(delivered.slice(0, 300).map((m) => m.payload)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
    });

    it("gives competing consumers disjoint sets that together are every message", async () => {
      const queue = await createQueue(alice);
      const published = await publishToQueue(
        alice,
        queue.name,
        Array.from({ length: 200 }, (_, i) => ({ payload: i })),
      );
      const consumers = await Promise.all(
        Array.from({ length: 4 }, async () => (await newUser(node.url, "worker")).api),
      );
      const seen = await Promise.all(
        consumers.map(async (consumer) => {
          const mine: string[] = [];
          for (;;) {
            const batch = await receive(consumer, queue.name, { max: 5 });
            if (batch.length === 0) return mine;
            mine.push(...batch.map((m) => m.id));
            expect(await ack(consumer, queue.name, receipts(batch))).toMatchObject({ acked: batch.length });
          }
        }),
      );
      const all = seen.flat();
      expect(all).toHaveLength(published.length);
      expect(new Set(all).size).toBe(published.length);
      expect(idNumbers(all).sort((a, b) => a - b)).toEqual(idNumbers(published));
      expect(seen.filter((mine) => mine.length > 0).length).toBeGreaterThan(1);
    });
  });

  describe("payloads and headers", () => {
    it("round-trips any JSON payload exactly, keeping key order", async () => {
      const queue = await createQueue(alice);
      const payloads: unknown[] = [
        "héllo wörld 🌍 中文 עברית",
        'quotes " and \\ backslash and \n newline \u2028 \u0001',
        { nested: { deeper: { list: [1, "two", null, { three: 3 }] } }, z: 1, a: 2 },
        null,
        0,
        -1.5,
        1e300,
        Number.MAX_SAFE_INTEGER,
        true,
        false,
        "",
        [],
        {},
        [[[]], [{}], "x"],
      ];
      const ids = await publishToQueue(
        alice,
        queue.name,
        payloads.map((payload) => ({ payload })),
      );
      const received = await drain(alice, queue.name);
      expect(received.map((m) => m.id)).toEqual(ids);
      expect(received.map((m) => JSON.stringify(m.payload))).toEqual(payloads.map((p) => JSON.stringify(p)));
    });

    it("delivers headers as published, and none when none were given", async () => {
      const queue = await createQueue(alice);
      const headers = { "content-kind": "order", "x-ünï": "cödé 🌍", empty: "" };
      await publishToQueue(alice, queue.name, [
        { payload: 1, headers },
        { payload: 2 },
        { payload: 3, headers: {} },
      ]);
      const [withHeaders, without, emptyHeaders] = await receive(alice, queue.name, { max: 3 });
      expect(withHeaders?.headers).toEqual(headers);
      expect(without).not.toHaveProperty("headers");
      expect(emptyHeaders?.headers ?? {}).toEqual({});
    });
  });
});
