import { describe, expect, it } from "vitest";
import type { Binding } from "../../src/broker/types.ts";
import type { Store } from "../../src/store/store.ts";
import {
  baseTime,
  bindingOf,
  ownedQueue,
  ownedTopic,
  queueDefinition,
  queueMessages,
  topicDefinition,
  topicMessages,
  uniqueName,
} from "./fixtures.ts";

function binding(topic: string, queue: string, overrides: Partial<Binding> = {}): Binding {
  return bindingOf(topic, queue, { pattern: "orders.#", ...overrides });
}

/** Queues, topics, grants, bindings and claims: everything except commit. */
export function describeResourceConformance(store: () => Store): void {
  describe("queues", () => {
    it("creates a queue and reads back every setting", async () => {
      const name = uniqueName("q");
      const definition = queueDefinition(name, {
        private: true,
        ackTimeoutMs: 1234,
        maxDeliveries: 5,
        deadLetterQueue: `${name}_dlq`,
        messageTtlMs: 60_000,
        maxLength: 1000,
      });
      await store().createQueue(definition);
      expect(await store().getQueue(name)).toEqual(definition);
      expect(await store().queueHead(name)).toEqual({ nextSeq: 1 });
      expect(await store().countQueueMessages(name)).toBe(0);
    });

    it("refuses a duplicate name with QUEUE_EXISTS and keeps the first", async () => {
      const name = uniqueName("q");
      await store().createQueue(queueDefinition(name, { ackTimeoutMs: 1 }));
      await expect(store().createQueue(queueDefinition(name, { ackTimeoutMs: 2 }))).rejects.toMatchObject({
        reason: "QUEUE_EXISTS",
      });
      expect((await store().getQueue(name))?.ackTimeoutMs).toBe(1);
    });

    it("answers undefined / false / empty for an unknown queue", async () => {
      const name = uniqueName("ghost");
      expect(await store().getQueue(name)).toBeUndefined();
      expect(await store().queueHead(name)).toBeUndefined();
      expect(await store().deleteQueue(name)).toBe(false);
      expect(await store().countQueueMessages(name)).toBe(0);
      expect(await store().readQueueMessages(name, 0, 10)).toEqual([]);
    });

    it("lists queues in name order", async () => {
      const prefix = uniqueName("list");
      for (const suffix of ["b", "a", "c"]) await store().createQueue(queueDefinition(`${prefix}_${suffix}`));
      const names = (await store().listQueues()).map((q) => q.name).filter((n) => n.startsWith(prefix));
      expect(names).toEqual([`${prefix}_a`, `${prefix}_b`, `${prefix}_c`]);
    });

    it("treats names as case-sensitive", async () => {
      const lower = uniqueName("orders");
      const upper = `O${lower.slice(1)}`;
      await store().createQueue(queueDefinition(lower, { ackTimeoutMs: 1 }));
      await store().createQueue(queueDefinition(upper, { ackTimeoutMs: 2 }));
      expect((await store().getQueue(lower))?.ackTimeoutMs).toBe(1);
      expect((await store().getQueue(upper))?.ackTimeoutMs).toBe(2);
      const lowerEpoch = (await store().claim("queue", lower))?.epoch ?? -1;
      await store().commit([
        { type: "queue.append", queue: lower, epoch: lowerEpoch, messages: queueMessages(1, 2), nextSeq: 3 },
      ]);
      expect(await store().countQueueMessages(lower)).toBe(2);
      expect(await store().countQueueMessages(upper)).toBe(0);
      expect(await store().deleteQueue(upper)).toBe(true);
      expect(await store().getQueue(lower)).toBeDefined();
    });

    it("deletes a queue with its messages, grants and idempotency records, and ends its bindings", async () => {
      const { name, epoch } = await ownedQueue(store(), "doomed");
      const topic = uniqueName("src");
      await store().createTopic(topicDefinition(topic));
      await store().createBinding(binding(topic, name));
      await store().putGrant({ kind: "queue", resource: name, username: "friend", permissions: ["consume"] });
      const outcomes = await store().commit([
        {
          type: "queue.append",
          queue: name,
          epoch,
          messages: queueMessages(1, 5),
          nextSeq: 6,
          idempotency: [
            { kind: "queue", resource: name, key: "k1", result: '["1"]', expiresAt: baseTime * 2 },
          ],
        },
      ]);
      expect(outcomes).toEqual(["ok"]);

      expect(await store().deleteQueue(name, baseTime + 5)).toBe(true);
      expect(await store().getQueue(name)).toBeUndefined();
      expect(await store().deleteQueue(name)).toBe(false);
      expect(await store().countQueueMessages(name)).toBe(0);
      expect(await store().listGrants("queue", name)).toEqual([]);
      expect(await store().listBindings({ queue: name })).toMatchObject([
        { topic, state: "ended", endedReason: "QUEUE_NOT_FOUND", endedAt: baseTime + 5 },
      ]);
      expect(await store().loadIdempotency("queue", name, baseTime)).toEqual([]);
      expect(await store().getTopic(topic)).toBeDefined();

      // Re-created: empty, numbering restarts, and the old owner stays fenced.
      await store().createQueue(queueDefinition(name));
      expect(await store().queueHead(name)).toEqual({ nextSeq: 1 });
      expect(await store().readQueueMessages(name, 0, 10)).toEqual([]);
      const stale = await store().commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(6, 6), nextSeq: 7 },
      ]);
      expect(stale).toEqual(["fenced"]);
      const reclaimed = await store().claim("queue", name);
      expect(reclaimed?.epoch).toBeGreaterThan(epoch);
      expect(await store().countQueueMessages(name)).toBe(0);
    });
  });

  describe("resources by creator", () => {
    it("counts the queues and topics a user created, apart, and forgets deleted ones", async () => {
      const creator = uniqueName("creator");
      const queues = [uniqueName("q"), uniqueName("q")];
      for (const name of queues) await store().createQueue(queueDefinition(name, { creator }));
      await store().createQueue(queueDefinition(uniqueName("q"), { creator: uniqueName("other") }));
      await store().createTopic(topicDefinition(uniqueName("t"), { creator }));
      expect(await store().countCreated("queue", creator)).toBe(2);
      expect(await store().countCreated("topic", creator)).toBe(1);
      await store().deleteQueue(queues[0] as string);
      expect(await store().countCreated("queue", creator)).toBe(1);
      expect(await store().countCreated("queue", uniqueName("nobody"))).toBe(0);
    });
  });

  describe("topics", () => {
    it("creates a topic and reads back every setting", async () => {
      const name = uniqueName("t");
      const definition = topicDefinition(name, {
        private: true,
        durable: false,
        retention: { maxAgeMs: 5000, maxMessages: 10 },
      });
      await store().createTopic(definition);
      expect(await store().getTopic(name)).toEqual(definition);
      expect(await store().topicHead(name)).toEqual({ nextOffset: 0, firstOffset: 0 });
    });

    it("refuses a duplicate name with TOPIC_EXISTS", async () => {
      const name = uniqueName("t");
      await store().createTopic(topicDefinition(name));
      await expect(store().createTopic(topicDefinition(name))).rejects.toMatchObject({
        reason: "TOPIC_EXISTS",
      });
    });

    it("keeps queue and topic names in separate namespaces", async () => {
      const name = uniqueName("both");
      await store().createQueue(queueDefinition(name));
      await expect(store().createTopic(topicDefinition(name))).resolves.toBeUndefined();
      expect(await store().getTopic(name)).toBeDefined();
    });

    it("answers undefined / false / empty for an unknown topic", async () => {
      const name = uniqueName("ghost");
      expect(await store().getTopic(name)).toBeUndefined();
      expect(await store().topicHead(name)).toBeUndefined();
      expect(await store().deleteTopic(name)).toBe(false);
      expect(await store().readTopic(name, 0, 10)).toEqual([]);
    });

    it("lists topics in name order", async () => {
      const prefix = uniqueName("tlist");
      for (const suffix of ["z", "y"]) await store().createTopic(topicDefinition(`${prefix}_${suffix}`));
      const names = (await store().listTopics()).map((t) => t.name).filter((n) => n.startsWith(prefix));
      expect(names).toEqual([`${prefix}_y`, `${prefix}_z`]);
    });

    it("deletes a topic with its messages, grants and idempotency records, and ends its bindings", async () => {
      const { name, epoch } = await ownedTopic(store(), "doomed");
      const queue = uniqueName("sink");
      await store().createQueue(queueDefinition(queue));
      await store().createBinding(binding(name, queue));
      await store().putGrant({ kind: "topic", resource: name, username: "friend", permissions: ["publish"] });
      await store().commit([
        {
          type: "topic.append",
          topic: name,
          epoch,
          messages: topicMessages(0, 2),
          nextOffset: 3,
          idempotency: [{ kind: "topic", resource: name, key: "k", result: "[0]", expiresAt: baseTime * 2 }],
        },
      ]);

      expect(await store().deleteTopic(name, baseTime + 6)).toBe(true);
      expect(await store().getTopic(name)).toBeUndefined();
      expect(await store().readTopic(name, 0, 10)).toEqual([]);
      expect(await store().listGrants("topic", name)).toEqual([]);
      expect(await store().listBindings({ topic: name })).toMatchObject([
        { queue, state: "ended", endedReason: "TOPIC_NOT_FOUND", endedAt: baseTime + 6 },
      ]);
      expect(await store().loadIdempotency("topic", name, baseTime)).toEqual([]);
      expect(await store().getQueue(queue)).toBeDefined();

      await store().createTopic(topicDefinition(name));
      expect(await store().topicHead(name)).toEqual({ nextOffset: 0, firstOffset: 0 });
      expect((await store().claim("topic", name))?.epoch).toBeGreaterThan(epoch);
    });
  });

  describe("grants", () => {
    it("puts, replaces and removes a user's permissions", async () => {
      const queue = uniqueName("g");
      await store().putGrant({ kind: "queue", resource: queue, username: "zed", permissions: ["publish"] });
      await store().putGrant({
        kind: "queue",
        resource: queue,
        username: "amy",
        permissions: ["publish", "consume"],
      });
      expect(await store().listGrants("queue", queue)).toEqual([
        { kind: "queue", resource: queue, username: "amy", permissions: ["publish", "consume"] },
        { kind: "queue", resource: queue, username: "zed", permissions: ["publish"] },
      ]);

      await store().putGrant({ kind: "queue", resource: queue, username: "zed", permissions: ["consume"] });
      expect(
        (await store().listGrants("queue", queue)).find((g) => g.username === "zed")?.permissions,
      ).toEqual(["consume"]);

      await store().putGrant({ kind: "queue", resource: queue, username: "amy", permissions: [] });
      expect((await store().listGrants("queue", queue)).map((g) => g.username)).toEqual(["zed"]);
    });

    it("keeps grants on a queue and a topic of the same name apart", async () => {
      const name = uniqueName("g");
      await store().putGrant({ kind: "topic", resource: name, username: "amy", permissions: ["consume"] });
      expect(await store().listGrants("queue", name)).toEqual([]);
      expect(await store().listGrants("topic", name)).toHaveLength(1);
    });
  });

  describe("bindings", () => {
    it("creates, lists by topic / queue / both, and deletes", async () => {
      const topic = uniqueName("bt");
      const other = uniqueName("bt");
      const q1 = uniqueName("bq");
      const q2 = uniqueName("bq");
      const first = binding(topic, q1, { pattern: "orders.*.created", nextOffset: 7 });
      const second = binding(topic, q2);
      const third = binding(other, q1, { pattern: "#" });
      for (const b of [first, second, third]) await store().createBinding(b);

      expect(await store().listBindings({ topic })).toEqual(
        [first, second].sort((a, b) => (a.queue < b.queue ? -1 : 1)),
      );
      expect(await store().listBindings({ queue: q1 })).toEqual(
        [first, third].sort((a, b) => (a.topic < b.topic ? -1 : 1)),
      );
      expect(await store().listBindings({ topic, queue: q2 })).toEqual([second]);
      const all = await store().listBindings({});
      expect(all).toEqual(expect.arrayContaining([first, second, third]));

      expect(await store().deleteBinding(topic, q1)).toBe(true);
      expect(await store().deleteBinding(topic, q1)).toBe(false);
      expect(await store().listBindings({ queue: q1 })).toEqual([third]);
    });

    it("refuses a second binding of the same queue to the same topic with SUBSCRIPTION_EXISTS", async () => {
      const topic = uniqueName("bt");
      const queue = uniqueName("bq");
      await store().createBinding(binding(topic, queue));
      await expect(store().createBinding(binding(topic, queue, { pattern: "#" }))).rejects.toMatchObject({
        reason: "SUBSCRIPTION_EXISTS",
      });
      expect((await store().listBindings({ topic, queue }))[0]?.pattern).toBe("orders.#");
    });

    it("stores both ends' ids and reads them back", async () => {
      const topic = topicDefinition(uniqueName("bt"));
      const queue = queueDefinition(uniqueName("bq"));
      await store().createTopic(topic);
      await store().createQueue(queue);
      const bound = binding(topic.name, queue.name, { topicId: topic.id, queueId: queue.id });
      await store().createBinding(bound);
      expect(await store().listBindings({ topic: topic.name })).toEqual([bound]);
    });

    it("ends an active binding once, keeping it listed with its reason and time", async () => {
      const topic = uniqueName("bt");
      const queue = uniqueName("bq");
      const bound = binding(topic, queue, { nextOffset: 4 });
      await store().createBinding(bound);
      expect(await store().endBinding(topic, queue, "ACCESS_REVOKED", baseTime + 9)).toBe(true);
      const ended = { ...bound, state: "ended", endedReason: "ACCESS_REVOKED", endedAt: baseTime + 9 };
      expect(await store().listBindings({ topic, queue })).toEqual([ended]);
      expect(await store().endBinding(topic, queue, "TOPIC_NOT_FOUND", baseTime + 10)).toBe(false);
      expect(await store().listBindings({ topic, queue })).toEqual([ended]);
      expect(await store().endBinding(uniqueName("bt"), queue, "ACCESS_REVOKED", baseTime)).toBe(false);
    });

    it("replaces an ended binding of the same names; an active one stays a duplicate", async () => {
      const topic = uniqueName("bt");
      const queue = uniqueName("bq");
      await store().createBinding(binding(topic, queue, { pattern: "old" }));
      await store().endBinding(topic, queue, "TOPIC_NOT_FOUND", baseTime);
      const fresh = binding(topic, queue, { pattern: "new", nextOffset: 2 });
      await store().createBinding(fresh);
      expect(await store().listBindings({ topic, queue })).toEqual([fresh]);
      await expect(store().createBinding(binding(topic, queue))).rejects.toMatchObject({
        reason: "SUBSCRIPTION_EXISTS",
      });
    });

    it("leaves a queue's ended bindings ended when a queue of its name is deleted again", async () => {
      const topic = uniqueName("bt");
      const queue = uniqueName("bq");
      await store().createQueue(queueDefinition(queue));
      await store().createBinding(binding(topic, queue));
      await store().endBinding(topic, queue, "ACCESS_REVOKED", baseTime + 1);
      await store().deleteQueue(queue, baseTime + 2);
      expect(await store().listBindings({ queue })).toMatchObject([
        { state: "ended", endedReason: "ACCESS_REVOKED", endedAt: baseTime + 1 },
      ]);
    });
  });

  describe("identity", () => {
    it("reads back each queue's and topic's id and dead-letter target id", async () => {
      const target = queueDefinition(uniqueName("dlq"));
      const queue = queueDefinition(uniqueName("q"), {
        deadLetterQueue: target.name,
        deadLetterQueueId: target.id,
      });
      const topic = topicDefinition(uniqueName("t"));
      for (const q of [target, queue]) await store().createQueue(q);
      await store().createTopic(topic);
      expect(await store().getQueue(queue.name)).toEqual(queue);
      expect((await store().listQueues()).find((q) => q.name === target.name)).toEqual(target);
      expect((await store().listTopics()).find((t) => t.name === topic.name)).toEqual(topic);
    });

    it("refuses a second resource with an id already in use", async () => {
      const first = queueDefinition(uniqueName("q"));
      await store().createQueue(first);
      await expect(store().createQueue(queueDefinition(uniqueName("q"), { id: first.id }))).rejects.toThrow();
      const topic = topicDefinition(uniqueName("t"));
      await store().createTopic(topic);
      await expect(store().createTopic(topicDefinition(uniqueName("t"), { id: topic.id }))).rejects.toThrow();
    });

    it("gives a resource re-created under a deleted one's name none of its grants", async () => {
      for (const kind of ["queue", "topic"] as const) {
        const name = uniqueName("reuse");
        const create = () =>
          kind === "queue"
            ? store().createQueue(queueDefinition(name, { private: true }))
            : store().createTopic(topicDefinition(name, { private: true }));
        await create();
        await store().putGrant({ kind, resource: name, username: "friend", permissions: ["consume"] });
        expect(kind === "queue" ? await store().deleteQueue(name) : await store().deleteTopic(name)).toBe(
          true,
        );
        await create();
        expect(await store().listGrants(kind, name)).toEqual([]);
      }
    });
  });

  describe("claim", () => {
    it("increments the epoch on every claim, per resource and kind", async () => {
      const name = uniqueName("c");
      await store().createQueue(queueDefinition(name));
      await store().createTopic(topicDefinition(name));
      expect(await store().claim("queue", name)).toEqual({ epoch: 1 });
      expect(await store().claim("queue", name)).toEqual({ epoch: 2 });
      expect(await store().claim("topic", name)).toEqual({ epoch: 1 });
    });

    it("answers undefined for a resource that does not exist", async () => {
      expect(await store().claim("queue", uniqueName("ghost"))).toBeUndefined();
      expect(await store().claim("topic", uniqueName("ghost"))).toBeUndefined();
    });
  });
}
