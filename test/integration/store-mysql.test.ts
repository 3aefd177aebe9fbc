import { createServer } from "node:net";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGroupCommitter } from "../../src/store/group-commit.ts";
import { createMysqlPool } from "../../src/store/mysql/mysql-client.ts";
import { createMysqlStore } from "../../src/store/mysql/mysql-store.ts";
import { type MysqlHost, parseMysqlUrl, targetOf } from "../../src/store/mysql/mysql-url.ts";
import { openStore } from "../../src/store/open-store.ts";
import { createTestDatabase, dropTestDatabase } from "../helpers/mariadb.ts";
import { describeStoreConformance } from "../store/conformance.ts";
import { queueDefinition, queueMessage, uniqueName } from "../store/fixtures.ts";
import { databaseAtSchema } from "../store/mysql-schema.ts";

let url = "";
beforeAll(async () => {
  url = await createTestDatabase("store_conformance");
});
afterAll(async () => {
  await dropTestDatabase(url);
});

describeStoreConformance("mysql", async () => {
  const store = await createMysqlStore({ url, poolSize: 4 });
  await store.migrate();
  return store;
});

// storePreparedInserts: false — message rows as escaped SQL text, for proxies without prepared statements.
describeStoreConformance("mysql, text inserts", async () => {
  const store = await createMysqlStore({ url, poolSize: 4, preparedInserts: false });
  await store.migrate();
  return store;
});

// storeCommitThread: commits on a worker thread with a store of its own.
describeStoreConformance("mysql, commit thread", async () => {
  const store = await createMysqlStore({ url, poolSize: 4, commitThread: true });
  await store.migrate();
  return store;
});

async function schemaVersions(databaseUrl: string): Promise<number[]> {
  const connection = await mysql.createConnection(databaseUrl);
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>(
      "SELECT version FROM schema_migrations ORDER BY version",
    );
    return rows.map((row) => Number(row.version));
  } finally {
    await connection.end();
  }
}

describe("MySQL store: migrations", () => {
  it("records each migration once; migrating again (also concurrently) changes nothing", async () => {
    const databaseUrl = await createTestDatabase("migrate_twice");
    const stores = await Promise.all(
      [1, 2, 3].map(() => createMysqlStore({ url: databaseUrl, poolSize: 2 })),
    );
    try {
      // Three nodes starting together: the named lock lets one migrate, the others then find nothing to do.
      await Promise.all(stores.map((store) => store.migrate()));
      const after = await schemaVersions(databaseUrl);
      expect(after[0]).toBe(1);
      await stores[0]?.migrate();
      expect(await schemaVersions(databaseUrl)).toEqual(after);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await dropTestDatabase(databaseUrl);
    }
  });

  it("migrates a database written at schema 005 (head on the queue row, no queue_heads): messages, head and commits carry on", async () => {
    const databaseUrl = await createTestDatabase("migrate_from_005");
    // Schema 005 as the migrator left it, then the rows a 005 node's commits left: three messages, the head on the queue row.
    const connection = await databaseAtSchema(databaseUrl, 5);
    const store = await createMysqlStore({ url: databaseUrl });
    try {
      const name = uniqueName("q005");
      await store.createQueue(queueDefinition(name));
      const old = await store.claim("queue", name);
      for (const seq of [1, 2, 3]) {
        const m = queueMessage(seq);
        await connection.query(
          "INSERT INTO queue_messages (queue, seq, payload, headers, published_at, available_at, expires_at, deliveries) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          [name, m.seq, m.payload, m.headers, m.publishedAt, m.availableAt, m.expiresAt, m.deliveries],
        );
      }
      await connection.query("UPDATE queues SET next_seq = 4 WHERE name = ?", [name]);

      await store.migrate();
      expect(Math.max(...(await schemaVersions(databaseUrl)))).toBeGreaterThanOrEqual(6);
      expect(await store.queueHead(name)).toEqual({ nextSeq: 4 });
      expect((await store.readQueueMessages(name, 0, 10)).map((m) => m.seq)).toEqual([1, 2, 3]);
      // A new serving node claims it and carries on after the old head; the old epoch is fenced.
      const claimed = await store.claim("queue", name);
      expect(claimed?.epoch).toBeGreaterThan(old?.epoch ?? -1);
      const epoch = claimed?.epoch ?? -1;
      expect(
        await store.commit([
          {
            type: "queue.append",
            queue: name,
            epoch,
            messages: [queueMessage(4), queueMessage(5)],
            nextSeq: 6,
          },
          { type: "queue.remove", queue: name, epoch, seqs: [2, 1] },
          { type: "queue.remove", queue: name, epoch: old?.epoch ?? -1, seqs: [3] },
        ]),
      ).toEqual(["ok", "ok", "fenced"]);
      expect(await store.queueHead(name)).toEqual({ nextSeq: 6 });
      expect((await store.readQueueMessages(name, 0, 10)).map((m) => m.seq)).toEqual([3, 4, 5]);
    } finally {
      await connection.end();
      await store.close();
      await dropTestDatabase(databaseUrl);
    }
  });

  it("refuses a schema newer than the code, naming both versions", async () => {
    const databaseUrl = await createTestDatabase("migrate_newer");
    const store = await createMysqlStore({ url: databaseUrl });
    try {
      await store.migrate();
      const known = Math.max(...(await schemaVersions(databaseUrl)));
      const connection = await mysql.createConnection(databaseUrl);
      await connection.query("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)");
      await connection.end();
      const failure = store.migrate();
      await expect(failure).rejects.toThrow(/999/);
      await expect(failure).rejects.toThrow(new RegExp(`version ${known}\\b`));
    } finally {
      await store.close();
      await dropTestDatabase(databaseUrl);
    }
  });
});

describe("MySQL store: errors", () => {
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (typeof address !== "object" || address === null) throw new Error("no port");
    return address.port;
  }

  it("reports STORE_UNAVAILABLE when nothing listens at the URL", async () => {
    const store = await createMysqlStore({ url: `mysql://aviso:x@127.0.0.1:${await closedPort()}/nowhere` });
    try {
      await expect(store.ping()).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
      await expect(store.migrate()).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
      await expect(store.createQueue(queueDefinition(uniqueName("q")))).rejects.toMatchObject({
        reason: "STORE_UNAVAILABLE",
      });
    } finally {
      await store.close();
    }
  });

  it("reports STORE_UNAVAILABLE for a wrong password", async () => {
    const wrong = new URL(url);
    wrong.password = "definitely-wrong";
    const store = await createMysqlStore({ url: wrong.toString() });
    try {
      await expect(store.ping()).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
    } finally {
      await store.close();
    }
  });

  it("rejects a URL without a database", async () => {
    await expect(createMysqlStore({ url: "mysql://aviso:x@127.0.0.1:3306" })).rejects.toThrow(/database/);
  });

  it("opens a migrated MySQL store through openStore", async () => {
    const store = await openStore(url, "/nonexistent-data-dir");
    try {
      expect(store.kind).toBe("mysql");
      await expect(store.ping()).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });
});

describe("MySQL store: the shared commit fence (one server)", () => {
  it("lets a commit of a queue through while another transaction holds the queue's row shared, and a claim waits for it", async () => {
    const databaseUrl = await createTestDatabase("shared_fence");
    const store = await createMysqlStore({ url: databaseUrl, poolSize: 4 });
    const other = await mysql.createConnection(databaseUrl);
    try {
      await store.migrate();
      const name = uniqueName("fence");
      await store.createQueue(queueDefinition(name));
      const claim = await store.claim("queue", name);
      const epoch = claim?.epoch ?? -1;
      // Warm the pool so its connections know they talk to one server, not Galera.
      await Promise.all([1, 2, 3, 4].map(() => store.ping()));
      // Stands in for a commit of the same queue in flight on another connection.
      await other.query("START TRANSACTION");
      await other.query("SELECT epoch FROM queues WHERE name = ? LOCK IN SHARE MODE", [name]);
      // Under FOR UPDATE this commit would wait for `other` (50 s): it goes through now.
      expect(
        await store.commit([
          { type: "queue.append", queue: name, epoch, messages: [queueMessage(1)], nextSeq: 2 },
        ]),
      ).toEqual(["ok"]);
      // A successor's claim takes the row exclusively: it waits until the commit in flight is over.
      let claimed = false;
      const successor = store.claim("queue", name).then((next) => {
        claimed = true;
        return next;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(claimed).toBe(false);
      await other.query("COMMIT");
      expect((await successor)?.epoch).toBe(epoch + 1);
      // And after it, the old epoch is fenced.
      expect(
        await store.commit([
          { type: "queue.append", queue: name, epoch, messages: [queueMessage(2)], nextSeq: 3 },
        ]),
      ).toEqual(["fenced"]);
      expect(await store.queueHead(name)).toEqual({ nextSeq: 2 });
    } finally {
      await other.end();
      await store.close();
      await dropTestDatabase(databaseUrl);
    }
  });
});

describe("MySQL store: a serving node stopped inside a commit", () => {
  it("does not hold its row locks past idleTransactionTimeoutSec: a successor's claim goes through", async () => {
    const successor = await createMysqlStore({ url, poolSize: 2 });
    const name = uniqueName("paused");
    // An owner frozen (SIGSTOP) between the two round trips of a commit: its transaction holds the
    // queue row's lock and sends nothing more. Simulated with a pool built as the store builds its own.
    const parsed = parseMysqlUrl(url);
    const ownerPool = createMysqlPool(targetOf(parsed, parsed.hosts[0] as MysqlHost), 1, {
      idleTransactionTimeoutSec: 2,
    });
    try {
      await successor.migrate();
      await successor.createQueue(queueDefinition(name));
      const connection = await ownerPool.getConnection();
      await connection.query("START TRANSACTION");
      await connection.query("SELECT epoch FROM queues WHERE name = ? FOR UPDATE", [name]);
      const started = Date.now();
      // innodb_lock_wait_timeout is 50 s: without the idle timeout the claim waits all of it and fails.
      await expect(successor.claim("queue", name)).resolves.toMatchObject({ epoch: expect.any(Number) });
      console.log(`claim behind a stalled commit went through after ${Date.now() - started} ms`);
      connection.destroy();
    } finally {
      await ownerPool.end().catch(() => {});
      await successor.close();
    }
  }, 40_000);
});

describe("MySQL store: group commit in lanes", () => {
  it("commits many queues' appends and acks side by side, each queue's in order, none lost", async () => {
    const store = await createMysqlStore({ url, poolSize: 8 });
    // Pipeline 1: a lane's transactions then also commit in order, not only answer in order,
    // so an ack may follow its publish before the publish is answered (the engine never does that).
    const committer = createGroupCommitter(store, { lanes: 4, pipeline: 1 });
    try {
      await store.migrate();
      const names = Array.from({ length: 8 }, () => uniqueName("lanes"));
      const epochs = new Map<string, number>();
      for (const name of names) {
        await store.createQueue(queueDefinition(name));
        epochs.set(name, (await store.claim("queue", name))?.epoch ?? -1);
      }
      const perQueue = 60;
      // Every queue publishes one message at a time and acks every third one right behind it,
      // all queues at once, with pauses: resources come and go from lanes.
      const outcomes = await Promise.all(
        names.map(async (name, index) => {
          const epoch = epochs.get(name) as number;
          const answers: Promise<string>[] = [];
          for (let seq = 1; seq <= perQueue; seq++) {
            const append = committer.write({
              type: "queue.append",
              queue: name,
              epoch,
              messages: [queueMessage(seq)],
              nextSeq: seq + 1,
            });
            answers.push(append);
            // Acked a moment later, often before its append is answered while earlier ones are:
            // only submission order makes the remove find the row.
            if (seq % 3 === 0)
              answers.push(
                new Promise((resolve) => setTimeout(resolve, 1)).then(() =>
                  committer.write({ type: "queue.remove", queue: name, epoch, seqs: [seq] }),
                ),
              );
            if ((seq + index) % 7 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
          }
          return Promise.all(answers);
        }),
      );
      expect(outcomes.flat().every((outcome) => outcome === "ok")).toBe(true);
      for (const name of names) {
        const kept = (await store.readQueueMessages(name, 0, 1000)).map((message) => message.seq);
        const expected = Array.from({ length: perQueue }, (_, i) => i + 1).filter((seq) => seq % 3 !== 0);
        expect(kept).toEqual(expected);
        expect(await store.queueHead(name)).toEqual({ nextSeq: perQueue + 1 });
      }
    } finally {
      await committer.close();
      await store.close();
    }
  });
});
