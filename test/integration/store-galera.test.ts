import mysql, { type PoolConnection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlPool, MysqlClient } from "../../src/store/mysql/mysql-client.ts";
import { commitOnConnection } from "../../src/store/mysql/mysql-commit.ts";
import { fixedPoolSource } from "../../src/store/mysql/mysql-pool-source.ts";
import { createMysqlStore } from "../../src/store/mysql/mysql-store.ts";
import { parseMysqlUrl, targetOf } from "../../src/store/mysql/mysql-url.ts";
import type { WriteOp } from "../../src/store/store.ts";
import { type GaleraCluster, startGalera } from "../helpers/galera.ts";
import { createDatabaseOn } from "../helpers/mariadb.ts";
import { describeStoreConformance } from "../store/conformance.ts";
import { queueDefinition, queueMessages, uniqueName } from "../store/fixtures.ts";

/*
 * The MySQL store on a real 3-node MariaDB Galera cluster (one cluster for
 * the whole file: it takes ~50 s to start). The conformance suite runs
 * through the 3-host URL (the brokers' setup); the fencing and retry tests
 * provoke real cross-node conflicts with two nodes writing the same row.
 */
let galera: GaleraCluster | undefined;
let database = "";
const cluster = (): GaleraCluster => {
  if (galera === undefined) throw new Error("Galera not started");
  return galera;
};
const nodeUrl = (index: number) => `${cluster().nodeUrlBase(index)}/${database}`;

beforeAll(async () => {
  galera = await startGalera();
  database = new URL(await createDatabaseOn(galera.nodeUrlBase(0), "galera_store")).pathname.slice(1);
}, 180_000);
afterAll(async () => {
  await galera?.destroy();
}, 60_000);

describeStoreConformance("mysql on a 3-node Galera cluster", async () => {
  const store = await createMysqlStore({ url: `${cluster().urlBase}/${database}`, poolSize: 4 });
  await store.migrate();
  return store;
});

/** Runs `act` once, just before the first COMMIT round trip of any connection it wraps. */
function beforeFirstCommit(act: () => Promise<void>): (connection: PoolConnection) => PoolConnection {
  let done = false;
  return (connection) =>
    new Proxy(connection, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== "function") return value;
        if (property !== "query") return value.bind(target);
        return async (sql: unknown, ...rest: unknown[]) => {
          if (!done && typeof sql === "string" && sql.endsWith("COMMIT")) {
            done = true;
            await act();
          }
          return value.call(target, sql, ...rest);
        };
      },
    });
}

describe("MySQL store on Galera: writes from two nodes", () => {
  /** A store.commit on node 0, through a client whose deadlock retries are counted. */
  async function commitOnNode0(ops: WriteOp[], wrap: (c: PoolConnection) => PoolConnection) {
    const url = parseMysqlUrl(nodeUrl(0));
    const host = url.hosts[0];
    if (host === undefined) throw new Error("no host");
    const retries: number[] = [];
    const client = new MysqlClient(fixedPoolSource(createMysqlPool(targetOf(url, host), 2)), {
      onDeadlockRetry: (_action, attempt) => retries.push(attempt),
    });
    try {
      const outcomes = await client.transaction("commit", (connection) =>
        commitOnConnection(wrap(connection), ops),
      );
      return { outcomes, retries };
    } finally {
      await client.close();
    }
  }

  it("fences a commit whose epoch was claimed on another node between its epoch read and its COMMIT", async () => {
    const [node0, node1] = await Promise.all([0, 1].map((i) => createMysqlStore({ url: nodeUrl(i) })));
    if (node0 === undefined || node1 === undefined) throw new Error("stores");
    try {
      await node0.migrate();
      const name = uniqueName("galera_fence");
      await node0.createQueue(queueDefinition(name));
      const first = await node0.claim("queue", name);
      const epoch = first?.epoch ?? -1;
      await node0.commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 3), nextSeq: 4 },
      ]);
      let second: { epoch: number } | undefined;
      // An ack and a redelivery count: a batch that writes no head, so only the fence puts the queue row in its write set.
      const { outcomes, retries } = await commitOnNode0(
        [
          { type: "queue.remove", queue: name, epoch, seqs: [1] },
          { type: "queue.update", queue: name, epoch, changes: [{ seq: 2, deliveries: 1, availableAt: 5 }] },
        ],
        // The new owner claims through node 1 while the old owner's commit holds its (node-local) lock on node 0.
        beforeFirstCommit(async () => {
          second = await node1.claim("queue", name);
        }),
      );
      expect(second?.epoch).toBe((first?.epoch ?? 0) + 1);
      // The old owner's batch failed certification, ran again, and saw the new epoch.
      expect(retries).toEqual([1]);
      expect(outcomes).toEqual(["fenced", "fenced"]);
      expect(await node1.readQueueMessages(name, 0, 10)).toEqual(queueMessages(1, 3));
    } finally {
      await Promise.all([node0.close(), node1.close()]);
    }
  });

  it("retries a commit that failed certification against a write to the same row on another node, and commits it once", async () => {
    const node0 = await createMysqlStore({ url: nodeUrl(0) });
    const other = await mysql.createConnection(nodeUrl(1));
    try {
      await node0.migrate();
      const name = uniqueName("galera_retry");
      await node0.createQueue(queueDefinition(name));
      const claimed = await node0.claim("queue", name);
      const epoch = claimed?.epoch ?? -1;
      await node0.commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 2), nextSeq: 3 },
      ]);
      const { outcomes, retries } = await commitOnNode0(
        [
          { type: "queue.append", queue: name, epoch, messages: queueMessages(3, 4), nextSeq: 5 },
          { type: "queue.remove", queue: name, epoch, seqs: [1] },
        ],
        // Another node writes the queue's row (an owner-less admin update) and commits first.
        beforeFirstCommit(async () => {
          await other.query("UPDATE queues SET max_length = 1000 WHERE name = ?", [name]);
        }),
      );
      expect(retries).toEqual([1]);
      expect(outcomes).toEqual(["ok", "ok"]);
      expect((await node0.readQueueMessages(name, 0, 10)).map((m) => m.seq)).toEqual([2, 3, 4]);
      expect(await node0.queueHead(name)).toEqual({ nextSeq: 5 });
    } finally {
      await other.end();
      await node0.close();
    }
  });
});
