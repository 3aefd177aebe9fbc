import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import {
  createTopic,
  getTopic,
  history,
  publishToTopic,
  type TopicMessage,
  type TopicView,
} from "../helpers/broker-api.ts";
import { eventually } from "../helpers/eventually.ts";
import { expectError } from "../helpers/expect-error.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";

// Concurrent: every case uses its own resources; the waits (timers, copies) overlap.
describe.concurrent.each(storeKinds)("topic routes (%s store)", (kind) => {
  let node: TestNode;
  let alice: Api;
  let aliceName: string;
  let bob: Api;
  let bobName: string;

  beforeAll(async () => {
    node = await startNodeOn(kind, { prefix: "topics_api" });
    ({ api: alice, username: aliceName } = await newUser(node.url, "alice"));
    ({ api: bob, username: bobName } = await newUser(node.url, "bob"));
  });
  afterAll(async () => {
    await node?.close();
  });

  describe("POST /v1/topics", () => {
    it("creates a durable public topic with the configured retention by default", async () => {
      const name = uniqueName("t");
      const created = await alice.post<TopicView>("/v1/topics", { name });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
        name,
        creator: aliceName,
        owner: aliceName,
        private: false,
        durable: true,
        retention: { maxAgeMs: 86_400_000, maxMessages: 1_000_000 },
        createdAt: expect.any(Number),
        nextOffset: 0,
        firstOffset: 0,
      });
      // Another user sees the same view without its creator (S7).
      const { creator: _creator, owner: _owner, ...withoutCreator } = created.body;
      expect(await getTopic(bob, name)).toEqual(withoutCreator);
    });

    it("keeps the settings it was created with, including null (unlimited) retention", async () => {
      const topic = await createTopic(alice, {
        private: true,
        durable: false,
        retention: { maxAgeMs: null, maxMessages: 50 },
      });
      expect(topic).toMatchObject({
        private: true,
        durable: false,
        retention: { maxAgeMs: null, maxMessages: 50 },
      });
      expect(await getTopic(alice, topic.name)).toMatchObject({
        retention: { maxAgeMs: null, maxMessages: 50 },
      });
    });

    it("refuses a taken name (409 TOPIC_EXISTS), bad names (INVALID_NAME) and bad fields (VALIDATION_FAILED)", async () => {
      const topic = await createTopic(alice);
      expectError(await bob.post("/v1/topics", { name: topic.name }), "TOPIC_EXISTS");
      expect(await getTopic(alice, topic.name)).toMatchObject({ creator: aliceName, owner: aliceName });
      expectError(await alice.post("/v1/topics", { name: "two words" }), "INVALID_NAME");
      expectError(await alice.post("/v1/topics", { name: "a#b" }), "INVALID_NAME");
      const name = uniqueName("t");
      for (const body of [
        { name, durable: "yes" },
        { name, retention: { maxMessages: 0 } },
        { name, retention: { maxAgeMs: "1d" } },
        { name, retention: { forever: true } },
        { name, retention: 5 },
      ]) {
        expectError(await alice.post("/v1/topics", body), "VALIDATION_FAILED");
      }
      expectError(await alice.get(`/v1/topics/${name}`), "TOPIC_NOT_FOUND");
    });
  });

  describe("GET and DELETE", () => {
    it("lists topics with their offsets and answers 404 TOPIC_NOT_FOUND for unknown names", async () => {
      const topic = await createTopic(alice);
      await publishToTopic(alice, topic.name, [{ payload: 1 }, { payload: 2 }]);
      const listed = await bob.get<{ topics: TopicView[] }>("/v1/topics");
      expect(listed.status).toBe(200);
      expect(listed.body.topics.find((t) => t.name === topic.name)).toMatchObject({
        nextOffset: 2,
        firstOffset: 0,
      });
      expectError(await alice.get(`/v1/topics/${uniqueName("nope")}`), "TOPIC_NOT_FOUND");
    });

    it("lets only the creator delete: 403 NOT_RESOURCE_OWNER leaves topic and history in place", async () => {
      const topic = await createTopic(alice);
      await publishToTopic(alice, topic.name, [{ payload: "kept" }]);
      expectError(await bob.delete(`/v1/topics/${topic.name}`), "NOT_RESOURCE_OWNER");
      expect(await getTopic(bob, topic.name)).toMatchObject({ nextOffset: 1 });
      expect((await history(bob, topic.name)).messages.map((m) => m.payload)).toEqual(["kept"]);
    });

    it("deletes with 204, then answers 404 everywhere; a reused name starts at offset 0", async () => {
      const topic = await createTopic(alice);
      await publishToTopic(alice, topic.name, [{ payload: "old" }, { payload: "older" }]);
      const deleted = await alice.delete(`/v1/topics/${topic.name}`);
      expect(deleted.status).toBe(204);
      expectError(await alice.get(`/v1/topics/${topic.name}`), "TOPIC_NOT_FOUND");
      expectError(await alice.get(`/v1/topics/${topic.name}/messages`), "TOPIC_NOT_FOUND");
      expectError(await alice.post(`/v1/topics/${topic.name}/messages`, { payload: 1 }), "TOPIC_NOT_FOUND");
      expectError(await alice.delete(`/v1/topics/${topic.name}`), "TOPIC_NOT_FOUND");
      const again = await bob.post<TopicView>("/v1/topics", { name: topic.name });
      expect(again.status).toBe(201);
      expect(await getTopic(bob, topic.name)).toMatchObject({
        creator: bobName,
        owner: bobName,
        nextOffset: 0,
        firstOffset: 0,
      });
      expect((await history(bob, topic.name)).messages).toEqual([]);
      expect(await publishToTopic(bob, topic.name, [{ payload: "new" }])).toEqual([0]);
    });
  });

  describe("GET /v1/topics/{name}/lookup", () => {
    it("names the node serving it (this one, standalone); 404 unknown or private to another user, 401 without a token", async () => {
      const topic = await createTopic(alice);
      const self = (await alice.get<{ self: { id: string; httpUrl: string } }>("/v1/cluster")).body.self;
      const found = await bob.get(`/v1/topics/${topic.name}/lookup`);
      expect(found.status).toBe(200);
      expect(found.body).toEqual({ node: self.id, httpUrl: node.url });
      expectError(await alice.get(`/v1/topics/${uniqueName("missing")}/lookup`), "TOPIC_NOT_FOUND");
      const secret = await createTopic(alice, { private: true });
      expectError(await bob.get(`/v1/topics/${secret.name}/lookup`), "TOPIC_NOT_FOUND");
      expect((await alice.get(`/v1/topics/${secret.name}/lookup`)).status).toBe(200);
      expectError(await new Api(node.url).get(`/v1/topics/${topic.name}/lookup`), "AUTH_REQUIRED");
    });
  });

  describe("POST /v1/topics/{name}/messages", () => {
    it("answers the offsets: one for a message, consecutive ones for a batch", async () => {
      const topic = await createTopic(alice);
      expect(await publishToTopic(alice, topic.name, [{ payload: "a", key: "orders.eu" }])).toEqual([0]);
      expect(
        await publishToTopic(alice, topic.name, [
          { payload: "b" },
          { payload: "c", key: "x" },
          { payload: "d" },
        ]),
      ).toEqual([1, 2, 3]);
      expect(await getTopic(alice, topic.name)).toMatchObject({ nextOffset: 4, firstOffset: 0 });
    });

    it("gives concurrent publishes distinct consecutive offsets", async () => {
      const topic = await createTopic(alice);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          publishToTopic(alice, topic.name, [{ payload: i }, { payload: i }]),
        ),
      );
      const offsets = results.flat().sort((a, b) => a - b);
      expect(offsets).toEqual(Array.from({ length: 40 }, (_, i) => i));
      for (const pair of results) expect(pair[1]).toBe((pair[0] as number) + 1);
    });

    it("refuses bad routing keys with 400 INVALID_ROUTING_KEY and publishes none of the batch", async () => {
      const topic = await createTopic(alice);
      await publishToTopic(alice, topic.name, [{ payload: 0, key: "fine.key" }]);
      for (const key of ["a..b", "a.*", "#", "has space", ".a", "a.", "."]) {
        expectError(
          await alice.post(`/v1/topics/${topic.name}/messages`, { payload: 1, key }),
          "INVALID_ROUTING_KEY",
        );
      }
      const batch = {
        messages: [
          { payload: 1, key: "ok" },
          { payload: 2, key: "bad..key" },
        ],
      };
      expectError(await alice.post(`/v1/topics/${topic.name}/messages`, batch), "INVALID_ROUTING_KEY");
      expectError(
        await alice.post(`/v1/topics/${topic.name}/messages`, { payload: 1, key: "k".repeat(256) }),
        "VALIDATION_FAILED",
      );
      expect(await getTopic(alice, topic.name)).toMatchObject({ nextOffset: 1 });
    });

    it("publishes a retried idempotencyKey once and answers the first offset", async () => {
      const topic = await createTopic(alice);
      expect(await publishToTopic(alice, topic.name, [{ payload: "x", idempotencyKey: "evt-1" }])).toEqual([
        0,
      ]);
      expect(await publishToTopic(alice, topic.name, [{ payload: "x", idempotencyKey: "evt-1" }])).toEqual([
        0,
      ]);
      expect(
        await publishToTopic(alice, topic.name, [
          { payload: "y", idempotencyKey: "evt-2" },
          { payload: "y", idempotencyKey: "evt-2" },
          { payload: "x", idempotencyKey: "evt-1" },
          { payload: "z" },
        ]),
      ).toEqual([1, 1, 0, 2]);
      expect((await history(alice, topic.name)).messages.map((m) => m.payload)).toEqual(["x", "y", "z"]);
    });
  });

  describe("GET /v1/topics/{name}/messages (history)", () => {
    it("reads from the oldest offset by default, with keys, payloads and headers", async () => {
      const topic = await createTopic(alice);
      await publishToTopic(alice, topic.name, [
        { payload: { n: 0 }, key: "a.b", headers: { h: "0" } },
        { payload: { n: 1 } },
        { payload: { n: 2 }, key: "c" },
      ]);
      const page = await history(bob, topic.name);
      expect(page).toMatchObject({ complete: true, firstOffset: 0, nextOffset: 3 });
      expect(page.messages.map((m) => [m.offset, m.key, m.payload])).toEqual([
        [0, "a.b", { n: 0 }],
        [1, "", { n: 1 }],
        [2, "c", { n: 2 }],
      ]);
      expect(page.messages[0]?.headers).toEqual({ h: "0" });
      expect(page.messages[1]).not.toHaveProperty("headers");
      for (const message of page.messages) expect(message.publishedAt).toEqual(expect.any(Number));
    });

    it("pages with from and limit (default limit 100) and reads an empty page at nextOffset", async () => {
      const topic = await createTopic(alice);
      await publishToTopic(
        alice,
        topic.name,
        Array.from({ length: 150 }, (_, i) => ({ payload: i })),
      );
      const first = await history(alice, topic.name);
      expect(first.messages.map((m) => m.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      const middle = await history(alice, topic.name, "?from=40&limit=3");
      expect(middle).toMatchObject({ complete: true, firstOffset: 0, nextOffset: 150 });
      expect(middle.messages.map((m: TopicMessage) => m.payload)).toEqual([40, 41, 42]);
      const tail = await history(alice, topic.name, "?from=148&limit=10");
      expect(tail.messages.map((m) => m.offset)).toEqual([148, 149]);
      const atEnd = await history(alice, topic.name, "?from=150");
      expect(atEnd).toMatchObject({ messages: [], complete: true, nextOffset: 150 });
    });

    it("refuses an offset beyond nextOffset with 400 OFFSET_OUT_OF_RANGE and bad query values with VALIDATION_FAILED", async () => {
      const topic = await createTopic(alice);
      await publishToTopic(alice, topic.name, [{ payload: 1 }, { payload: 2 }]);
      const beyond = await alice.get<{ error: { details: { nextOffset: number } } }>(
        `/v1/topics/${topic.name}/messages?from=3`,
      );
      expectError(beyond, "OFFSET_OUT_OF_RANGE");
      expect(beyond.body.error.details.nextOffset).toBe(2);
      for (const query of [
        "from=-1",
        "from=abc",
        "limit=0",
        "limit=1001",
        "from=1.5",
        "from=1e3",
        "limit=2x",
        "colour=blue",
      ]) {
        expectError(await alice.get(`/v1/topics/${topic.name}/messages?${query}`), "VALIDATION_FAILED");
      }
    });

    it("applies count retention: firstOffset moves and history from 0 says complete:false", async () => {
      const topic = await createTopic(alice, { retention: { maxMessages: 3 } });
      await publishToTopic(
        alice,
        topic.name,
        Array.from({ length: 10 }, (_, i) => ({ payload: i })),
      );
      await eventually(async () => expect((await getTopic(alice, topic.name)).firstOffset).toBe(7), {
        timeoutMs: 10_000,
      });
      const fromZero = await history(alice, topic.name, "?from=0");
      expect(fromZero).toMatchObject({ complete: false, firstOffset: 7, nextOffset: 10 });
      expect(fromZero.messages.map((m) => m.offset)).toEqual([7, 8, 9]);
      const fromOldest = await history(alice, topic.name);
      expect(fromOldest.complete).toBe(true);
      expect(fromOldest.messages.map((m) => m.payload)).toEqual([7, 8, 9]);
      await publishToTopic(alice, topic.name, [{ payload: 10 }]);
      expect(await getTopic(alice, topic.name)).toMatchObject({ nextOffset: 11 });
    });

    it("applies age retention: messages older than maxAgeMs leave the history", async () => {
      const topic = await createTopic(alice, { retention: { maxAgeMs: 300, maxMessages: null } });
      await publishToTopic(alice, topic.name, [{ payload: "old" }, { payload: "older" }]);
      await eventually(async () => expect((await getTopic(alice, topic.name)).firstOffset).toBe(2), {
        timeoutMs: 10_000,
      });
      expect(await history(alice, topic.name, "?from=0")).toMatchObject({ messages: [], complete: false });
      expect(await publishToTopic(alice, topic.name, [{ payload: "fresh" }])).toEqual([2]);
    });

    it("serves a non-durable topic: offsets, history, and its count cap from memory", async () => {
      const topic = await createTopic(alice, { durable: false, retention: { maxMessages: 2 } });
      expect(
        await publishToTopic(alice, topic.name, [{ payload: "a" }, { payload: "b" }, { payload: "c" }]),
      ).toEqual([0, 1, 2]);
      const page = await history(alice, topic.name, "?from=0");
      expect(page).toMatchObject({ complete: false, firstOffset: 1, nextOffset: 3 });
      expect(page.messages.map((m) => m.payload)).toEqual(["b", "c"]);
      expect(await getTopic(alice, topic.name)).toMatchObject({ durable: false, nextOffset: 3 });
    });
  });

  describe("grants", () => {
    it("lets the creator grant, list and revoke; others get 403 NOT_RESOURCE_OWNER", async () => {
      const topic = await createTopic(alice, { private: true });
      const granted = await alice.post(`/v1/topics/${topic.name}/grants`, {
        username: bobName,
        permissions: ["publish", "consume"],
      });
      expect(granted.status).toBe(200);
      expect(granted.body).toEqual({
        kind: "topic",
        resource: topic.name,
        username: bobName,
        permissions: ["consume", "publish"],
      });
      const listed = await alice.get(`/v1/topics/${topic.name}/grants`);
      expect(listed.body).toEqual({ grants: [granted.body], next: null });
      expectError(await bob.get(`/v1/topics/${topic.name}/grants`), "NOT_RESOURCE_OWNER");
      expectError(
        await bob.post(`/v1/topics/${topic.name}/grants`, { username: bobName, permissions: ["consume"] }),
        "NOT_RESOURCE_OWNER",
      );
      expect(await publishToTopic(bob, topic.name, [{ payload: "by bob" }])).toEqual([0]);
      const revoked = await alice.post(`/v1/topics/${topic.name}/grants`, {
        username: bobName,
        permissions: [],
      });
      expect(revoked.status).toBe(200);
      expect((await alice.get(`/v1/topics/${topic.name}/grants`)).body).toEqual({ grants: [], next: null });
      // No grant left: the private topic is hidden again (S7).
      expectError(await bob.post(`/v1/topics/${topic.name}/messages`, { payload: 1 }), "TOPIC_NOT_FOUND");
    });

    it("answers 404 for grants on an unknown topic or to an unknown user, 400 for unknown permissions", async () => {
      const topic = await createTopic(alice, { private: true });
      expectError(
        await alice.post(`/v1/topics/${uniqueName("nope")}/grants`, {
          username: bobName,
          permissions: ["consume"],
        }),
        "TOPIC_NOT_FOUND",
      );
      expectError(
        await alice.post(`/v1/topics/${topic.name}/grants`, {
          username: uniqueName("ghost"),
          permissions: ["consume"],
        }),
        "USER_NOT_FOUND",
      );
      expectError(
        await alice.post(`/v1/topics/${topic.name}/grants`, { username: bobName, permissions: ["delete"] }),
        "VALIDATION_FAILED",
      );
      expect((await alice.get(`/v1/topics/${topic.name}/grants`)).body).toEqual({ grants: [], next: null });
    });
  });
});
