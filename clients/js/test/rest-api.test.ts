import { describe, expect, it } from "vitest";
import { AvisoClientError, createClient } from "../src/index.ts";
import { deadUrl, trackedClient, uniqueName, useNode, userClient } from "./helpers/clients.ts";

const { node } = useNode();

/** The rejection of `promise`, which must be an AvisoClientError. */
async function failure(promise: Promise<unknown>): Promise<AvisoClientError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AvisoClientError);
  return error as AvisoClientError;
}

describe("auth", () => {
  it("registers, logs in and reports who the token belongs to", async () => {
    const client = trackedClient({ urls: [node().url] });
    const username = uniqueName("reg");
    const registered = await client.auth.register({ username, password: "correct horse battery" });
    expect(registered.username).toBe(username);
    const token = await client.auth.login({ username, password: "correct horse battery" });
    expect(token.expiresAt).toBeGreaterThan(Date.now());
    const me = await client.auth.me();
    expect(me).toEqual({ username, tokenExpiresAt: token.expiresAt, operator: false });
  });

  it("logs in lazily with the credentials it was given, and works with a token alone", async () => {
    const { client, username, password } = await userClient(node().url);
    expect((await client.auth.me()).username).toBe(username);
    const token = await trackedClient({ urls: [node().url] }).auth.login({ username, password });
    const withToken = trackedClient({ urls: [node().url], token: token.token });
    expect((await withToken.auth.me()).username).toBe(username);
    const withGetToken = trackedClient({ urls: [node().url], getToken: () => token });
    expect((await withGetToken.auth.me()).tokenExpiresAt).toBe(token.expiresAt);
  });

  it("answers a wrong password with BAD_CREDENTIALS and a missing login with NOT_LOGGED_IN", async () => {
    const { username } = await userClient(node().url);
    const client = trackedClient({ urls: [node().url] });
    const wrong = await failure(client.auth.login({ username, password: "not the password" }));
    expect(wrong).toMatchObject({ reason: "BAD_CREDENTIALS", code: "unauthenticated", status: 401 });
    const anonymous = await failure(client.queues.list());
    expect(anonymous).toMatchObject({ reason: "NOT_LOGGED_IN", code: "unauthenticated" });
    client.auth.logout();
    const taken = await failure(client.auth.register({ username, password: "correct horse battery" }));
    expect(taken).toMatchObject({ reason: "USERNAME_TAKEN", status: 409 });
  });
});

describe("queues", () => {
  it("creates, gets, lists and deletes a queue with its settings", async () => {
    const { client, username } = await userClient(node().url);
    const name = uniqueName("q");
    const created = await client.queues.create(name, { ackTimeoutMs: 5000, maxDeliveries: 3, maxLength: 10 });
    expect(created).toMatchObject({
      name,
      creator: username,
      owner: username,
      ackTimeoutMs: 5000,
      maxDeliveries: 3,
      depth: 0,
    });
    expect(await client.queues.get(name)).toMatchObject({ name, maxLength: 10 });
    expect((await client.queues.list()).items.map((queue) => queue.name)).toContain(name);
    expect(await client.queues.lookup(name)).toEqual({ node: expect.any(String), httpUrl: node().url });
    await client.queues.delete(name);
    expect(await failure(client.queues.get(name))).toMatchObject({ reason: "QUEUE_NOT_FOUND", status: 404 });
    expect(await failure(client.queues.lookup(name))).toMatchObject({
      reason: "QUEUE_NOT_FOUND",
      status: 404,
    });
    expect(await failure(client.queues.create("bad name!"))).toMatchObject({ reason: "INVALID_NAME" });
  });

  it("hides a private queue from another user (404, as if missing), and grants access to it", async () => {
    const owner = await userClient(node().url);
    const other = await userClient(node().url);
    const name = uniqueName("private");
    await owner.client.queues.create(name, { private: true });
    const hidden = await failure(other.client.queues.delete(name));
    expect(hidden).toMatchObject({ code: "not_found", reason: "QUEUE_NOT_FOUND", status: 404 });
    expect(hidden.message).not.toContain(owner.username);
    expect(await failure(other.client.queues.publish(name, 1))).toMatchObject({ reason: "QUEUE_NOT_FOUND" });
    const grant = await owner.client.queues.grant(name, other.username, ["publish"]);
    expect(grant).toEqual({
      kind: "queue",
      resource: name,
      username: other.username,
      permissions: ["publish"],
    });
    expect(await owner.client.queues.grants(name)).toEqual({ items: [grant], next: null });
    expect(await other.client.queues.publish(name, { hello: 1 })).toEqual({ id: "1" });
  });

  it("publishes single messages and batches over REST and the socket, each with its own idempotency key", async () => {
    const { client } = await userClient(node().url);
    const name = uniqueName("pub");
    await client.queues.create(name);
    expect(await client.queues.publish(name, { n: 1 })).toEqual({ id: "1" });
    expect(await client.queues.publish(name, { n: 2 }, { via: "socket", headers: { h: "v" } })).toEqual({
      id: "2",
    });
    expect(await client.queues.publishBatch(name, [{ payload: { n: 3 } }, { payload: { n: 4 } }])).toEqual({
      ids: ["3", "4"],
    });
    // The same key again is stored once and answers the first id.
    expect(await client.queues.publish(name, { n: 5 }, { idempotencyKey: "k-1" })).toEqual({ id: "5" });
    expect(await client.queues.publish(name, { n: 5 }, { idempotencyKey: "k-1", via: "socket" })).toEqual({
      id: "5",
    });
    expect((await client.queues.get(name)).depth).toBe(5);
    const received = await client.queues.receive(name, { max: 10 });
    expect(received.map((message) => message.payload)).toEqual([
      { n: 1 },
      { n: 2 },
      { n: 3 },
      { n: 4 },
      { n: 5 },
    ]);
    expect(received[1]?.headers).toEqual({ h: "v" });
  });

  it("receives with a long poll, acks and nacks by receipt", async () => {
    const { client } = await userClient(node().url);
    const name = uniqueName("pull");
    await client.queues.create(name);
    expect(await client.queues.receive(name, { waitMs: 50 })).toEqual([]);
    const waiting = client.queues.receive<{ job: number }>(name, { max: 2, waitMs: 5000 });
    await client.queues.publishBatch(name, [{ payload: { job: 1 } }, { payload: { job: 2 } }]);
    const first = await waiting;
    expect(first.length).toBeGreaterThanOrEqual(1);
    expect(first[0]).toMatchObject({ queue: name, id: "1", payload: { job: 1 }, deliveries: 1 });
    expect(await first[0]?.ack()).toEqual({ acked: 1, stale: [] });
    expect(await first[0]?.ack()).toEqual({ acked: 0, stale: [first[0]?.receipt] });
    const rest = first.length === 2 ? [first[1]] : await client.queues.receive(name);
    const second = rest[0] as NonNullable<(typeof rest)[0]>;
    expect(await second.nack()).toEqual({ acked: 1, stale: [] });
    const again = await client.queues.receive(name, { waitMs: 2000 });
    expect(again[0]).toMatchObject({ id: second.id, deliveries: 2 });
    expect(await client.queues.ack(name, [again[0]?.receipt as string])).toEqual({ acked: 1, stale: [] });
    expect((await client.queues.get(name)).depth).toBe(0);
    expect(await failure(client.queues.ack(name, ["nonsense"]))).toMatchObject({ reason: "INVALID_RECEIPT" });
  });
});

describe("topics", () => {
  it("creates, gets, lists, publishes with keys, reads history and deletes", async () => {
    const { client, username } = await userClient(node().url);
    const name = uniqueName("t");
    const created = await client.topics.create(name, { retention: { maxMessages: 100 } });
    expect(created).toMatchObject({
      name,
      creator: username,
      owner: username,
      nextOffset: 0,
      retention: { maxMessages: 100 },
    });
    expect(await client.topics.publish(name, { o: 0 }, { key: "orders.eu.created" })).toEqual({ offset: 0 });
    expect(await client.topics.publish(name, { o: 1 }, { via: "socket" })).toEqual({ offset: 1 });
    expect(
      await client.topics.publishBatch(name, [{ payload: { o: 2 }, key: "a.b" }, { payload: { o: 3 } }]),
    ).toEqual({
      offsets: [2, 3],
    });
    const page = await client.topics.history(name, { from: 1, limit: 2 });
    expect(page).toMatchObject({ complete: true, firstOffset: 0, nextOffset: 4 });
    expect(page.messages.map((message) => [message.offset, message.key, message.payload])).toEqual([
      [1, "", { o: 1 }],
      [2, "a.b", { o: 2 }],
    ]);
    expect((await client.topics.history(name)).messages).toHaveLength(4);
    expect((await client.topics.list()).items.map((topic) => topic.name)).toContain(name);
    expect((await client.topics.get(name)).nextOffset).toBe(4);
    expect(await client.topics.lookup(name)).toEqual({ node: expect.any(String), httpUrl: node().url });
    expect(await failure(client.topics.publish(name, 1, { key: "bad key" }))).toMatchObject({
      reason: "INVALID_ROUTING_KEY",
    });
    await client.topics.delete(name);
    expect(await failure(client.topics.history(name))).toMatchObject({
      reason: "TOPIC_NOT_FOUND",
      status: 404,
    });
  });

  it("grants access to a private topic and refuses a delete by another user", async () => {
    const owner = await userClient(node().url);
    const other = await userClient(node().url);
    const name = uniqueName("pt");
    await owner.client.topics.create(name, { private: true });
    expect(await failure(other.client.topics.history(name))).toMatchObject({
      reason: "TOPIC_NOT_FOUND",
      status: 404,
    });
    await owner.client.topics.grant(name, other.username, ["consume"]);
    expect((await owner.client.topics.grants(name)).items[0]).toMatchObject({ username: other.username });
    expect((await other.client.topics.history(name)).messages).toEqual([]);
    expect(await failure(other.client.topics.delete(name))).toMatchObject({ reason: "NOT_RESOURCE_OWNER" });
  });

  it("binds a queue to a topic (durable subscription), lists and unbinds it", async () => {
    const { client, username } = await userClient(node().url);
    const topic = uniqueName("dt");
    const queue = uniqueName("dq");
    await client.topics.create(topic);
    const binding = await client.topics.bind(topic, queue, { pattern: "orders.*" });
    expect(binding).toMatchObject({
      topic,
      queue,
      pattern: "orders.*",
      createdBy: username,
      queueCreated: true,
    });
    expect((await client.topics.bindings(topic)).items).toEqual([
      expect.objectContaining({ queue, pattern: "orders.*" }),
    ]);
    await client.topics.publish(topic, "skip", { key: "other" });
    await client.topics.publish(topic, "copy", { key: "orders.eu" });
    const [copied] = await client.queues.receive(queue, { waitMs: 2000 });
    expect(copied?.payload).toBe("copy");
    expect(copied?.headers).toMatchObject({ "aviso-topic": topic, "aviso-routing-key": "orders.eu" });
    await client.topics.unbind(topic, queue);
    expect((await client.topics.bindings(topic)).items).toEqual([]);
    expect(await failure(client.topics.unbind(topic, queue))).toMatchObject({
      reason: "SUBSCRIPTION_NOT_FOUND",
    });
  });
});

describe("cluster and client lifecycle", () => {
  it("describes the node it talks to", async () => {
    const { client } = await userClient(node().url);
    const cluster = await client.cluster();
    expect(cluster.mode).toBe("standalone");
    expect(cluster.members.map((member) => member.httpUrl)).toContain(cluster.self.httpUrl);
  });

  it("refuses calls after close with CLIENT_CLOSED and invalid options with every problem listed", async () => {
    const { client } = await userClient(node().url);
    await client.close();
    expect(() => client.queues.subscribe("x")).toThrow(expect.objectContaining({ reason: "CLIENT_CLOSED" }));
    expect(await failure(client.queues.list())).toMatchObject({ reason: "CLIENT_CLOSED", code: "cancelled" });
    let invalid: unknown;
    try {
      createClient({ urls: ["ftp://x"], username: "a", reconnect: { jitter: 2 } });
    } catch (error) {
      invalid = error;
    }
    expect(invalid).toBeInstanceOf(AvisoClientError);
    expect(invalid).toMatchObject({ reason: "INVALID_ARGUMENT" });
    const message = (invalid as Error).message;
    expect(message).toContain("ftp://x");
    expect(message).toContain("username and password go together");
    expect(message).toContain("jitter");
  });

  it("reports an unreachable node as NETWORK_ERROR once the retry budget is spent", async () => {
    const client = trackedClient({ urls: [await deadUrl()], retryForMs: 300, token: "x" });
    const error = await failure(client.queues.list());
    expect(error).toMatchObject({ reason: "NETWORK_ERROR", code: "unavailable" });
    expect(error.status).toBeUndefined();
  });
});
