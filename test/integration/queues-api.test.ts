import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import {
  ack,
  createQueue,
  type Delivery,
  getQueue,
  idNumbers,
  publishToQueue,
  type QueueView,
  receive,
} from "../helpers/broker-api.ts";
import { expectError } from "../helpers/expect-error.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";

// Concurrent: every case uses its own resources; the waits (timers, copies) overlap.
describe.concurrent.each(storeKinds)("queue routes (%s store)", (kind) => {
  let node: TestNode;
  let alice: Api;
  let aliceName: string;
  let bob: Api;

  beforeAll(async () => {
    node = await startNodeOn(kind, { prefix: "queues_api" });
    const a = await newUser(node.url, "alice");
    alice = a.api;
    aliceName = a.username;
    bob = (await newUser(node.url, "bob")).api;
  });
  afterAll(async () => {
    await node?.close();
  });

  describe("POST /v1/queues", () => {
    it("creates a queue owned by the caller with every default in its view", async () => {
      const name = uniqueName("q");
      const created = await alice.post<QueueView>("/v1/queues", { name });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
        name,
        creator: aliceName,
        owner: aliceName,
        private: false,
        ackTimeoutMs: 30_000,
        maxDeliveries: null,
        deadLetterQueue: null,
        deadLetter: null,
        messageTtlMs: null,
        maxLength: null,
        createdAt: expect.any(Number),
        depth: 0,
        inFlight: 0,
        consumers: 0,
      });
      expect(Math.abs(created.body.createdAt - Date.now())).toBeLessThan(60_000);
      expect(await getQueue(alice, name)).toEqual(created.body);
    });

    it("keeps every setting it was created with", async () => {
      const dlq = await createQueue(alice);
      const settings = {
        private: true,
        ackTimeoutMs: 1234,
        maxDeliveries: 3,
        deadLetterQueue: dlq.name,
        messageTtlMs: 60_000,
        maxLength: 10,
      };
      const queue = await createQueue(alice, settings);
      expect(queue).toMatchObject(settings);
      expect(await getQueue(alice, queue.name)).toMatchObject({ ...settings, name: queue.name, depth: 0 });
    });

    it("refuses a name in use with 409 QUEUE_EXISTS, whoever asks, and keeps the first queue", async () => {
      const queue = await createQueue(alice, { ackTimeoutMs: 777 });
      expectError(await alice.post("/v1/queues", { name: queue.name }), "QUEUE_EXISTS");
      expectError(await bob.post("/v1/queues", { name: queue.name, ackTimeoutMs: 5 }), "QUEUE_EXISTS");
      expect(await getQueue(alice, queue.name)).toMatchObject({
        creator: aliceName,
        owner: aliceName,
        ackTimeoutMs: 777,
      });
    });

    it("refuses names that break the naming rules with 400 INVALID_NAME and creates nothing", async () => {
      const suffix = uniqueName("x");
      const badNames = [
        `has space-${suffix}`,
        `-leading-dash-${suffix}`,
        `.dot-${suffix}`,
        `slash/${suffix}`,
        `ünïcode-${suffix}`,
        `star*-${suffix}`,
        `${suffix}-${"a".repeat(130)}`.slice(0, 129),
      ];
      for (const name of badNames) {
        expectError(await alice.post("/v1/queues", { name }), "INVALID_NAME");
      }
      const listed = await alice.get<{ queues: QueueView[] }>("/v1/queues");
      expect(listed.body.queues.filter((queue) => queue.name.includes(suffix))).toEqual([]);
    });

    it("refuses wrong types and out-of-range values with 400 VALIDATION_FAILED naming the field", async () => {
      const name = uniqueName("q");
      const cases: Array<[Record<string, unknown>, string]> = [
        [{}, "/name"],
        [{ name: 5 }, "/name"],
        [{ name: "" }, "/name"],
        [{ name, private: "yes" }, "/private"],
        [{ name, ackTimeoutMs: "100" }, "/ackTimeoutMs"],
        [{ name, ackTimeoutMs: 0 }, "/ackTimeoutMs"],
        [{ name, ackTimeoutMs: 1.5 }, "/ackTimeoutMs"],
        [{ name, maxDeliveries: 0 }, "/maxDeliveries"],
        [{ name, maxLength: -1 }, "/maxLength"],
        [{ name, messageTtlMs: "soon" }, "/messageTtlMs"],
        [{ name, deadLetterQueue: 7 }, "/deadLetterQueue"],
        [{ name, colour: "blue" }, "/colour"],
      ];
      for (const [body, path] of cases) {
        const refused = await alice.post<{ error: { details: { problems: Array<{ path: string }> } } }>(
          "/v1/queues",
          body,
        );
        expectError(refused, "VALIDATION_FAILED");
        expect(refused.body.error.details.problems.map((problem) => problem.path)).toContain(path);
      }
      expectError(await alice.get(`/v1/queues/${name}`), "QUEUE_NOT_FOUND");
    });

    it("refuses a dead-letter queue that does not exist or is the queue itself (400 INVALID_DEAD_LETTER_QUEUE)", async () => {
      const name = uniqueName("q");
      const missing = await alice.post("/v1/queues", { name, deadLetterQueue: uniqueName("absent") });
      expectError(missing, "INVALID_DEAD_LETTER_QUEUE");
      expectError(
        await alice.post("/v1/queues", { name, deadLetterQueue: name }),
        "INVALID_DEAD_LETTER_QUEUE",
      );
      expectError(await alice.get(`/v1/queues/${name}`), "QUEUE_NOT_FOUND");
    });
  });

  describe("GET /v1/queues and /v1/queues/{name}", () => {
    it("report depth (ready + delayed) and in-flight counts as messages move", async () => {
      const queue = await createQueue(alice);
      await publishToQueue(alice, queue.name, [{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
      await publishToQueue(alice, queue.name, [{ payload: "later", delayMs: 60_000 }]);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 4, inFlight: 0 });
      const [first] = await receive(alice, queue.name);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 3, inFlight: 1 });
      const listed = await bob.get<{ queues: QueueView[] }>("/v1/queues");
      expect(listed.status).toBe(200);
      expect(listed.body.queues.find((q) => q.name === queue.name)).toMatchObject({
        depth: 3,
        inFlight: 1,
        consumers: 0,
      });
      await ack(alice, queue.name, [(first as Delivery).receipt]);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 3, inFlight: 0 });
    });

    it("answers 404 QUEUE_NOT_FOUND for a queue nobody created", async () => {
      expectError(await alice.get(`/v1/queues/${uniqueName("nope")}`), "QUEUE_NOT_FOUND");
    });
  });

  describe("GET /v1/queues/{name}/lookup", () => {
    it("names the node serving it (this one, standalone); 404 unknown or private to another user, 401 without a token", async () => {
      const queue = await createQueue(alice);
      const self = (await alice.get<{ self: { id: string; httpUrl: string } }>("/v1/cluster")).body.self;
      const found = await bob.get(`/v1/queues/${queue.name}/lookup`);
      expect(found.status).toBe(200);
      expect(found.body).toEqual({ node: self.id, httpUrl: node.url });
      expectError(await alice.get(`/v1/queues/${uniqueName("missing")}/lookup`), "QUEUE_NOT_FOUND");
      const secret = await createQueue(alice, { private: true });
      expectError(await bob.get(`/v1/queues/${secret.name}/lookup`), "QUEUE_NOT_FOUND");
      expect((await alice.get(`/v1/queues/${secret.name}/lookup`)).status).toBe(200);
      expectError(await new Api(node.url).get(`/v1/queues/${queue.name}/lookup`), "AUTH_REQUIRED");
    });
  });

  describe("DELETE /v1/queues/{name}", () => {
    it("lets only the creator delete: another user gets 403 NOT_RESOURCE_OWNER and the messages stay", async () => {
      const queue = await createQueue(alice);
      const ids = await publishToQueue(alice, queue.name, [{ payload: "a" }, { payload: "b" }]);
      expectError(await bob.delete(`/v1/queues/${queue.name}`), "NOT_RESOURCE_OWNER");
      expect(await getQueue(alice, queue.name)).toMatchObject({
        creator: aliceName,
        owner: aliceName,
        depth: 2,
      });
      expect((await receive(bob, queue.name, { max: 10 })).map((m) => m.id)).toEqual(ids);
    });

    it("ends a long-poll on the deleted queue at once with 404 QUEUE_NOT_FOUND", async () => {
      const queue = await createQueue(alice);
      const started = Date.now();
      const waiting = bob.post(`/v1/queues/${queue.name}/receive`, { waitMs: 10_000 });
      await getQueue(alice, queue.name);
      expect((await alice.delete(`/v1/queues/${queue.name}`)).status).toBe(204);
      const answer = await waiting;
      // Either the long-poll was parked and is told the queue went away, or it arrived after the delete.
      expectError(answer, "QUEUE_NOT_FOUND");
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it("deletes with 204; afterwards every route answers 404 and the name starts empty if reused", async () => {
      const queue = await createQueue(alice);
      await publishToQueue(alice, queue.name, [{ payload: "gone" }, { payload: "too" }]);
      await receive(alice, queue.name);
      const deleted = await alice.delete(`/v1/queues/${queue.name}`);
      expect(deleted.status).toBe(204);
      expect(deleted.body).toBe("");
      expectError(await alice.get(`/v1/queues/${queue.name}`), "QUEUE_NOT_FOUND");
      expectError(await alice.delete(`/v1/queues/${queue.name}`), "QUEUE_NOT_FOUND");
      expectError(await alice.post(`/v1/queues/${queue.name}/messages`, { payload: 1 }), "QUEUE_NOT_FOUND");
      expectError(await alice.post(`/v1/queues/${queue.name}/receive`, {}), "QUEUE_NOT_FOUND");
      const listed = await alice.get<{ queues: QueueView[] }>("/v1/queues");
      expect(listed.body.queues.map((q) => q.name)).not.toContain(queue.name);
      const again = await alice.post<QueueView>("/v1/queues", { name: queue.name });
      expect(again.status).toBe(201);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
      expect(await receive(alice, queue.name, { max: 10 })).toEqual([]);
    });
  });

  describe("POST /v1/queues/{name}/messages", () => {
    it("answers one id for one message and increasing ids for a batch", async () => {
      const queue = await createQueue(alice);
      const [single] = await publishToQueue(alice, queue.name, [{ payload: { n: 0 } }]);
      expect(single).toMatch(/^[1-9][0-9]*$/);
      const batch = await publishToQueue(
        alice,
        queue.name,
        Array.from({ length: 5 }, (_, n) => ({ payload: { n: n + 1 } })),
      );
      expect(batch).toHaveLength(5);
      const numbers = idNumbers([single as string, ...batch]);
      for (let i = 1; i < numbers.length; i += 1) {
        expect(numbers[i]).toBeGreaterThan(numbers[i - 1] as number);
      }
      const received = await receive(alice, queue.name, { max: 10 });
      expect(received.map((m) => m.id)).toEqual([single, ...batch]);
      expect(received.map((m) => m.payload)).toEqual([0, 1, 2, 3, 4, 5].map((n) => ({ n })));
    });

    it("refuses an empty batch and a message without payload with 400 VALIDATION_FAILED", async () => {
      const queue = await createQueue(alice);
      expectError(
        await alice.post(`/v1/queues/${queue.name}/messages`, { messages: [] }),
        "VALIDATION_FAILED",
      );
      expectError(
        await alice.post(`/v1/queues/${queue.name}/messages`, { headers: {} }),
        "VALIDATION_FAILED",
      );
      expectError(
        await alice.post(`/v1/queues/${queue.name}/messages`, { payload: 1, headers: { a: 1 } }),
        "VALIDATION_FAILED",
      );
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0 });
    });
  });

  describe("POST /v1/queues/{name}/receive", () => {
    it("leases up to max messages in order with receipts, then answers empty", async () => {
      const queue = await createQueue(alice);
      const ids = await publishToQueue(
        alice,
        queue.name,
        [1, 2, 3, 4, 5].map((n) => ({ payload: n })),
      );
      const first = await receive(alice, queue.name, { max: 3 });
      expect(first.map((m) => m.id)).toEqual(ids.slice(0, 3));
      for (const message of first) {
        expect(message).toMatchObject({ deliveries: 1, publishedAt: expect.any(Number) });
        expect(message.receipt).toEqual(expect.any(String));
      }
      expect(new Set(first.map((m) => m.receipt)).size).toBe(3);
      const rest = await receive(alice, queue.name, { max: 10 });
      expect(rest.map((m) => m.payload)).toEqual([4, 5]);
      const empty = await alice.post(`/v1/queues/${queue.name}/receive`, {});
      expect(empty.status).toBe(200);
      expect(empty.body).toEqual({ messages: [] });
    });

    it("receives one message when max is not given", async () => {
      const queue = await createQueue(alice);
      await publishToQueue(alice, queue.name, [{ payload: "a" }, { payload: "b" }]);
      expect(await receive(alice, queue.name)).toHaveLength(1);
    });

    it("long-polls: answers as soon as another request publishes", async () => {
      const queue = await createQueue(alice);
      const started = Date.now();
      const waiting = receive(bob, queue.name, { waitMs: 10_000 });
      // A round trip that lets the long-poll reach the node first, and shows the queue is empty until the publish.
      expect(await receive(alice, queue.name)).toEqual([]);
      const [id] = await publishToQueue(alice, queue.name, [{ payload: "wake up" }]);
      const received = await waiting;
      expect(received.map((m) => [m.id, m.payload])).toEqual([[id, "wake up"]]);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it("long-polls until waitMs and answers empty when nothing arrives", async () => {
      const queue = await createQueue(alice);
      const started = Date.now();
      expect(await receive(alice, queue.name, { waitMs: 300 })).toEqual([]);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(280);
      expect(elapsed).toBeLessThan(3_000);
    });

    it("refuses max and waitMs beyond the configured limits with 400 VALIDATION_FAILED", async () => {
      const queue = await createQueue(alice);
      await publishToQueue(alice, queue.name, [{ payload: 1 }]);
      const receivePath = `/v1/queues/${queue.name}/receive`;
      expectError(await alice.post(receivePath, { max: 1001 }), "VALIDATION_FAILED");
      expectError(await alice.post(receivePath, { waitMs: 20_001 }), "VALIDATION_FAILED");
      expectError(await alice.post(receivePath, { max: 0 }), "VALIDATION_FAILED");
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 1, inFlight: 0 });
    });
  });

  describe("POST /v1/queues/{name}/ack", () => {
    it("removes acked messages and reports receipts no longer in flight as stale", async () => {
      const queue = await createQueue(alice);
      await publishToQueue(alice, queue.name, [{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
      const received = await receive(alice, queue.name, { max: 2 });
      const receipts = received.map((m) => m.receipt);
      expect(await ack(alice, queue.name, receipts)).toEqual({ acked: 2, stale: [] });
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 1, inFlight: 0 });
      expect(await ack(alice, queue.name, receipts)).toEqual({ acked: 0, stale: receipts });
      const [third] = await receive(alice, queue.name);
      const mixed = await ack(alice, queue.name, [(third as Delivery).receipt, receipts[0] as string]);
      expect(mixed).toEqual({ acked: 1, stale: [receipts[0]] });
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
      expect(await receive(alice, queue.name, { max: 10 })).toEqual([]);
    });

    it("refuses a malformed receipt with 400 INVALID_RECEIPT and acks nothing of that request", async () => {
      const queue = await createQueue(alice);
      await publishToQueue(alice, queue.name, [{ payload: "keep" }]);
      const [message] = await receive(alice, queue.name);
      const good = (message as Delivery).receipt;
      for (const bad of ["not-a-receipt", "1.2", "A.B.C.D", "1.2.3.4.5", "1.2.3.zzzzzzzz"]) {
        expectError(
          await alice.post(`/v1/queues/${queue.name}/ack`, { receipts: [good, bad] }),
          "INVALID_RECEIPT",
        );
        expectError(
          await alice.post(`/v1/queues/${queue.name}/nack`, { receipts: [good, bad] }),
          "INVALID_RECEIPT",
        );
      }
      expectError(await alice.post(`/v1/queues/${queue.name}/ack`, { receipts: [] }), "VALIDATION_FAILED");
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 1 });
      expect(await ack(alice, queue.name, [good])).toEqual({ acked: 1, stale: [] });
    });
  });

  describe("receipts", () => {
    it("are refused on another queue (400 INVALID_RECEIPT): a receipt never settles another queue's delivery", async () => {
      const one = await createQueue(alice);
      const two = await createQueue(alice);
      await publishToQueue(alice, one.name, [{ payload: "one" }]);
      await publishToQueue(alice, two.name, [{ payload: "two" }]);
      const [fromOne] = await receive(alice, one.name);
      const [fromTwo] = await receive(alice, two.name);
      const receipt = (fromOne as Delivery).receipt;
      expectError(await alice.post(`/v1/queues/${two.name}/ack`, { receipts: [receipt] }), "INVALID_RECEIPT");
      expectError(
        await alice.post(`/v1/queues/${two.name}/nack`, { receipts: [receipt] }),
        "INVALID_RECEIPT",
      );
      expect(await getQueue(alice, two.name)).toMatchObject({ depth: 0, inFlight: 1 });
      expect(await ack(alice, one.name, [receipt])).toEqual({ acked: 1, stale: [] });
      expect(await ack(alice, two.name, [(fromTwo as Delivery).receipt])).toEqual({ acked: 1, stale: [] });
    });

    it("settle a delivery once when named twice in one request", async () => {
      const queue = await createQueue(alice);
      await publishToQueue(alice, queue.name, [{ payload: 1 }, { payload: 2 }]);
      const [first, second] = await receive(alice, queue.name, { max: 2 });
      const once = (first as Delivery).receipt;
      expect(await ack(alice, queue.name, [once, once])).toEqual({ acked: 1, stale: [once] });
      const twice = (second as Delivery).receipt;
      const nacked = await alice.post(`/v1/queues/${queue.name}/nack`, { receipts: [twice, twice] });
      expect(nacked.body).toEqual({ acked: 1, stale: [twice] });
      expect((await receive(alice, queue.name, { max: 10 })).map((m) => [m.payload, m.deliveries])).toEqual([
        [2, 2],
      ]);
    });
  });

  describe("POST /v1/queues/{name}/nack", () => {
    it("returns a message at once, redelivered with deliveries incremented and the old receipt stale", async () => {
      const queue = await createQueue(alice);
      const [id] = await publishToQueue(alice, queue.name, [{ payload: "again" }]);
      const [first] = await receive(alice, queue.name);
      const nacked = await alice.post(`/v1/queues/${queue.name}/nack`, {
        receipts: [(first as Delivery).receipt],
      });
      expect(nacked.status).toBe(200);
      expect(nacked.body).toEqual({ acked: 1, stale: [] });
      const [second] = await receive(alice, queue.name);
      expect(second).toMatchObject({ id, payload: "again", deliveries: 2 });
      expect(second?.receipt).not.toBe(first?.receipt);
      expect(await ack(alice, queue.name, [(first as Delivery).receipt])).toEqual({
        acked: 0,
        stale: [(first as Delivery).receipt],
      });
    });

    it("with delayMs: not redelivered before the delay, redelivered after it", async () => {
      const queue = await createQueue(alice);
      const [id] = await publishToQueue(alice, queue.name, [{ payload: "later" }]);
      const [first] = await receive(alice, queue.name);
      const nackedAt = Date.now();
      const nacked = await alice.post(`/v1/queues/${queue.name}/nack`, {
        receipts: [(first as Delivery).receipt],
        delayMs: 1000,
      });
      expect(nacked.body).toEqual({ acked: 1, stale: [] });
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 1, inFlight: 0 });
      expect(await receive(alice, queue.name)).toEqual([]);
      const [again] = await receive(alice, queue.name, { waitMs: 5_000 });
      expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(995);
      expect(again).toMatchObject({ id, payload: "later", deliveries: 2 });
    });
  });
});
