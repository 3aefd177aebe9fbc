import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser, uniqueName } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import {
  ack,
  createQueue,
  createTopic,
  drain,
  getQueue,
  getTopic,
  publishToQueue,
  publishToTopic,
  receive,
} from "../helpers/broker-api.ts";
import { eventually } from "../helpers/eventually.ts";
import { expectError } from "../helpers/expect-error.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";

interface Binding {
  topic: string;
  queue: string;
  topicId: string;
  queueId: string;
  pattern: string;
  nextOffset: number;
  createdBy: string;
  createdAt: number;
  state: "active" | "ended";
  endedReason: string | null;
  endedAt: number | null;
}

// Concurrent: every case uses its own resources; the waits (timers, copies) overlap.
describe.concurrent.each(storeKinds)("durable subscriptions (%s store)", (kind) => {
  let node: TestNode;
  let alice: Api;
  let bob: Api;
  let bobName: string;

  beforeAll(async () => {
    node = await startNodeOn(kind, { prefix: "durable_subs" });
    alice = (await newUser(node.url, "alice")).api;
    ({ api: bob, username: bobName } = await newUser(node.url, "bob"));
  });
  afterAll(async () => {
    await node?.close();
  });

  const bind = (api: Api, topic: string, body: Record<string, unknown>) =>
    api.post<Binding & { queueCreated: boolean }>(`/v1/topics/${topic}/subscriptions`, body);

  async function listBindings(api: Api, topic: string): Promise<Binding[]> {
    const listed = await api.get<{ subscriptions: Binding[] }>(`/v1/topics/${topic}/subscriptions`);
    expect(listed.status).toBe(200);
    return listed.body.subscriptions;
  }

  /**
   * Waits until every binding of the topic has copied up to the topic's head
   * and each queue in `depths` holds that many messages. A binding's cursor
   * commits with its copies, but the queue's owner takes them in a moment after
   * that commit, so both are awaited.
   */
  async function copiesCaughtUp(topic: string, depths: Record<string, number>): Promise<void> {
    const { nextOffset } = await getTopic(alice, topic);
    await eventually(async () => {
      for (const binding of await listBindings(alice, topic)) expect(binding.nextOffset).toBe(nextOffset);
      for (const [queue, depth] of Object.entries(depths)) {
        expect(await getQueue(bob, queue), queue).toMatchObject({ depth });
      }
    });
  }

  describe("POST /v1/topics/{name}/subscriptions", () => {
    it("creates the queue, owned by the caller, starting at the topic's head", async () => {
      const topic = await createTopic(alice);
      await publishToTopic(alice, topic.name, [{ payload: 0 }, { payload: 1 }]);
      const queue = uniqueName("sub");
      const bound = await bind(bob, topic.name, { queue, pattern: "orders.*" });
      expect(bound.status).toBe(201);
      const queueView = await getQueue(bob, queue);
      expect(queueView).toMatchObject({ creator: bobName, owner: bobName, depth: 0 });
      const expected = {
        topic: topic.name,
        queue,
        topicId: (topic as unknown as { id: string }).id,
        queueId: (queueView as unknown as { id: string }).id,
        pattern: "orders.*",
        nextOffset: 2,
        createdBy: bobName,
        createdAt: bound.body.createdAt,
        state: "active",
        endedReason: null,
        endedAt: null,
      };
      expect(bound.body).toEqual({ ...expected, queueCreated: true });
      expect(await listBindings(bob, topic.name)).toEqual([expected]);
    });

    it("binds a queue the caller already owns (queueCreated false) with pattern # by default", async () => {
      const topic = await createTopic(alice);
      const queue = await createQueue(bob, { ackTimeoutMs: 5000 });
      const bound = await bind(bob, topic.name, { queue: queue.name });
      expect(bound.status).toBe(201);
      expect(bound.body).toMatchObject({ pattern: "#", queueCreated: false });
      expect(await getQueue(bob, queue.name)).toMatchObject({ ackTimeoutMs: 5000 });
    });

    it("refuses someone else's queue (403 NOT_RESOURCE_OWNER) and a second binding (409 SUBSCRIPTION_EXISTS)", async () => {
      const topic = await createTopic(alice);
      const alicesQueue = await createQueue(alice);
      expectError(await bind(bob, topic.name, { queue: alicesQueue.name }), "NOT_RESOURCE_OWNER");
      expect(await listBindings(alice, topic.name)).toEqual([]);
      const queue = uniqueName("sub");
      expect((await bind(bob, topic.name, { queue, pattern: "a" })).status).toBe(201);
      expectError(await bind(bob, topic.name, { queue, pattern: "b" }), "SUBSCRIPTION_EXISTS");
      expect((await listBindings(bob, topic.name)).map((b) => b.pattern)).toEqual(["a"]);
    });

    it("refuses bad patterns (INVALID_PATTERN), bad queue names and unknown topics, creating no queue", async () => {
      const topic = await createTopic(alice);
      const queue = uniqueName("sub");
      for (const pattern of ["", "a..b", "a*", "a.#b", "# #", "a.", "*#"]) {
        expectError(await bind(bob, topic.name, { queue, pattern }), "INVALID_PATTERN");
      }
      expectError(await bind(bob, topic.name, { queue: "bad name" }), "INVALID_NAME");
      expectError(await bind(bob, topic.name, { pattern: "#" }), "VALIDATION_FAILED");
      expectError(await bind(bob, uniqueName("nope"), { queue }), "TOPIC_NOT_FOUND");
      expectError(await bob.get(`/v1/queues/${queue}`), "QUEUE_NOT_FOUND");
      expect(await listBindings(alice, topic.name)).toEqual([]);
    });
  });

  describe("copying", () => {
    it("keeps matching messages published while nobody consumes, with topic headers, and only those", async () => {
      const topic = await createTopic(alice);
      await publishToTopic(alice, topic.name, [{ payload: "before", key: "orders.old" }]);
      const queue = uniqueName("sub");
      await bind(bob, topic.name, { queue, pattern: "orders.#" });
      const offsets = await publishToTopic(alice, topic.name, [
        { payload: { n: 1 }, key: "orders.eu.created", headers: { trace: "t1" } },
        { payload: { n: 2 }, key: "payments.eu" },
        { payload: { n: 3 }, key: "orders" },
        { payload: { n: 4 } },
      ]);
      await copiesCaughtUp(topic.name, { [queue]: 2 });
      const copied = await drain(bob, queue);
      expect(copied.map((m) => m.payload)).toEqual([{ n: 1 }, { n: 3 }]);
      expect(copied[0]?.headers).toEqual({
        trace: "t1",
        "aviso-topic": topic.name,
        "aviso-routing-key": "orders.eu.created",
        "aviso-offset": String(offsets[0]),
      });
      expect(copied[1]?.headers).toEqual({
        "aviso-topic": topic.name,
        "aviso-routing-key": "orders",
        "aviso-offset": String(offsets[2]),
      });
    });

    it("follows each pattern through the real path (AMQP * and # rules)", async () => {
      const topic = await createTopic(alice);
      const expected: Record<string, string[]> = {
        "a.*.c": ["a.b.c", "a.x.c"],
        "a.#": ["a.b.c", "a.x.c", "a", "a.b", "a.b.c.d"],
        "#": ["a.b.c", "a.x.c", "a", "a.b", "b", "x.b", "a.b.c.d", "", "x.y.c"],
        "*.b": ["a.b", "x.b"],
        "a.b.c": ["a.b.c"],
        "#.c": ["a.b.c", "a.x.c", "x.y.c"],
      };
      const queues = new Map<string, string>();
      for (const pattern of Object.keys(expected)) {
        const queue = uniqueName("pat");
        queues.set(pattern, queue);
        expect((await bind(bob, topic.name, { queue, pattern })).status).toBe(201);
      }
      const keys = expected["#"] as string[];
      await publishToTopic(
        alice,
        topic.name,
        keys.map((key) => ({ payload: key, key })),
      );
      await copiesCaughtUp(
        topic.name,
        Object.fromEntries([...queues].map(([pattern, queue]) => [queue, expected[pattern]?.length ?? 0])),
      );
      for (const [pattern, keysWanted] of Object.entries(expected)) {
        const copied = await drain(bob, queues.get(pattern) as string);
        expect(
          copied.map((m) => m.payload),
          pattern,
        ).toEqual(keysWanted);
      }
    });

    it("keeps what a binding has not copied yet past the topic's retention, and copies it later", async () => {
      // The queue holds 4, so the pump stops at offset 4 (QUEUE_FULL) while retention keeps 2 messages.
      const topic = await createTopic(alice, { retention: { maxMessages: 2 } });
      const queue = (await createQueue(bob, { maxLength: 4 })).name;
      await bind(bob, topic.name, { queue });
      const batch = (from: number) => Array.from({ length: 4 }, (_, i) => ({ payload: from + i, key: "k" }));
      await publishToTopic(alice, topic.name, batch(0));
      await copiesCaughtUp(topic.name, { [queue]: 4 });
      await publishToTopic(alice, topic.name, batch(4));
      // Retention (every second) trims 0–3, which were copied; without the binding's floor it would cut at 6.
      await eventually(async () =>
        expect((await getTopic(alice, topic.name)).firstOffset).toBeGreaterThanOrEqual(4),
      );
      expect((await getTopic(alice, topic.name)).firstOffset).toBe(4);
      expect((await listBindings(bob, topic.name))[0]?.nextOffset).toBe(4);
      const first = await drain(bob, queue);
      await ack(
        bob,
        queue,
        first.map((m) => m.receipt),
      );
      await copiesCaughtUp(topic.name, { [queue]: 4 });
      const later = await drain(bob, queue);
      expect(later.map((m) => m.headers?.["aviso-offset"])).toEqual(["4", "5", "6", "7"]);
    });

    it("copies into a queue a consumer is long-polling, as soon as the topic commits", async () => {
      const topic = await createTopic(alice);
      const queue = uniqueName("sub");
      await bind(bob, topic.name, { queue });
      const waiting = receive(bob, queue, { waitMs: 10_000 });
      await publishToTopic(alice, topic.name, [{ payload: "pushed through", key: "k" }]);
      const [message] = await waiting;
      expect(message).toMatchObject({ payload: "pushed through", headers: { "aviso-routing-key": "k" } });
    });
  });

  describe("DELETE /v1/topics/{name}/subscriptions/{queue}", () => {
    it("unbinds with 204: the queue stays with what it had and gets no more copies", async () => {
      const topic = await createTopic(alice);
      const removed = uniqueName("sub");
      const control = uniqueName("ctl");
      await bind(bob, topic.name, { queue: removed });
      await bind(bob, topic.name, { queue: control });
      await publishToTopic(alice, topic.name, [{ payload: "kept" }]);
      await copiesCaughtUp(topic.name, { [removed]: 1, [control]: 1 });
      const deleted = await bob.delete(`/v1/topics/${topic.name}/subscriptions/${removed}`);
      expect(deleted.status).toBe(204);
      expect((await listBindings(bob, topic.name)).map((b) => b.queue)).toEqual([control]);
      await publishToTopic(alice, topic.name, [{ payload: "after" }]);
      // Both pumps are woken by the same commit: once the control binding has copied "after",
      // the removed one, were it still copying, would have too.
      await copiesCaughtUp(topic.name, { [control]: 2 });
      expect((await drain(bob, control)).map((m) => m.payload)).toEqual(["kept", "after"]);
      expect((await drain(bob, removed)).map((m) => m.payload)).toEqual(["kept"]);
      expectError(
        await bob.delete(`/v1/topics/${topic.name}/subscriptions/${removed}`),
        "SUBSCRIPTION_NOT_FOUND",
      );
      expectError(
        await bob.delete(`/v1/topics/${uniqueName("nope")}/subscriptions/${removed}`),
        "TOPIC_NOT_FOUND",
      );
    });

    it("is allowed to the queue's creator and the topic's creator, no one else", async () => {
      const topic = await createTopic(alice);
      const queue = uniqueName("sub");
      await bind(bob, topic.name, { queue });
      const carol = (await newUser(node.url, "carol")).api;
      expectError(
        await carol.delete(`/v1/topics/${topic.name}/subscriptions/${queue}`),
        "NOT_RESOURCE_OWNER",
      );
      expect(await listBindings(alice, topic.name)).toHaveLength(1);
      expect((await alice.delete(`/v1/topics/${topic.name}/subscriptions/${queue}`)).status).toBe(204);
      expect(await listBindings(alice, topic.name)).toEqual([]);
      expect(await getQueue(bob, queue)).toMatchObject({ creator: bobName, owner: bobName });
    });

    it("ends with the topic or the queue: deleting either ends the binding, the other keeps working", async () => {
      const topic = await createTopic(alice);
      const queue = uniqueName("sub");
      await bind(bob, topic.name, { queue });
      expect((await bob.delete(`/v1/queues/${queue}`)).status).toBe(204);
      expect(await listBindings(alice, topic.name)).toMatchObject([
        { queue, state: "ended", endedReason: "QUEUE_NOT_FOUND", endedAt: expect.any(Number) },
      ]);
      // An ended binding can be removed from the listing like an active one.
      expect((await bob.delete(`/v1/topics/${topic.name}/subscriptions/${queue}`)).status).toBe(204);
      expect(await listBindings(alice, topic.name)).toEqual([]);
      expect(await publishToTopic(alice, topic.name, [{ payload: 1 }])).toEqual([0]);

      const doomed = await createTopic(alice);
      const survivor = uniqueName("sub");
      await bind(bob, doomed.name, { queue: survivor });
      expect((await alice.delete(`/v1/topics/${doomed.name}`)).status).toBe(204);
      expectError(await bob.get(`/v1/topics/${doomed.name}/subscriptions`), "TOPIC_NOT_FOUND");
      expect(await publishToQueue(bob, survivor, [{ payload: "still a queue" }])).toHaveLength(1);
      expect((await receive(bob, survivor)).map((m) => m.payload)).toEqual(["still a queue"]);
    });
  });
});
