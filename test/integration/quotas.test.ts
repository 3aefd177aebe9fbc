import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUser } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import { ack, createQueue, createTopic, getQueue, publishToQueue, receive } from "../helpers/broker-api.ts";
import { expectError } from "../helpers/expect-error.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";
import { TestSocket } from "../helpers/ws-client.ts";

/** Small quotas, so each one is reached in a few calls. */
const quotaEnv = {
  AVISO_MAX_QUEUES_PER_USER: "2",
  AVISO_MAX_TOPICS_PER_USER: "2",
  AVISO_MAX_GRANTS_PER_RESOURCE: "2",
  AVISO_MAX_CONNECTIONS_PER_USER: "2",
  AVISO_MAX_STORED_BYTES_PER_USER: "3000",
  AVISO_PUBLISH_RATE_PER_USER: "1",
  AVISO_PUBLISH_BURST_PER_USER: "20",
};

function expectQuota(response: { body: unknown }, quota: string, limit: number): void {
  const error = (response.body as { error: { details?: Record<string, unknown> } }).error;
  expect(error.details).toMatchObject({ quota, limit });
}

describe.each(storeKinds)("per-user quotas (%s store)", (kind) => {
  let node: TestNode;

  beforeAll(async () => {
    node = await startNodeOn(kind, { prefix: "quotas", env: quotaEnv });
  });
  afterAll(async () => {
    await node?.close();
  });

  it("refuses a user's queue past maxQueuesPerUser with 403 QUOTA_EXCEEDED; others still create", async () => {
    const { api: alice } = await newUser(node.url, "alice");
    const { api: bob } = await newUser(node.url, "bob");
    await createQueue(alice);
    const second = await createQueue(alice);
    const refused = await alice.post("/v1/queues", { name: `${second.name}-more` });
    expectError(refused, "QUOTA_EXCEEDED");
    expectQuota(refused, "maxQueuesPerUser", 2);
    expect((await alice.get(`/v1/queues/${second.name}-more`)).status).toBe(404);
    await createQueue(bob);
    // Deleting one frees a slot.
    expect((await alice.delete(`/v1/queues/${second.name}`)).status).toBe(204);
    await createQueue(alice);
  });

  it("refuses a user's topic past maxTopicsPerUser with 403 QUOTA_EXCEEDED", async () => {
    const { api: alice } = await newUser(node.url, "alice");
    await createTopic(alice);
    const second = await createTopic(alice);
    const refused = await alice.post("/v1/topics", { name: `${second.name}-more` });
    expectError(refused, "QUOTA_EXCEEDED");
    expectQuota(refused, "maxTopicsPerUser", 2);
  });

  it("counts parallel creates: never more than maxQueuesPerUser", async () => {
    const { api: alice } = await newUser(node.url, "alice");
    const names = Array.from({ length: 6 }, (_, index) => `par-${index}-${Date.now().toString(36)}`);
    const answers = await Promise.all(names.map((name) => alice.post("/v1/queues", { name })));
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(2);
    for (const answer of answers.filter((answer) => answer.status !== 201))
      expectError(answer, "QUOTA_EXCEEDED");
  });

  it("refuses a grant to one more user past maxGrantsPerResource; changing a grant still works", async () => {
    const { api: alice } = await newUser(node.url, "alice");
    const users = await Promise.all([1, 2, 3].map(() => newUser(node.url, "grantee")));
    const queue = await createQueue(alice, { private: true });
    const grant = (username: string, permissions: string[]) =>
      alice.post(`/v1/queues/${queue.name}/grants`, { username, permissions });
    const [first, second, third] = users.map((user) => user.username) as [string, string, string];
    expect((await grant(first, ["publish"])).status).toBe(200);
    expect((await grant(second, ["publish"])).status).toBe(200);
    const refused = await grant(third, ["publish"]);
    expectError(refused, "QUOTA_EXCEEDED");
    expectQuota(refused, "maxGrantsPerResource", 2);
    expect((await grant(second, ["publish", "consume"])).status).toBe(200);
    expect((await grant(first, [])).status).toBe(200);
    expect((await grant(third, ["consume"])).status).toBe(200);
  });

  it("refuses a user's WebSocket past maxConnectionsPerUser; another user still connects", async () => {
    const { api: alice } = await newUser(node.url, "alice");
    const { api: bob } = await newUser(node.url, "bob");
    const held = [
      await TestSocket.connect(node.wsUrl, alice.token),
      await TestSocket.connect(node.wsUrl, alice.token),
    ];
    await expect(TestSocket.connect(node.wsUrl, alice.token)).rejects.toThrow(/403/);
    // An auth frame is counted too.
    const late = await TestSocket.connect(node.wsUrl);
    const reply = await late.request({ op: "auth", id: 1, token: alice.token });
    expect(reply).toMatchObject({ op: "error", reason: "QUOTA_EXCEEDED" });
    const other = await TestSocket.connect(node.wsUrl, bob.token);
    await Promise.all([...held, late, other].map((socket) => socket.close()));
    // A closed socket frees its slot.
    const again = await TestSocket.connect(node.wsUrl, alice.token);
    await again.close();
  });

  it("refuses publishes past maxStoredBytesPerUser with 429 until consumers ack", async () => {
    const { api: alice } = await newUser(node.url, "alice");
    const { api: bob } = await newUser(node.url, "bob");
    const queue = await createQueue(alice);
    const payload = "x".repeat(1000);
    await publishToQueue(alice, queue.name, [{ payload }]);
    await publishToQueue(alice, queue.name, [{ payload }]);
    const refused = await alice.post(`/v1/queues/${queue.name}/messages`, { payload });
    expectError(refused, "STORED_BYTES_EXCEEDED");
    expectQuota(refused, "maxStoredBytesPerUser", 3000);
    expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 2 });
    // Another user's publishes are counted against that user.
    await publishToQueue(bob, queue.name, [{ payload }]);
    const [delivery] = await receive(alice, queue.name);
    expect(delivery).toBeDefined();
    await ack(alice, queue.name, [delivery?.receipt as string]);
    await publishToQueue(alice, queue.name, [{ payload }]);
  });

  it("refuses publishes past publishRatePerUser's burst with 429 PUBLISH_RATE_LIMITED", async () => {
    const { api: alice } = await newUser(node.url, "alice");
    const { api: bob } = await newUser(node.url, "bob");
    const topic = await createTopic(alice);
    const batch = Array.from({ length: 20 }, () => ({ payload: 1 }));
    const path = `/v1/topics/${topic.name}/messages`;
    expect((await alice.post(path, { messages: batch })).status).toBe(201);
    const refused = await alice.post(path, { messages: batch });
    expectError(refused, "PUBLISH_RATE_LIMITED");
    expectQuota(refused, "publishRatePerUser", 1);
    expect(refused.headers.get("retry-after")).not.toBeNull();
    // The bucket is per user.
    expect((await bob.post(path, { messages: batch })).status).toBe(201);
  });

  it("answers a WebSocket burst frame by frame: a bad frame alone, the rate past the burst in order, the rest stored in order", async () => {
    const { api: alice } = await newUser(node.url, "alice");
    const queue = await createQueue(alice);
    const socket = await TestSocket.connect(node.wsUrl, alice.token);
    // Sent in one go, so the node gathers them into batches (src/edge/ws/publish-batches.ts).
    for (let i = 0; i < 25; i++) {
      const headers = i === 3 ? { "aviso-forged": "x" } : undefined;
      socket.send({ op: "publish", id: i, queue: queue.name, payload: i, ...(headers ? { headers } : {}) });
    }
    const answers = await socket.collect((frame) => typeof frame.id === "number", 25);
    const byId = new Map(answers.map((frame) => [frame.id as number, frame]));
    expect(byId.get(3)).toMatchObject({ op: "error", reason: "RESERVED_HEADER" });
    // The bad frame was not charged: the burst of 20 covers ids 0–20 but 3.
    const stored = [...Array(21).keys()].filter((i) => i !== 3);
    for (const i of stored) expect(byId.get(i)).toMatchObject({ op: "ok" });
    for (let i = 21; i < 25; i++)
      expect(byId.get(i)).toMatchObject({ op: "error", reason: "PUBLISH_RATE_LIMITED" });
    const ids = stored.map((i) => Number(byId.get(i)?.messageId));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const delivered = await receive(alice, queue.name, { max: 30 });
    expect(delivered.map((d) => d.payload)).toEqual(stored);
    await socket.close();
  });
});
