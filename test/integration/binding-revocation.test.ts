import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { eventually } from "../helpers/eventually.ts";

// docs/security.md S2, S3: a durable subscription whose footing goes ends with ACCESS_REVOKED and copies
// nothing more. Standalone, the change is applied on the copying node before it is answered.

/** The documented bound (accessRecheckMs, default 5 s); a change made on the copying node ends it at once. */
const END_BOUND_MS = 5000;
/** Long enough for a pump that wrongly kept copying to have copied (it copies as soon as a message commits). */
const SETTLE_MS = 300;

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

async function created(api: Api, kind: "queues" | "topics", isPrivate: boolean): Promise<string> {
  const name = uniqueName(kind === "queues" ? "q" : "t");
  expect((await api.post(`/v1/${kind}`, { name, private: isPrivate })).status).toBe(201);
  return name;
}

async function grant(kind: "queues" | "topics", name: string, username: string, permissions: string[]) {
  expect((await alice.post(`/v1/${kind}/${name}/grants`, { username, permissions })).status).toBe(200);
}

const publish = async (topic: string, payload: string) =>
  expect((await alice.post(`/v1/topics/${topic}/messages`, { key: "k", payload })).status).toBe(201);

const depth = async (api: Api, queue: string): Promise<unknown> =>
  (await api.get(`/v1/queues/${queue}`)).body.depth;

/** The binding as the topic's creator (Alice) lists it. */
async function listed(topic: string, queue: string): Promise<Record<string, unknown> | undefined> {
  const answer = await alice.get<{ subscriptions: Array<Record<string, unknown>> }>(
    `/v1/topics/${topic}/subscriptions`,
  );
  expect(answer.status).toBe(200);
  return answer.body.subscriptions.find((binding) => binding.queue === queue);
}

async function expectEndedRevoked(topic: string, queue: string): Promise<void> {
  await eventually(
    async () => {
      expect(await listed(topic, queue)).toMatchObject({
        state: "ended",
        endedReason: "ACCESS_REVOKED",
        endedAt: expect.any(Number),
      });
    },
    { timeoutMs: END_BOUND_MS },
  );
}

/** One message copied: the binding was live before the change. */
async function expectCopying(topic: string, queue: string, api: Api, before: number): Promise<void> {
  await publish(topic, "before");
  await eventually(async () => expect(await depth(api, queue)).toBe(before + 1));
}

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

describe("durable subscriptions end when their footing goes", () => {
  it("ends Bob's binding when Alice revokes his consume grant, and copies nothing published after", async () => {
    const topic = await created(alice, "topics", true);
    await grant("topics", topic, bobName, ["consume"]);
    const queue = uniqueName("q");
    expect((await bob.post(`/v1/topics/${topic}/subscriptions`, { queue })).status).toBe(201);
    await expectCopying(topic, queue, bob, 0);

    await grant("topics", topic, bobName, []);
    // Published right after the revocation was answered: the copying node had applied it.
    await publish(topic, "right after");
    await expectEndedRevoked(topic, queue);
    await publish(topic, "later");
    await settle();
    expect(await depth(bob, queue)).toBe(1);
  });

  it("keeps a binding whose grant is widened, not withdrawn", async () => {
    const topic = await created(alice, "topics", true);
    await grant("topics", topic, bobName, ["consume"]);
    const queue = uniqueName("q");
    expect((await bob.post(`/v1/topics/${topic}/subscriptions`, { queue })).status).toBe(201);
    await grant("topics", topic, bobName, ["consume", "publish"]);
    await expectCopying(topic, queue, bob, 0);
    expect(await listed(topic, queue)).toMatchObject({ state: "active", endedReason: null });
  });

  it("ends a binding when a reader of its queue loses consume on the topic (S3)", async () => {
    const topic = await created(alice, "topics", true);
    const queue = await created(alice, "queues", true);
    await grant("topics", topic, carolName, ["consume"]);
    await grant("queues", queue, carolName, ["consume"]);
    expect((await alice.post(`/v1/topics/${topic}/subscriptions`, { queue })).status).toBe(201);
    await expectCopying(topic, queue, alice, 0);

    await grant("topics", topic, carolName, []);
    await expectEndedRevoked(topic, queue);
    await publish(topic, "after");
    await settle();
    expect(await depth(alice, queue)).toBe(1);
  });

  it("ends a binding when its creator deletes themselves, even from a public topic", async () => {
    const { api: dave } = await newUser(node.url, "dave");
    const topic = await created(alice, "topics", false);
    const queue = uniqueName("q");
    expect((await dave.post(`/v1/topics/${topic}/subscriptions`, { queue })).status).toBe(201);
    await expectCopying(topic, queue, alice, 0);

    expect((await dave.delete("/v1/me")).status).toBe(204);
    await expectEndedRevoked(topic, queue);
    await publish(topic, "after");
    await settle();
    // Dave's queue is public and stays (deleting a user keeps what they created).
    expect(await depth(alice, queue)).toBe(1);
  });
});
