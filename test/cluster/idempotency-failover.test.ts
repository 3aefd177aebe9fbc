import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser } from "../helpers/api.ts";
import { createQueue, createTopic, drain, history } from "../helpers/broker-api.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { createTestDatabase } from "../helpers/mariadb.ts";

// Idempotency keys survive the death of the node serving a queue or topic: the node that takes
// over loads them with the resource (src/app/engine-host.ts), so a client retrying through
// another node after kill -9 gets the first answer and the message is stored once.

const NODES = [0, 1, 2];

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, store: await createTestDatabase("cluster_idempotency_failover") });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

async function servingIndex(api: Api, kind: "queues" | "topics", name: string): Promise<number> {
  const lookup = await api.get<{ httpUrl: string }>(`/v1/${kind}/${name}/lookup`);
  expect(lookup.status).toBe(200);
  const index = NODES.findIndex((i) => cluster.nodes[i]?.url === lookup.body.httpUrl);
  expect(index).toBeGreaterThanOrEqual(0);
  return index;
}

describe("idempotency keys across a failover", () => {
  it("a retry through another node after the serving node is killed gets the first id and offset", {
    timeout: 120_000,
  }, async () => {
    const { api } = await newUser(cluster.node(0).url, "idem");
    const queue = (await createQueue(api)).name;
    const topic = (await createTopic(api)).name;
    const publishQueue = (via: Api) =>
      via.post<{ ids: string[] }>(`/v1/queues/${queue}/messages`, {
        payload: "once",
        idempotencyKey: "order-1",
      });
    const publishTopic = (via: Api) =>
      via.post<{ offsets: number[] }>(`/v1/topics/${topic}/messages`, {
        payload: "once",
        idempotencyKey: "order-1",
      });
    const firstQueue = await publishQueue(api);
    const firstTopic = await publishTopic(api);
    expect(firstQueue.status).toBe(201);
    expect(firstTopic.status).toBe(201);

    // Kill the node serving the queue (and the topic's, if another), then retry through a survivor.
    const victims = new Set([
      await servingIndex(api, "queues", queue),
      await servingIndex(api, "topics", topic),
    ]);
    for (const victim of victims) await cluster.kill(victim);
    const survivor = NODES.find((i) => !victims.has(i)) as number;
    const via = new Api(cluster.node(survivor).url, api.token);
    // The first tries may meet OWNER_UNAVAILABLE while the dead node's session expires: retry as a client would.
    await eventually(async () => expect((await publishQueue(via)).body).toEqual(firstQueue.body), {
      timeoutMs: 30_000,
    });
    await eventually(async () => expect((await publishTopic(via)).body).toEqual(firstTopic.body), {
      timeoutMs: 30_000,
    });

    expect((await drain(via, queue)).map((message) => message.payload)).toEqual(["once"]);
    expect((await history(via, topic)).messages.map((message) => message.payload)).toEqual(["once"]);
  });
});
