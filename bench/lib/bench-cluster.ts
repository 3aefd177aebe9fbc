/**
 * A 3-node cluster for the failover benches: its own MariaDB (a fresh
 * database), ZooKeeper (one server or a 3-server ensemble) and an operator's
 * token (/v1/cluster names owned resources to operators only, docs/security.md
 * S7). Everything is stopped by the bench's cleanups.
 */
import mysql from "mysql2/promise";
import { clusterView, nodeId, queueOwnedBy } from "../../test/cluster/faults/cluster-view.ts";
import { FailoverProbe } from "../../test/cluster/faults/failover-probe.ts";
import { waitUntil } from "../../test/cluster/faults/timing.ts";
import { Api, registerUser, uniqueName } from "../../test/helpers/api.ts";
import { startCluster, type TestCluster } from "../../test/helpers/cluster.ts";
import { destroyMariadb, launchMariadb } from "../../test/helpers/mariadb.ts";
import { startZooKeeper } from "../../test/helpers/zookeeper.ts";
import { onCleanup } from "./cleanup.ts";

export async function startBenchCluster(options: {
  database: string;
  sessionTimeoutMs: number;
  zooKeeperServers?: 1 | 3;
}): Promise<{ cluster: TestCluster; token: string }> {
  const server = await launchMariadb();
  onCleanup("mariadb", () => destroyMariadb(server.stateFile));
  const base = `mysql://${server.user}:${server.password}@127.0.0.1:${server.port}`;
  const connection = await mysql.createConnection(base);
  await connection.query(`CREATE DATABASE ${options.database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await connection.end();
  const zooKeeper = await startZooKeeper({ servers: options.zooKeeperServers ?? 1 });
  onCleanup("zookeeper", () => zooKeeper.stopAll());
  const operator = uniqueName("bench");
  const cluster = await startCluster({
    nodes: 3,
    store: `${base}/${options.database}`,
    zkSessionTimeoutMs: options.sessionTimeoutMs,
    env: { AVISO_OPERATORS: operator },
    zooKeeper,
  });
  onCleanup("cluster", () => cluster.stop());
  const { api } = await registerUser(cluster.node(0).url, operator);
  return { cluster, token: api.token as string };
}

/**
 * A fresh queue owned by node `ownerIndex`, with a FailoverProbe (publisher
 * and consumer) on node-0; resolves once the owner holds it and traffic flows.
 */
export async function probeQueue(
  cluster: TestCluster,
  token: string,
  ownerIndex: number,
  prefix: string,
): Promise<FailoverProbe> {
  const members = cluster.nodes.map((_, index) => nodeId(index));
  const queue = queueOwnedBy(members, nodeId(ownerIndex), prefix);
  const created = await new Api(cluster.node(0).url, token).post("/v1/queues", { name: queue });
  if (created.status !== 201) throw new Error(`create queue: ${created.status}`);
  const probe = new FailoverProbe(cluster.node(0).url, token, queue);
  await probe.start();
  try {
    await waitUntil(
      `${nodeId(ownerIndex)} to own ${queue} and traffic to flow`,
      async () => {
        const { owned } = await clusterView(cluster.node(ownerIndex).url, token);
        return owned.queues.includes(queue) && probe.deliveredCount() >= 20;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  } catch (error) {
    await probe.stop();
    throw error;
  }
  return probe;
}
