import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { expectError } from "../helpers/expect-error.ts";

// docs/security.md S3: nothing private flows somewhere less private.

let node: TestNode;
let alice: Api;
let bob: Api;
let bobName: string;
let carolName: string;
beforeAll(async () => {
  node = await startTestNode();
  ({ api: alice } = await newUser(node.url, "alice"));
  ({ api: bob, username: bobName } = await newUser(node.url, "bob"));
  ({ username: carolName } = await newUser(node.url, "carol"));
});
afterAll(async () => {
  await node?.close();
});

/** Alice's private topic that Bob may consume. */
async function privateTopicBobReads(): Promise<string> {
  const topic = uniqueName("t");
  expect((await alice.post("/v1/topics", { name: topic, private: true })).status).toBe(201);
  const grant = await alice.post(`/v1/topics/${topic}/grants`, {
    username: bobName,
    permissions: ["consume"],
  });
  expect(grant.status).toBe(200);
  return topic;
}

async function bobsBindings(topic: string): Promise<unknown[]> {
  const listed = await bob.get<{ subscriptions: unknown[] }>(`/v1/topics/${topic}/subscriptions`);
  expect(listed.status).toBe(200);
  return listed.body.subscriptions;
}

describe("binding a private topic", () => {
  it("auto-creates the queue private to the binder", async () => {
    const topic = await privateTopicBobReads();
    const queue = uniqueName("q");
    const bound = await bob.post(`/v1/topics/${topic}/subscriptions`, { queue });
    expect(bound.status).toBe(201);
    expect(bound.body).toMatchObject({ queueCreated: true });
    expect((await bob.get(`/v1/queues/${queue}`)).body).toMatchObject({ private: true });
  });

  it("refuses a public queue with 403 BINDING_WOULD_EXPOSE and changes nothing", async () => {
    const topic = await privateTopicBobReads();
    const queue = uniqueName("q");
    expect((await bob.post("/v1/queues", { name: queue })).status).toBe(201);
    expectError(await bob.post(`/v1/topics/${topic}/subscriptions`, { queue }), "BINDING_WOULD_EXPOSE");
    expect(await bobsBindings(topic)).toEqual([]);
  });

  it("refuses a private queue one of whose readers may not read the topic", async () => {
    const topic = await privateTopicBobReads();
    const queue = uniqueName("q");
    expect((await bob.post("/v1/queues", { name: queue, private: true })).status).toBe(201);
    const carolReads = await bob.post(`/v1/queues/${queue}/grants`, {
      username: carolName,
      permissions: ["consume"],
    });
    expect(carolReads.status).toBe(200);
    expectError(await bob.post(`/v1/topics/${topic}/subscriptions`, { queue }), "BINDING_WOULD_EXPOSE");
    expect(await bobsBindings(topic)).toEqual([]);
  });

  it("allows a private queue whose readers all may read the topic; publish-only grantees do not count", async () => {
    const topic = await privateTopicBobReads();
    const queue = uniqueName("q");
    expect((await bob.post("/v1/queues", { name: queue, private: true })).status).toBe(201);
    const carolWrites = await bob.post(`/v1/queues/${queue}/grants`, {
      username: carolName,
      permissions: ["publish"],
    });
    expect(carolWrites.status).toBe(200);
    expect((await bob.post(`/v1/topics/${topic}/subscriptions`, { queue })).status).toBe(201);
  });

  it("leaves public topics free to flow into public queues", async () => {
    const topic = uniqueName("t");
    expect((await alice.post("/v1/topics", { name: topic })).status).toBe(201);
    const queue = uniqueName("q");
    const bound = await bob.post(`/v1/topics/${topic}/subscriptions`, { queue });
    expect(bound.status).toBe(201);
    expect((await bob.get(`/v1/queues/${queue}`)).body).toMatchObject({ private: false });
  });
});
