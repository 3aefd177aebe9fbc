import { describe, expect, it } from "vitest";
import type { IdempotencyRecord, QueueMessage } from "../../src/broker/types.ts";
import type { Store } from "../../src/store/store.ts";
import {
  baseTime,
  bindingOf,
  ownedQueue,
  ownedTopic,
  queueMessage,
  queueMessages,
  topicMessage,
  topicMessages,
  uniqueName,
} from "./fixtures.ts";

/** Idempotency records, subscription cursors and payload fidelity. */
export function describeDurabilityConformance(store: () => Store): void {
  describe("idempotency records", () => {
    it("stores a queue append's records in the same commit and loads only unexpired ones", async () => {
      const { name, epoch } = await ownedQueue(store());
      const records: IdempotencyRecord[] = [
        { kind: "queue", resource: name, key: "early", result: '["1"]', expiresAt: baseTime + 1000 },
        { kind: "queue", resource: name, key: "late", result: '["2","3"]', expiresAt: baseTime + 5000 },
      ];
      const outcomes = await store().commit([
        {
          type: "queue.append",
          queue: name,
          epoch,
          messages: queueMessages(1, 3),
          nextSeq: 4,
          idempotency: records,
        },
      ]);
      expect(outcomes).toEqual(["ok"]);
      expect(await store().loadIdempotency("queue", name, baseTime)).toEqual(records);
      expect(await store().loadIdempotency("queue", name, baseTime + 1000)).toEqual([records[1]]);
      expect(await store().loadIdempotency("queue", name, baseTime + 5000)).toEqual([]);
      expect(await store().loadIdempotency("topic", name, baseTime)).toEqual([]);
    });

    it("stores a topic append's records and replaces a record with the same key", async () => {
      const { name, epoch } = await ownedTopic(store());
      const first: IdempotencyRecord = {
        kind: "topic",
        resource: name,
        key: "k",
        result: "[0]",
        expiresAt: baseTime + 10,
      };
      const again: IdempotencyRecord = { ...first, result: "[1]", expiresAt: baseTime + 20 };
      await store().commit([
        {
          type: "topic.append",
          topic: name,
          epoch,
          messages: topicMessages(0, 0),
          nextOffset: 1,
          idempotency: [first],
        },
      ]);
      await store().commit([
        {
          type: "topic.append",
          topic: name,
          epoch,
          messages: topicMessages(1, 1),
          nextOffset: 2,
          idempotency: [again],
        },
      ]);
      expect(await store().loadIdempotency("topic", name, baseTime)).toEqual([again]);
    });

    it("writes no record for a fenced append", async () => {
      const { name, epoch } = await ownedQueue(store());
      await store().claim("queue", name);
      const outcomes = await store().commit([
        {
          type: "queue.append",
          queue: name,
          epoch,
          messages: queueMessages(1, 1),
          nextSeq: 2,
          idempotency: [
            { kind: "queue", resource: name, key: "k", result: '["1"]', expiresAt: baseTime * 2 },
          ],
        },
      ]);
      expect(outcomes).toEqual(["fenced"]);
      expect(await store().loadIdempotency("queue", name, baseTime)).toEqual([]);
    });

    it("purges expired records and keeps the rest", async () => {
      const { name, epoch } = await ownedQueue(store());
      // Far in the past so no other test's records (expiring around baseTime) are touched.
      const ancient = 1000;
      const records: IdempotencyRecord[] = [
        { kind: "queue", resource: name, key: "old1", result: "[]", expiresAt: ancient },
        { kind: "queue", resource: name, key: "old2", result: "[]", expiresAt: ancient + 1 },
        { kind: "queue", resource: name, key: "new", result: "[]", expiresAt: ancient + 1000 },
      ];
      await store().commit([
        {
          type: "queue.append",
          queue: name,
          epoch,
          messages: queueMessages(1, 1),
          nextSeq: 2,
          idempotency: records,
        },
      ]);
      const purged = await store().purgeIdempotency(ancient + 500);
      expect(purged).toBeGreaterThanOrEqual(2);
      expect((await store().loadIdempotency("queue", name, 0)).map((r) => r.key)).toEqual(["new"]);
    });
  });

  describe("durable subscription cursors", () => {
    it("advances a binding's cursor atomically with the copied messages", async () => {
      const topic = await ownedTopic(store(), "src");
      const queue = await ownedQueue(store(), "sink");
      await store().createBinding(bindingOf(topic.name, queue.name));
      const outcomes = await store().commit([
        {
          type: "topic.append",
          topic: topic.name,
          epoch: topic.epoch,
          messages: topicMessages(0, 2),
          nextOffset: 3,
        },
        {
          type: "queue.append",
          queue: queue.name,
          epoch: queue.epoch,
          messages: queueMessages(1, 3),
          nextSeq: 4,
          cursor: { topic: topic.name, nextOffset: 3 },
        },
      ]);
      expect(outcomes).toEqual(["ok", "ok"]);
      expect((await store().listBindings({ topic: topic.name, queue: queue.name }))[0]?.nextOffset).toBe(3);
      expect(await store().countQueueMessages(queue.name)).toBe(3);
    });

    it("leaves the cursor alone when the copying append is fenced", async () => {
      const topic = uniqueName("src");
      const queue = await ownedQueue(store(), "sink");
      await store().createBinding(bindingOf(topic, queue.name, { nextOffset: 5 }));
      await store().claim("queue", queue.name);
      const outcomes = await store().commit([
        {
          type: "queue.append",
          queue: queue.name,
          epoch: queue.epoch,
          messages: queueMessages(1, 1),
          nextSeq: 2,
          cursor: { topic, nextOffset: 9 },
        },
      ]);
      expect(outcomes).toEqual(["fenced"]);
      expect((await store().listBindings({ topic, queue: queue.name }))[0]?.nextOffset).toBe(5);
    });
  });

  describe("payloads", () => {
    it("round-trips unicode text in payloads, headers and routing keys", async () => {
      const payload = JSON.stringify({
        text: 'héllo wörld — 日本語 🚀 \u0000 "quoted" \\ back',
        n: [1, 2.5, null],
      });
      const headers = JSON.stringify({ "x-note": "naïve café ✓", emoji: "👩‍👩‍👧" });
      const queue = await ownedQueue(store());
      const topic = await ownedTopic(store());
      const message: QueueMessage = queueMessage(1, { payload, headers });
      await store().commit([
        { type: "queue.append", queue: queue.name, epoch: queue.epoch, messages: [message], nextSeq: 2 },
        {
          type: "topic.append",
          topic: topic.name,
          epoch: topic.epoch,
          messages: [topicMessage(0, { payload, headers, key: "ordres.été.créé" })],
          nextOffset: 1,
        },
      ]);
      expect(await store().readQueueMessages(queue.name, 0, 1)).toEqual([message]);
      expect(await store().readTopic(topic.name, 0, 1)).toEqual([
        topicMessage(0, { payload, headers, key: "ordres.été.créé" }),
      ]);
    });

    it("round-trips a 1 MiB JSON payload", async () => {
      const payload = JSON.stringify({ blob: "ä𝄞x".repeat(Math.ceil((1024 * 1024) / 4)) });
      expect(payload.length).toBeGreaterThan(1024 * 1024);
      const { name, epoch } = await ownedQueue(store());
      await store().commit([
        {
          type: "queue.append",
          queue: name,
          epoch,
          messages: [queueMessage(1, { payload }), queueMessage(2)],
          nextSeq: 3,
        },
      ]);
      const [big, small] = await store().readQueueMessages(name, 0, 2);
      expect(big?.payload.length).toBe(payload.length);
      expect(big?.payload === payload).toBe(true);
      expect(small).toEqual(queueMessage(2));
    });

    it("commits a batch larger than one statement's budget", async () => {
      const { name, epoch } = await ownedQueue(store());
      const filler = "x".repeat(2000);
      const messages = Array.from({ length: 3000 }, (_, i) =>
        queueMessage(i + 1, { payload: JSON.stringify(filler + i) }),
      );
      expect(
        await store().commit([{ type: "queue.append", queue: name, epoch, messages, nextSeq: 3001 }]),
      ).toEqual(["ok"]);
      expect(await store().countQueueMessages(name)).toBe(3000);
      const last = await store().readQueueMessages(name, 2999, 1);
      expect(last[0]?.payload).toBe(JSON.stringify(`${filler}2999`));
      const seqs = Array.from({ length: 2500 }, (_, i) => i + 1);
      expect(await store().commit([{ type: "queue.remove", queue: name, epoch, seqs }])).toEqual(["ok"]);
      expect(await store().countQueueMessages(name)).toBe(500);
    });
  });
}
