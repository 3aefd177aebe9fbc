import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import {
  createQueue,
  createTopic,
  type Delivery,
  getQueue,
  history,
  publishToQueue,
  publishToTopic,
  receive,
} from "../helpers/broker-api.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";

interface BindingView {
  topic: string;
  queue: string;
  state: "active" | "ended";
  endedReason: string | null;
  endedAt: number | null;
}

/** Sum of a counter's samples whose line starts with `prefix` (name and labels). */
async function counter(anonymous: Api, prefix: string): Promise<number> {
  const text = (await anonymous.get<string>("/metrics")).body;
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(prefix)) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

// S4 (docs/security.md): resources by identity. A queue or topic created later
// under a reused name is a different resource that inherits nothing. Sequential:
// the dead-letter cases read a node-wide counter.
describe.each(storeKinds)("resource identity and name reuse (%s store)", (kind) => {
  let node: TestNode;
  let anonymous: Api;
  let alice: Api;
  let bob: Api;
  let carol: Api;
  let aliceName: string;
  let bobName: string;

  beforeAll(async () => {
    node = await startNodeOn(kind, { prefix: "identity" });
    anonymous = new Api(node.url);
    ({ api: alice, username: aliceName } = await newUser(node.url, "alice"));
    ({ api: bob, username: bobName } = await newUser(node.url, "bob"));
    carol = (await newUser(node.url, "carol")).api;
  });
  afterAll(async () => {
    await node?.close();
  });

  const bind = (api: Api, topic: string, queue: string) =>
    api.post<BindingView>(`/v1/topics/${topic}/subscriptions`, { queue });
  const bindings = async (api: Api, topic: string) =>
    (await api.get<{ subscriptions: BindingView[] }>(`/v1/topics/${topic}/subscriptions`)).body.subscriptions;

  /** Delivers the queue's one message and nacks it: with maxDeliveries 1 it is dead-lettered at once. */
  async function deadLetterOne(queue: string): Promise<void> {
    await publishToQueue(alice, queue, [{ payload: "doomed" }]);
    const [delivery] = await receive(alice, queue, { waitMs: 5_000 });
    const nacked = await alice.post(`/v1/queues/${queue}/nack`, {
      receipts: [(delivery as Delivery).receipt],
    });
    expect(nacked.status).toBe(200);
  }

  describe("ids", () => {
    it("gives queues and topics an id that a later one of the same name does not share", async () => {
      const queue = await createQueue(alice);
      const topic = await createTopic(alice);
      const queueId = (queue as unknown as { id: string }).id;
      const topicId = (topic as unknown as { id: string }).id;
      expect(queueId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(topicId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(await getQueue(alice, queue.name)).toMatchObject({ id: queueId });
      expect((await alice.delete(`/v1/queues/${queue.name}`)).status).toBe(204);
      expect((await alice.delete(`/v1/topics/${topic.name}`)).status).toBe(204);
      const again = await createQueue(alice, { name: queue.name });
      const topicAgain = await createTopic(alice, { name: topic.name });
      expect(again).toMatchObject({ name: queue.name });
      expect((again as unknown as { id: string }).id).not.toBe(queueId);
      expect((topicAgain as unknown as { id: string }).id).not.toBe(topicId);
    });
  });

  describe("dead letters", () => {
    it("shows a usable dead-letter queue as ok", async () => {
      const dlq = await createQueue(alice);
      const queue = await createQueue(alice, { deadLetterQueue: dlq.name });
      expect(queue).toMatchObject({
        deadLetterQueue: dlq.name,
        deadLetter: { queue: dlq.name, state: "ok" },
      });
      expect(await createQueue(alice)).toMatchObject({ deadLetterQueue: null, deadLetter: null });
    });

    it("sends nothing to a queue that took the name of a deleted dead-letter queue: drops, counts, shows missing", async () => {
      const dlq = await createQueue(alice);
      const queue = await createQueue(alice, { deadLetterQueue: dlq.name, maxDeliveries: 1 });
      expect((await alice.delete(`/v1/queues/${dlq.name}`)).status).toBe(204);
      // Bob takes the name; it is public, so alice could publish to it: only identity stops the dead letter.
      await createQueue(bob, { name: dlq.name });
      expect(await getQueue(alice, queue.name)).toMatchObject({
        deadLetterQueue: dlq.name,
        deadLetter: { queue: dlq.name, state: "missing" },
      });
      const lost = await counter(anonymous, 'aviso_dead_letters_lost_total{reason="missing"}');
      await deadLetterOne(queue.name);
      await eventually(async () => {
        expect(await counter(anonymous, 'aviso_dead_letters_lost_total{reason="missing"}')).toBe(lost + 1);
      });
      expect(await getQueue(bob, dlq.name)).toMatchObject({ depth: 0, inFlight: 0 });
      expect(await receive(bob, dlq.name)).toEqual([]);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
    });

    it("drops what the source queue's creator may no longer publish to the target: shows denied", async () => {
      const dlq = await createQueue(carol, { private: true });
      const grant = (permissions: string[]) =>
        carol.post(`/v1/queues/${dlq.name}/grants`, { username: aliceName, permissions });
      expect((await grant(["publish"])).status).toBe(200);
      const queue = await createQueue(alice, { deadLetterQueue: dlq.name, maxDeliveries: 1 });
      expect(queue).toMatchObject({ deadLetter: { queue: dlq.name, state: "ok" } });
      expect((await grant([])).status).toBe(200);
      expect(await getQueue(alice, queue.name)).toMatchObject({
        deadLetter: { queue: dlq.name, state: "denied" },
      });
      const lost = await counter(anonymous, 'aviso_dead_letters_lost_total{reason="denied"}');
      await deadLetterOne(queue.name);
      await eventually(async () => {
        expect(await counter(anonymous, 'aviso_dead_letters_lost_total{reason="denied"}')).toBe(lost + 1);
      });
      expect(await getQueue(carol, dlq.name)).toMatchObject({ depth: 0, inFlight: 0 });
    });

    it("takes a re-created source queue's dead letters for new ones, not repeats of the old queue's", async () => {
      const dlq = await createQueue(alice);
      const source = { deadLetterQueue: dlq.name, maxDeliveries: 1 };
      const queue = await createQueue(alice, source);
      await deadLetterOne(queue.name);
      await eventually(async () => {
        expect(await getQueue(alice, dlq.name)).toMatchObject({ depth: 1 });
      });
      expect((await alice.delete(`/v1/queues/${queue.name}`)).status).toBe(204);
      // Same name, ids numbered from 1 again: its first dead letter is another message.
      await createQueue(alice, { name: queue.name, ...source });
      await deadLetterOne(queue.name);
      await eventually(async () => {
        expect(await getQueue(alice, dlq.name)).toMatchObject({ depth: 2 });
      });
    });

    it("refuses a dead-letter queue its creator may not publish to, creating nothing", async () => {
      const dlq = await createQueue(carol, { private: true });
      const name = uniqueName("q");
      const refused = await alice.post("/v1/queues", { name, deadLetterQueue: dlq.name });
      // A private queue alice may not see answers like a missing one (S7).
      expect([refused.status, (refused.body as { error?: { reason?: string } }).error?.reason]).toEqual([
        400,
        "INVALID_DEAD_LETTER_QUEUE",
      ]);
      expect((await alice.get(`/v1/queues/${name}`)).status).toBe(404);
    });
  });

  describe("durable subscriptions", () => {
    it("a topic deleted and re-created copies nothing into the old binding's queue; binding again starts afresh", async () => {
      const topic = await createTopic(alice);
      const queue = uniqueName("sub");
      expect((await bind(bob, topic.name, queue)).status).toBe(201);
      expect((await alice.delete(`/v1/topics/${topic.name}`)).status).toBe(204);
      await createTopic(alice, { name: topic.name });
      // A witness bound to the new topic shows when the copy has run.
      const witness = uniqueName("sub");
      expect((await bind(bob, topic.name, witness)).status).toBe(201);
      expect((await bindings(bob, topic.name)).map((b) => b.queue)).toEqual([witness]);
      await publishToTopic(alice, topic.name, [{ payload: "new-1" }]);
      await eventually(async () => {
        expect(await getQueue(bob, witness)).toMatchObject({ depth: 1 });
      });
      expect(await getQueue(bob, queue)).toMatchObject({ depth: 0 });
      // The same names bound again: a new binding on the new topic, copying from its head.
      const again = await bind(bob, topic.name, queue);
      expect(again.status).toBe(201);
      expect(again.body).toMatchObject({ state: "active", endedReason: null });
      await publishToTopic(alice, topic.name, [{ payload: "new-2" }]);
      await eventually(async () => {
        expect(await getQueue(bob, queue)).toMatchObject({ depth: 1 });
      });
      expect((await receive(bob, queue)).map((d) => d.payload)).toEqual(["new-2"]);
    });

    it("a deleted queue ends its binding visibly; a queue re-created under its name receives nothing", async () => {
      const topic = await createTopic(alice);
      const queue = uniqueName("sub");
      const witness = uniqueName("sub");
      expect((await bind(bob, topic.name, queue)).status).toBe(201);
      expect((await bind(bob, topic.name, witness)).status).toBe(201);
      expect((await bob.delete(`/v1/queues/${queue}`)).status).toBe(204);
      const listed = await bindings(bob, topic.name);
      expect(listed.find((b) => b.queue === queue)).toMatchObject({
        state: "ended",
        endedReason: "QUEUE_NOT_FOUND",
        endedAt: expect.any(Number),
      });
      expect(listed.find((b) => b.queue === witness)).toMatchObject({ state: "active", endedReason: null });
      await createQueue(bob, { name: queue });
      await publishToTopic(alice, topic.name, [{ payload: "after" }]);
      await eventually(async () => {
        expect(await getQueue(bob, witness)).toMatchObject({ depth: 1 });
      });
      expect(await getQueue(bob, queue)).toMatchObject({ depth: 0 });
    });
  });

  describe("retention", () => {
    it("an ended binding no longer holds back the topic's retention", async () => {
      const topic = await createTopic(alice, { retention: { maxMessages: 1 } });
      const queue = uniqueName("sub");
      expect((await bind(bob, topic.name, queue)).status).toBe(201);
      // The queue goes, its binding ends with its cursor where it was: it must not pin the topic's history.
      expect((await bob.delete(`/v1/queues/${queue}`)).status).toBe(204);
      await publishToTopic(alice, topic.name, [{ payload: 0 }, { payload: 1 }, { payload: 2 }]);
      await eventually(async () => {
        expect(await history(alice, topic.name)).toMatchObject({ firstOffset: 2, nextOffset: 3 });
      });
    });
  });

  describe("grants", () => {
    it("a queue or topic re-created under a deleted one's name inherits none of its grants", async () => {
      const queue = await createQueue(alice, { private: true });
      const topic = await createTopic(alice, { private: true });
      const grant = { username: bobName, permissions: ["publish", "consume"] };
      expect((await alice.post(`/v1/queues/${queue.name}/grants`, grant)).status).toBe(200);
      expect((await alice.post(`/v1/topics/${topic.name}/grants`, grant)).status).toBe(200);
      expect((await bob.post(`/v1/queues/${queue.name}/receive`, {})).status).toBe(200);
      expect((await alice.delete(`/v1/queues/${queue.name}`)).status).toBe(204);
      expect((await alice.delete(`/v1/topics/${topic.name}`)).status).toBe(204);
      await createQueue(carol, { name: queue.name, private: true });
      await createTopic(carol, { name: topic.name, private: true });
      expect((await carol.get(`/v1/queues/${queue.name}/grants`)).body).toEqual({ grants: [], next: null });
      expect((await carol.get(`/v1/topics/${topic.name}/grants`)).body).toEqual({ grants: [], next: null });
      expect([403, 404]).toContain((await bob.post(`/v1/queues/${queue.name}/receive`, {})).status);
      expect([403, 404]).toContain(
        (await bob.post(`/v1/topics/${topic.name}/messages`, { payload: 1 })).status,
      );
    });
  });
});
