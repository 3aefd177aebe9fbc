import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { createTestDatabase } from "../helpers/mariadb.ts";

// docs/security.md S2: a durable subscription ends on the node that copies it when access is withdrawn
// through another node — at once through the announcement, at worst within accessRecheckMs (5 s here).

const END_BOUND_MS = 5000;
const SETTLE_MS = 300;
const NODES = [0, 1, 2];

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, store: await createTestDatabase("cluster_binding_revocation") });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

/** The index of the node serving the resource now. */
async function ownerIndex(api: Api, kind: "queues" | "topics", name: string): Promise<number> {
  const lookup = await api.get<{ httpUrl: string }>(`/v1/${kind}/${name}/lookup`);
  expect(lookup.status).toBe(200);
  const index = NODES.findIndex((i) => cluster.node(i).url === lookup.body.httpUrl);
  expect(index).toBeGreaterThanOrEqual(0);
  return index;
}

describe("durable subscriptions in a cluster", () => {
  it("end when the topic's creator revokes the binder's grant through a node that owns neither side", {
    timeout: 60_000,
  }, async () => {
    const { api: alice } = await newUser(cluster.node(0).url, "alice");
    const { api: bob, username: bobName } = await newUser(cluster.node(1).url, "bob");
    const on = (i: number, api: Api) => new Api(cluster.node(i).url, api.token);
    const topic = uniqueName("t");
    const queue = uniqueName("q");
    expect((await alice.post("/v1/topics", { name: topic, private: true })).status).toBe(201);
    const grant = (permissions: string[], via: Api) =>
      via.post(`/v1/topics/${topic}/grants`, { username: bobName, permissions });
    expect((await grant(["consume"], alice)).status).toBe(200);
    expect((await bob.post(`/v1/topics/${topic}/subscriptions`, { queue })).status).toBe(201);
    const publish = async (payload: string) =>
      expect((await alice.post(`/v1/topics/${topic}/messages`, { key: "k", payload })).status).toBe(201);
    const depth = async () => (await bob.get(`/v1/queues/${queue}`)).body.depth;
    await publish("before");
    await eventually(async () => expect(await depth()).toBe(1), { timeoutMs: 15_000 });

    const topicOwner = await ownerIndex(alice, "topics", topic);
    const queueOwner = await ownerIndex(bob, "queues", queue);
    const elsewhere =
      NODES.find((i) => i !== topicOwner && i !== queueOwner) ??
      (NODES.find((i) => i !== topicOwner) as number);
    expect((await grant([], on(elsewhere, alice))).status).toBe(200);
    await publish("right after");

    await eventually(
      async () => {
        for (const i of NODES) {
          const listed = await on(i, alice).get<{ subscriptions: Array<Record<string, unknown>> }>(
            `/v1/topics/${topic}/subscriptions`,
          );
          expect(listed.body.subscriptions).toEqual([
            expect.objectContaining({ queue, state: "ended", endedReason: "ACCESS_REVOKED" }),
          ]);
        }
      },
      { timeoutMs: END_BOUND_MS },
    );
    await publish("later");
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(await depth()).toBe(1);
  });
});
