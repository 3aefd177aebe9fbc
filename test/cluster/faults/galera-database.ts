import mysql, { type RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll } from "vitest";
import { type GaleraCluster, startGalera } from "../../helpers/galera.ts";
import { createDatabaseOn } from "../../helpers/mariadb.ts";
import { type FaultRun, runFault } from "./fault-run.ts";

/** One 3-node Galera cluster for the calling test file (~50 s to start); the getter throws before it runs. */
export function galeraForThisFile(): () => GaleraCluster {
  let galera: GaleraCluster | undefined;
  beforeAll(async () => {
    galera = await startGalera();
  }, 240_000);
  afterAll(async () => {
    await galera?.destroy();
  }, 60_000);
  return () => {
    if (galera === undefined) throw new Error("Galera not started");
    return galera;
  };
}

/** Connections the brokers' account holds on each node (-1: the node did not answer). */
export function brokerConnections(cluster: GaleraCluster, database: string): Promise<number[]> {
  return Promise.all(cluster.nodes.map((node) => brokerConnectionsOn(cluster, node.index, database)));
}

/** Connections the brokers' account holds on one node (-1: it did not answer within 2 s). */
export async function brokerConnectionsOn(
  cluster: GaleraCluster,
  index: number,
  database: string,
): Promise<number> {
  const connection = await cluster.admin(index).catch(() => undefined);
  if (connection === undefined) return -1;
  try {
    const [rows] = await connection.query<RowDataPacket[]>({
      sql: "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = ?",
      values: [database],
      timeout: 2000,
    });
    return Number(rows[0]?.n ?? 0);
  } catch {
    return -1;
  } finally {
    connection.destroy();
  }
}

/**
 * A fresh database on the cluster for one run, reached through all three
 * nodes (created through `createThrough`, dropped through `dropThrough`).
 */
export function galeraDatabase(
  cluster: GaleraCluster,
  name: string,
  onCreated: (database: string) => void,
  nodes: { createThrough: number; dropThrough: number } = { createThrough: 0, dropThrough: 1 },
) {
  return async () => {
    const url = await createDatabaseOn(cluster.nodeUrlBase(nodes.createThrough), name);
    const database = new URL(url).pathname.slice(1);
    onCreated(database);
    return {
      url: `${cluster.urlBase}/${database}`,
      drop: async () => {
        const connection = await mysql.createConnection(cluster.nodeUrlBase(nodes.dropThrough));
        await connection.query(`DROP DATABASE IF EXISTS \`${database}\``).finally(() => connection.end());
      },
    };
  };
}

/**
 * A fault run on three of everything (issue 10, item 5): three brokers on
 * a 3-server ZooKeeper ensemble and a fresh database on the 3-node Galera
 * cluster, reached through all three nodes (so all write through node 0),
 * the order queue on node-0. `inject` gets the run and the database's name.
 */
export function runGaleraFault<T>(
  cluster: GaleraCluster,
  options: {
    name: string;
    injectAtAcknowledged: number;
    /** The node serving the order queue (default node-0). */
    orderQueueNode?: string;
    inject: (run: FaultRun, database: string) => Promise<T>;
  },
) {
  let database = "";
  return runFault({
    name: options.name,
    zooKeeperServers: 3,
    servingNodes: {
      queues: ["node-0", "node-1", "node-2"],
      orderQueue: options.orderQueueNode ?? "node-0",
      topics: ["node-1", "node-2"],
    },
    injectAtAcknowledged: options.injectAtAcknowledged,
    size: { requestTimeoutMs: 20_000 },
    database: galeraDatabase(cluster, `faults_${options.name}`, (name) => {
      database = name;
    }),
    inject: (run) => options.inject(run, database),
  });
}
