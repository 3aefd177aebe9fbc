import mysql, { type RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GaleraCluster, startGalera } from "../../helpers/galera.ts";
import { createDatabaseOn } from "../../helpers/mariadb.ts";
import { expectSound, runFault } from "./fault-run.ts";

/*
 * Three brokers on a 3-node Galera cluster, each given all three addresses:
 * they all write through the first node that answers (node 0). kill -9 of
 * that node under the workload: the brokers move to node 1 on their own, the
 * surviving nodes evict node 0 after Galera's failure detection (tuned to
 * ~2 s, see test/helpers/galera.ts), and nothing acknowledged is lost. The
 * pause clients saw is measured and printed, not asserted.
 */
let galera: GaleraCluster | undefined;
beforeAll(async () => {
  galera = await startGalera();
}, 240_000);
afterAll(async () => {
  await galera?.destroy();
}, 60_000);

/** Connections the brokers' account holds on each node. */
async function brokerConnections(cluster: GaleraCluster, database: string): Promise<number[]> {
  return Promise.all(
    cluster.nodes.map(async (node) => {
      const connection = await cluster.admin(node.index).catch(() => undefined);
      if (connection === undefined) return -1;
      try {
        const [rows] = await connection.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = ?",
          [database],
        );
        return Number(rows[0]?.n ?? 0);
      } finally {
        await connection.end();
      }
    }),
  );
}

/** A fresh database on the cluster for one run, reached through all three nodes. */
function galeraDatabase(cluster: GaleraCluster, name: string, onCreated: (database: string) => void) {
  return async () => {
    const url = await createDatabaseOn(cluster.nodeUrlBase(0), name);
    const database = new URL(url).pathname.slice(1);
    onCreated(database);
    return {
      url: `${cluster.urlBase}/${database}`,
      drop: async () => {
        const connection = await mysql.createConnection(cluster.nodeUrlBase(1));
        await connection.query(`DROP DATABASE IF EXISTS \`${database}\``).finally(() => connection.end());
      },
    };
  };
}

describe("fault: kill -9 of the Galera node the brokers write to", () => {
  it("fails over to the next node by itself and loses nothing acknowledged", async () => {
    const cluster = galera;
    if (cluster === undefined) throw new Error("Galera not started");
    let database = "";
    const { report, injected } = await runFault({
      name: "galera-node-kill",
      servingNodes: {
        queues: ["node-0", "node-1", "node-2"],
        orderQueue: "node-0",
        topics: ["node-1", "node-2"],
      },
      injectAtAcknowledged: 1000,
      size: { requestTimeoutMs: 20_000 },
      database: galeraDatabase(cluster, "faults_galera", (name) => {
        database = name;
      }),
      inject: async ({ workload, plan }) => {
        const before = await brokerConnections(cluster, database);
        workload.mark({
          label: "kill -9 Galera node 0",
          queues: [...plan.queues, plan.orderQueue],
          topics: plan.topics,
        });
        const killedAt = Date.now();
        await cluster.kill(0);
        // The survivors form a 2-node primary component once node 0 is evicted.
        await cluster.waitSynced(1, 2, 30_000);
        const evictedMs = Date.now() - killedAt;
        const after = await brokerConnections(cluster, database);
        return { before, after, evictedMs };
      },
    });
    const [failover] = report.failover;
    const pauses = {
      evictedMs: injected.evictedMs,
      firstPublishMs: failover?.firstPublishMs,
      publishStallMs: failover?.publishStallMs,
      deliveryStallMs: failover?.deliveryStallMs,
      outcomes: report.attemptOutcomes,
      connectionsBefore: injected.before,
      connectionsAfter: injected.after,
    };
    console.log(JSON.stringify({ galeraNodeKill: pauses }));
    expectSound(report, 3000);
    expect(report.storedTwice.count).toBe(0);
    // Every broker wrote through node 0, and afterwards through node 1 (the next in the list), none through node 2.
    expect(injected.before[0]).toBeGreaterThan(0);
    expect(injected.before.slice(1)).toEqual([0, 0]);
    expect(injected.after[1]).toBeGreaterThan(0);
    expect(injected.after[2]).toBe(0);
  }, 300_000);
});

describe("fault: kill -9 of a broker and of the Galera node the brokers write to, at once", () => {
  it("the order queue's owner and the write node die together; nothing acknowledged is lost", async () => {
    const cluster = galera;
    if (cluster === undefined) throw new Error("Galera not started");
    // The previous case killed node 0: bring it back so all three nodes serve again.
    await cluster.start(0);
    await cluster.waitSynced(0, 3, 60_000);
    const { report, injected } = await runFault({
      name: "galera-node-and-broker-kill",
      servingNodes: {
        queues: ["node-0", "node-1", "node-2"],
        orderQueue: "node-1",
        topics: ["node-1", "node-2"],
      },
      injectAtAcknowledged: 1000,
      size: { requestTimeoutMs: 20_000 },
      database: galeraDatabase(cluster, "faults_galera_both", () => {}),
      inject: async (run) => {
        run.workload.mark({
          label: "kill -9 broker node-1 and Galera node 0",
          queues: [...run.plan.queues, run.plan.orderQueue],
          topics: run.plan.topics,
        });
        const killedAt = Date.now();
        await Promise.all([run.cluster.kill(1, "SIGKILL"), cluster.kill(0)]);
        await cluster.waitSynced(1, 2, 30_000);
        return { evictedMs: Date.now() - killedAt };
      },
    });
    const [failover] = report.failover;
    console.log(
      JSON.stringify({
        galeraNodeAndBrokerKill: {
          evictedMs: injected.evictedMs,
          firstDeliveryMs: failover?.firstDeliveryMs,
          publishStallMs: failover?.publishStallMs,
          deliveryStallMs: failover?.deliveryStallMs,
          outcomes: report.attemptOutcomes,
        },
      }),
    );
    expectSound(report, 1000);
    expect(report.storedTwice.count).toBe(0);
  }, 360_000);
});
