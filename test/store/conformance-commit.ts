import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import {
  ownedQueue,
  ownedTopic,
  queueMessage,
  queueMessages,
  topicMessage,
  topicMessages,
  uniqueName,
} from "./fixtures.ts";

/** commit(): appends, removes, updates, trims, fencing and missing resources. */
export function describeCommitConformance(store: () => Store): void {
  describe("commit: queues", () => {
    it("appends messages and reads them back in seq order with every field", async () => {
      const { name, epoch } = await ownedQueue(store());
      const messages = [
        queueMessage(1, { headers: '{"trace":"a"}', expiresAt: 99, deliveries: 2 }),
        queueMessage(2),
        queueMessage(3, { availableAt: 5 }),
      ];
      expect(
        await store().commit([{ type: "queue.append", queue: name, epoch, messages, nextSeq: 4 }]),
      ).toEqual(["ok"]);
      expect(await store().readQueueMessages(name, 0, 100)).toEqual(messages);
      expect(await store().queueHead(name)).toEqual({ nextSeq: 4 });
      expect(await store().countQueueMessages(name)).toBe(3);
    });

    it("pages through messages with afterSeq and limit", async () => {
      const { name, epoch } = await ownedQueue(store());
      await store().commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 25), nextSeq: 26 },
      ]);
      const pages: number[][] = [];
      let after = 0;
      for (;;) {
        const page = await store().readQueueMessages(name, after, 10);
        if (page.length === 0) break;
        pages.push(page.map((m) => m.seq));
        after = page[page.length - 1]?.seq ?? after;
      }
      expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
      expect(pages.flat()).toEqual(queueMessages(1, 25).map((m) => m.seq));
      expect(await store().readQueueMessages(name, 0, 0)).toEqual([]);
    });

    it("removes acknowledged messages", async () => {
      const { name, epoch } = await ownedQueue(store());
      await store().commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 5), nextSeq: 6 },
      ]);
      expect(await store().commit([{ type: "queue.remove", queue: name, epoch, seqs: [2, 4, 42] }])).toEqual([
        "ok",
      ]);
      expect((await store().readQueueMessages(name, 0, 10)).map((m) => m.seq)).toEqual([1, 3, 5]);
      expect(await store().countQueueMessages(name)).toBe(3);
      expect(await store().queueHead(name)).toEqual({ nextSeq: 6 });
    });

    it("removes runs and scattered seqs acked out of order across ops, exactly those", async () => {
      const { name, epoch } = await ownedQueue(store());
      await store().commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 30), nextSeq: 31 },
      ]);
      const outcomes = await store().commit([
        { type: "queue.remove", queue: name, epoch, seqs: [12, 3, 11, 10, 27] },
        { type: "queue.remove", queue: name, epoch, seqs: [4, 5, 13, 20, 21, 22, 1, 3] },
        { type: "queue.remove", queue: name, epoch, seqs: [29, 30, 99] },
      ]);
      expect(outcomes).toEqual(["ok", "ok", "ok"]);
      const removed = new Set([1, 3, 4, 5, 10, 11, 12, 13, 20, 21, 22, 27, 29, 30]);
      expect((await store().readQueueMessages(name, 0, 100)).map((m) => m.seq)).toEqual(
        queueMessages(1, 30)
          .map((m) => m.seq)
          .filter((seq) => !removed.has(seq)),
      );
      expect(await store().countQueueMessages(name)).toBe(30 - removed.size);
    });

    it("updates deliveries and availableAt, the last change in a batch winning", async () => {
      const { name, epoch } = await ownedQueue(store());
      await store().commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 3), nextSeq: 4 },
      ]);
      const outcomes = await store().commit([
        { type: "queue.update", queue: name, epoch, changes: [{ seq: 1, deliveries: 1, availableAt: 100 }] },
        {
          type: "queue.update",
          queue: name,
          epoch,
          changes: [
            { seq: 1, deliveries: 2, availableAt: 200 },
            { seq: 3, deliveries: 7, availableAt: 300 },
          ],
        },
      ]);
      expect(outcomes).toEqual(["ok", "ok"]);
      const byseq = new Map((await store().readQueueMessages(name, 0, 10)).map((m) => [m.seq, m]));
      expect(byseq.get(1)).toEqual(queueMessage(1, { deliveries: 2, availableAt: 200 }));
      expect(byseq.get(2)).toEqual(queueMessage(2));
      expect(byseq.get(3)).toEqual(queueMessage(3, { deliveries: 7, availableAt: 300 }));
    });

    it("applies append, update and remove of the same message in one batch in order", async () => {
      const { name, epoch } = await ownedQueue(store());
      const outcomes = await store().commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 2), nextSeq: 3 },
        { type: "queue.update", queue: name, epoch, changes: [{ seq: 2, deliveries: 1, availableAt: 9 }] },
        { type: "queue.remove", queue: name, epoch, seqs: [1] },
        { type: "queue.append", queue: name, epoch, messages: queueMessages(3, 3), nextSeq: 4 },
      ]);
      expect(outcomes).toEqual(["ok", "ok", "ok", "ok"]);
      expect(await store().readQueueMessages(name, 0, 10)).toEqual([
        queueMessage(2, { deliveries: 1, availableAt: 9 }),
        queueMessage(3),
      ]);
      expect(await store().queueHead(name)).toEqual({ nextSeq: 4 });
    });

    it("commits writes to many queues, each under its own epoch, in one batch", async () => {
      const queues = await Promise.all(Array.from({ length: 12 }, () => ownedQueue(store(), "many")));
      const ops = queues.map(({ name, epoch }) => ({
        type: "queue.append" as const,
        queue: name,
        epoch,
        messages: queueMessages(1, 40),
        nextSeq: 41,
      }));
      expect(await store().commit(ops)).toEqual(ops.map(() => "ok"));
      for (const { name } of queues) {
        expect(await store().countQueueMessages(name)).toBe(40);
        expect(await store().queueHead(name)).toEqual({ nextSeq: 41 });
      }
    });

    it("commits several batches of one queue at once: all land and the head is the highest", async () => {
      const { name, epoch } = await ownedQueue(store());
      // Side by side on a store that allows it (MySQL's shared fence), one after another otherwise.
      const outcomes = await Promise.all(
        [0, 1, 2, 3].map((batch) =>
          store().commit([
            {
              type: "queue.append",
              queue: name,
              epoch,
              messages: queueMessages(batch * 10 + 1, batch * 10 + 10),
              nextSeq: batch * 10 + 11,
            },
          ]),
        ),
      );
      expect(outcomes.flat()).toEqual(["ok", "ok", "ok", "ok"]);
      expect((await store().readQueueMessages(name, 0, 100)).map((m) => m.seq)).toEqual(
        queueMessages(1, 40).map((m) => m.seq),
      );
      expect(await store().queueHead(name)).toEqual({ nextSeq: 41 });
      // Acks that empty the queue leave its head where it was: seqs are never handed out twice.
      await store().commit([
        { type: "queue.remove", queue: name, epoch, seqs: queueMessages(1, 40).map((m) => m.seq) },
      ]);
      expect(await store().queueHead(name)).toEqual({ nextSeq: 41 });
      const next = await store().claim("queue", name);
      expect(await store().queueHead(name)).toEqual({ nextSeq: 41 });
      expect(next?.epoch).toBe(epoch + 1);
    });

    it("answers an empty batch with no outcomes", async () => {
      expect(await store().commit([])).toEqual([]);
    });
  });

  describe("commit: topics", () => {
    it("appends, reports the head and reads from an offset", async () => {
      const { name, epoch } = await ownedTopic(store());
      const messages = [
        topicMessage(0, { key: "" }),
        topicMessage(1, { headers: '{"h":"1"}' }),
        ...topicMessages(2, 9),
      ];
      expect(
        await store().commit([{ type: "topic.append", topic: name, epoch, messages, nextOffset: 10 }]),
      ).toEqual(["ok"]);
      expect(await store().topicHead(name)).toEqual({ nextOffset: 10, firstOffset: 0 });
      expect(await store().readTopic(name, 0, 100)).toEqual(messages);
      expect(await store().readTopic(name, 4, 3)).toEqual(messages.slice(4, 7));
      expect(await store().readTopic(name, 10, 5)).toEqual([]);
    });

    it("trims old messages: firstOffset moves, nextOffset stays", async () => {
      const { name, epoch } = await ownedTopic(store());
      await store().commit([
        { type: "topic.append", topic: name, epoch, messages: topicMessages(0, 9), nextOffset: 10 },
      ]);
      expect(await store().commit([{ type: "topic.trim", topic: name, epoch, beforeOffset: 6 }])).toEqual([
        "ok",
      ]);
      expect(await store().topicHead(name)).toEqual({ nextOffset: 10, firstOffset: 6 });
      expect((await store().readTopic(name, 0, 100)).map((m) => m.offset)).toEqual([6, 7, 8, 9]);

      await store().commit([{ type: "topic.trim", topic: name, epoch, beforeOffset: 10 }]);
      expect(await store().topicHead(name)).toEqual({ nextOffset: 10, firstOffset: 10 });
      expect(await store().readTopic(name, 0, 100)).toEqual([]);
    });

    it("appends after a trim in the same batch without losing the new messages", async () => {
      const { name, epoch } = await ownedTopic(store());
      await store().commit([
        { type: "topic.append", topic: name, epoch, messages: topicMessages(0, 4), nextOffset: 5 },
      ]);
      const outcomes = await store().commit([
        { type: "topic.trim", topic: name, epoch, beforeOffset: 5 },
        { type: "topic.append", topic: name, epoch, messages: topicMessages(5, 6), nextOffset: 7 },
      ]);
      expect(outcomes).toEqual(["ok", "ok"]);
      expect(await store().topicHead(name)).toEqual({ nextOffset: 7, firstOffset: 5 });
    });
  });

  describe("commit: fencing and missing resources", () => {
    it("fences an op with a stale epoch and commits the rest of the batch", async () => {
      const stale = await ownedQueue(store(), "stale");
      const newer = await store().claim("queue", stale.name);
      expect(newer).toEqual({ epoch: stale.epoch + 1 });
      const live = await ownedQueue(store(), "live");
      const outcomes = await store().commit([
        {
          type: "queue.append",
          queue: stale.name,
          epoch: stale.epoch,
          messages: queueMessages(1, 3),
          nextSeq: 4,
        },
        {
          type: "queue.append",
          queue: live.name,
          epoch: live.epoch,
          messages: queueMessages(1, 2),
          nextSeq: 3,
        },
        { type: "queue.remove", queue: stale.name, epoch: stale.epoch, seqs: [1] },
      ]);
      expect(outcomes).toEqual(["fenced", "ok", "fenced"]);
      expect(await store().countQueueMessages(stale.name)).toBe(0);
      expect(await store().queueHead(stale.name)).toEqual({ nextSeq: 1 });
      expect(await store().countQueueMessages(live.name)).toBe(2);
    });

    it("fences a topic op carrying an epoch that is not the current one (older or newer)", async () => {
      const { name, epoch } = await ownedTopic(store());
      const outcomes = await store().commit([
        { type: "topic.append", topic: name, epoch: epoch - 1, messages: topicMessages(0, 0), nextOffset: 1 },
        { type: "topic.append", topic: name, epoch: epoch + 1, messages: topicMessages(0, 0), nextOffset: 1 },
        { type: "topic.append", topic: name, epoch, messages: topicMessages(0, 1), nextOffset: 2 },
      ]);
      expect(outcomes).toEqual(["fenced", "fenced", "ok"]);
      expect(await store().topicHead(name)).toEqual({ nextOffset: 2, firstOffset: 0 });
    });

    it("answers missing for ops on resources that do not exist, committing the others", async () => {
      const live = await ownedQueue(store());
      const outcomes = await store().commit([
        {
          type: "queue.append",
          queue: uniqueName("gone"),
          epoch: 1,
          messages: queueMessages(1, 1),
          nextSeq: 2,
        },
        { type: "topic.trim", topic: uniqueName("gone"), epoch: 1, beforeOffset: 3 },
        {
          type: "queue.append",
          queue: live.name,
          epoch: live.epoch,
          messages: queueMessages(1, 1),
          nextSeq: 2,
        },
      ]);
      expect(outcomes).toEqual(["missing", "missing", "ok"]);
      expect(await store().countQueueMessages(live.name)).toBe(1);
    });

    it("answers missing for a queue deleted after it was claimed", async () => {
      const { name, epoch } = await ownedQueue(store());
      await store().deleteQueue(name);
      const outcomes = await store().commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 1), nextSeq: 2 },
      ]);
      expect(outcomes).toEqual(["missing"]);
      expect(await store().countQueueMessages(name)).toBe(0);
    });

    it("commits nothing when a statement fails part-way (duplicate seq)", async () => {
      const first = await ownedQueue(store(), "atomic");
      const second = await ownedQueue(store(), "atomic");
      const topic = await ownedTopic(store(), "atomic");
      await expect(
        store().commit([
          {
            type: "queue.append",
            queue: first.name,
            epoch: first.epoch,
            messages: queueMessages(1, 3),
            nextSeq: 4,
            idempotency: [
              { kind: "queue", resource: first.name, key: "k", result: "[]", expiresAt: Date.now() * 2 },
            ],
          },
          {
            type: "topic.append",
            topic: topic.name,
            epoch: topic.epoch,
            messages: topicMessages(0, 1),
            nextOffset: 2,
          },
          {
            type: "queue.append",
            queue: second.name,
            epoch: second.epoch,
            messages: [queueMessage(1), queueMessage(2), queueMessage(1)],
            nextSeq: 3,
          },
        ]),
      ).rejects.toBeInstanceOf(Error);
      expect(await store().countQueueMessages(first.name)).toBe(0);
      expect(await store().countQueueMessages(second.name)).toBe(0);
      expect(await store().queueHead(first.name)).toEqual({ nextSeq: 1 });
      expect(await store().topicHead(topic.name)).toEqual({ nextOffset: 0, firstOffset: 0 });
      expect(await store().loadIdempotency("queue", first.name, 0)).toEqual([]);
    });

    it("rejects an append that reuses a committed seq and keeps the committed row", async () => {
      const { name, epoch } = await ownedQueue(store());
      await store().commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 1), nextSeq: 2 },
      ]);
      await expect(
        store().commit([
          {
            type: "queue.append",
            queue: name,
            epoch,
            messages: [queueMessage(2), queueMessage(1, { payload: '"x"' })],
            nextSeq: 3,
          },
        ]),
      ).rejects.toBeInstanceOf(Error);
      expect(await store().readQueueMessages(name, 0, 10)).toEqual([queueMessage(1)]);
      expect(await store().queueHead(name)).toEqual({ nextSeq: 2 });
    });
  });
}
