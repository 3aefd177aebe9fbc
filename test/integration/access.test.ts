import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import {
  createQueue,
  createTopic,
  type Delivery,
  getQueue,
  getTopic,
  history,
  publishToQueue,
  publishToTopic,
  type QueueView,
  receive,
  type TopicView,
} from "../helpers/broker-api.ts";
import { expectError } from "../helpers/expect-error.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";

// Concurrent: every case uses its own resources; the waits (timers, copies) overlap.
describe.concurrent.each(storeKinds)("access rules (%s store)", (kind) => {
  let node: TestNode;
  let alice: Api;
  let aliceName: string;
  let bob: Api;
  let bobName: string;

  beforeAll(async () => {
    node = await startNodeOn(kind, { prefix: "access" });
    ({ api: alice, username: aliceName } = await newUser(node.url, "alice"));
    ({ api: bob, username: bobName } = await newUser(node.url, "bob"));
  });
  afterAll(async () => {
    await node?.close();
  });

  const grantQueue = (queue: string, username: string, permissions: string[]) =>
    alice.post(`/v1/queues/${queue}/grants`, { username, permissions });
  const grantTopic = (topic: string, username: string, permissions: string[]) =>
    alice.post(`/v1/topics/${topic}/grants`, { username, permissions });

  describe("private queues", () => {
    it("answer every use by a user without a grant as if they did not exist (404 QUEUE_NOT_FOUND, S7) and change nothing", async () => {
      const queue = await createQueue(alice, { private: true });
      await publishToQueue(alice, queue.name, [{ payload: "secret" }]);
      const [leased] = await receive(alice, queue.name);
      const receipts = [(leased as Delivery).receipt];
      const base = `/v1/queues/${queue.name}`;
      expectError(await bob.post(`${base}/messages`, { payload: "intruder" }), "QUEUE_NOT_FOUND");
      expectError(await bob.post(`${base}/receive`, {}), "QUEUE_NOT_FOUND");
      expectError(await bob.post(`${base}/ack`, { receipts }), "QUEUE_NOT_FOUND");
      expectError(await bob.post(`${base}/nack`, { receipts }), "QUEUE_NOT_FOUND");
      expectError(await bob.get(base), "QUEUE_NOT_FOUND");
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 1 });
    });

    it("follow grants: publish only, then consume too, then consume only", async () => {
      const queue = await createQueue(alice, { private: true });
      const base = `/v1/queues/${queue.name}`;
      const publishOnly = await grantQueue(queue.name, bobName, ["publish"]);
      expect(publishOnly.status).toBe(200);
      expect(publishOnly.body).toEqual({
        kind: "queue",
        resource: queue.name,
        username: bobName,
        permissions: ["publish"],
      });
      const [id] = await publishToQueue(bob, queue.name, [{ payload: "from bob" }]);
      expectError(await bob.post(`${base}/receive`, {}), "ACCESS_DENIED");
      expect(await getQueue(bob, queue.name)).toMatchObject({ depth: 1 });

      expect((await grantQueue(queue.name, bobName, ["consume", "publish"])).status).toBe(200);
      const [message] = await receive(bob, queue.name);
      expect(message).toMatchObject({ id, payload: "from bob" });

      expect((await grantQueue(queue.name, bobName, ["consume"])).status).toBe(200);
      expectError(await bob.post(`${base}/messages`, { payload: "no more" }), "ACCESS_DENIED");
      const acked = await bob.post(`${base}/ack`, { receipts: [(message as Delivery).receipt] });
      expect(acked.body).toEqual({ acked: 1, stale: [] });
      expect((await alice.get(`${base}/grants`)).body).toEqual({
        grants: [{ kind: "queue", resource: queue.name, username: bobName, permissions: ["consume"] }],
        next: null,
      });
    });

    it("refuse grants to unknown users (404 USER_NOT_FOUND), by grantees (403) and on unknown queues (404)", async () => {
      const queue = await createQueue(alice, { private: true });
      expectError(await grantQueue(queue.name, uniqueName("ghost"), ["consume"]), "USER_NOT_FOUND");
      expect((await grantQueue(queue.name, bobName, ["publish", "consume"])).status).toBe(200);
      const carol = await newUser(node.url, "carol");
      // Even a grantee holding every permission may not grant.
      expectError(
        await bob.post(`/v1/queues/${queue.name}/grants`, {
          username: carol.username,
          permissions: ["consume"],
        }),
        "NOT_RESOURCE_OWNER",
      );
      expectError(await bob.get(`/v1/queues/${queue.name}/grants`), "NOT_RESOURCE_OWNER");
      expectError(await grantQueue(uniqueName("nope"), bobName, ["consume"]), "QUEUE_NOT_FOUND");
      expectError(await carol.api.post(`/v1/queues/${queue.name}/receive`, {}), "QUEUE_NOT_FOUND");
    });

    it("are hidden from other users' lists, shown to grantees and the creator", async () => {
      const hidden = await createQueue(alice, { private: true });
      const shared = await createQueue(alice, { private: true });
      const open = await createQueue(alice);
      await grantQueue(shared.name, bobName, ["consume"]);
      const names = async (api: Api) =>
        (await api.get<{ queues: QueueView[] }>("/v1/queues")).body.queues.map((q) => q.name);
      const bobSees = await names(bob);
      expect(bobSees).not.toContain(hidden.name);
      expect(bobSees).toEqual(expect.arrayContaining([shared.name, open.name]));
      expect(await names(alice)).toEqual(expect.arrayContaining([hidden.name, shared.name, open.name]));
    });

    it("lose their grants when deleted: a new queue with the same name starts private to its new creator", async () => {
      const queue = await createQueue(alice, { private: true });
      await grantQueue(queue.name, bobName, ["publish", "consume"]);
      expect((await alice.delete(`/v1/queues/${queue.name}`)).status).toBe(204);
      const carol = await newUser(node.url, "carol");
      expect((await carol.api.post("/v1/queues", { name: queue.name, private: true })).status).toBe(201);
      expectError(await bob.post(`/v1/queues/${queue.name}/messages`, { payload: 1 }), "QUEUE_NOT_FOUND");
      expect((await carol.api.get(`/v1/queues/${queue.name}/grants`)).body).toEqual({
        grants: [],
        next: null,
      });
    });

    it("refuse a private dead-letter queue the creator may not see (as missing) or not publish to (403 ACCESS_DENIED)", async () => {
      const dlq = await createQueue(alice, { private: true });
      const name = uniqueName("q");
      expectError(
        await bob.post("/v1/queues", { name, deadLetterQueue: dlq.name }),
        "INVALID_DEAD_LETTER_QUEUE",
      );
      await grantQueue(dlq.name, bobName, ["consume"]);
      expectError(await bob.post("/v1/queues", { name, deadLetterQueue: dlq.name }), "ACCESS_DENIED");
      expectError(await bob.get(`/v1/queues/${name}`), "QUEUE_NOT_FOUND");
      await grantQueue(dlq.name, bobName, ["publish"]);
      expect((await bob.post("/v1/queues", { name, deadLetterQueue: dlq.name })).status).toBe(201);
    });
  });

  describe("private topics", () => {
    it("answer publish, history, get and binding by a user without a grant as if they did not exist (404 TOPIC_NOT_FOUND, S7)", async () => {
      const topic = await createTopic(alice, { private: true });
      await publishToTopic(alice, topic.name, [{ payload: "secret" }]);
      const base = `/v1/topics/${topic.name}`;
      expectError(await bob.post(`${base}/messages`, { payload: "intruder" }), "TOPIC_NOT_FOUND");
      expectError(await bob.get(`${base}/messages`), "TOPIC_NOT_FOUND");
      expectError(await bob.get(base), "TOPIC_NOT_FOUND");
      expectError(await bob.post(`${base}/subscriptions`, { queue: uniqueName("q") }), "TOPIC_NOT_FOUND");
      expectError(await bob.get(`${base}/subscriptions`), "TOPIC_NOT_FOUND");
      expect(await getTopic(alice, topic.name)).toMatchObject({ nextOffset: 1 });
      const topics = (await bob.get<{ topics: TopicView[] }>("/v1/topics")).body.topics;
      expect(topics.map((t) => t.name)).not.toContain(topic.name);
    });

    it("follow grants: consume allows history, not publishing; publish allows publishing, not history", async () => {
      const topic = await createTopic(alice, { private: true });
      await publishToTopic(alice, topic.name, [{ payload: "one" }]);
      await grantTopic(topic.name, bobName, ["consume"]);
      expect((await history(bob, topic.name)).messages.map((m) => m.payload)).toEqual(["one"]);
      expectError(await bob.post(`/v1/topics/${topic.name}/messages`, { payload: "two" }), "ACCESS_DENIED");
      await grantTopic(topic.name, bobName, ["publish"]);
      expect(await publishToTopic(bob, topic.name, [{ payload: "two" }])).toEqual([1]);
      expectError(await bob.get(`/v1/topics/${topic.name}/messages`), "ACCESS_DENIED");
      const topics = (await bob.get<{ topics: TopicView[] }>("/v1/topics")).body.topics;
      expect(topics.map((t) => t.name)).toContain(topic.name);
    });
  });

  describe("creator rights", () => {
    it("never lets one user's token delete another's queue or topic, public, private or granted", async () => {
      const publicQueue = await createQueue(alice);
      const grantedQueue = await createQueue(alice, { private: true });
      const publicTopic = await createTopic(alice);
      const grantedTopic = await createTopic(alice, { private: true });
      await grantQueue(grantedQueue.name, bobName, ["publish", "consume"]);
      await grantTopic(grantedTopic.name, bobName, ["publish", "consume"]);
      for (const queue of [publicQueue, grantedQueue]) {
        expectError(await bob.delete(`/v1/queues/${queue.name}`), "NOT_RESOURCE_OWNER");
        expect(await getQueue(alice, queue.name)).toMatchObject({ creator: aliceName, owner: aliceName });
      }
      for (const topic of [publicTopic, grantedTopic]) {
        expectError(await bob.delete(`/v1/topics/${topic.name}`), "NOT_RESOURCE_OWNER");
        expect(await getTopic(alice, topic.name)).toMatchObject({ creator: aliceName, owner: aliceName });
      }
    });
  });

  describe("authentication", () => {
    it("answers every authenticated route with 401 AUTH_REQUIRED without a token and TOKEN_INVALID with a bad one", async () => {
      const openapi = await new Api(node.url).get<{
        paths: Record<string, Record<string, { security?: unknown[]; requestBody?: unknown }>>;
      }>("/openapi.json");
      const queue = await createQueue(alice);
      const topic = await createTopic(alice);
      let checked = 0;
      for (const [template, operations] of Object.entries(openapi.body.paths)) {
        const path = template
          .replace("/queues/{name}", `/queues/${queue.name}`)
          .replace("/topics/{name}", `/topics/${topic.name}`)
          .replace("{queue}", queue.name);
        for (const [method, operation] of Object.entries(operations)) {
          if (operation.security !== undefined) continue;
          const body = operation.requestBody === undefined ? undefined : {};
          for (const [api, reason] of [
            [new Api(node.url), "AUTH_REQUIRED"],
            [new Api(node.url, "not.a.jwt"), "TOKEN_INVALID"],
          ] as const) {
            const answer = await api.request(method.toUpperCase(), path, body);
            expect(answer.body, `${method} ${path}`).toMatchObject({ error: { reason } });
            expectError(answer, reason);
            expect(answer.headers.get("www-authenticate")).toContain("Bearer");
          }
          checked += 1;
        }
      }
      expect(checked).toBeGreaterThanOrEqual(20);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0 });
      expect(await getTopic(alice, topic.name)).toMatchObject({ nextOffset: 0 });
    });
  });
});
