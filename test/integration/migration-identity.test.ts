import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import { afterAll, describe, expect, it } from "vitest";
import { splitStatements } from "../../src/store/migration-files.ts";
import { createMysqlStore } from "../../src/store/mysql/mysql-store.ts";
import { createSqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/store.ts";
import { createTestDatabase, dropTestDatabase } from "../helpers/mariadb.ts";

const migrationsOf = (backend: "sqlite" | "mysql") =>
  new URL(`../../src/store/${backend}/migrations/`, import.meta.url);
const readMigration = (backend: "sqlite" | "mysql", file: string) =>
  readFileSync(new URL(file, migrationsOf(backend)), "utf8");

/** Rows as schema v1 held them: no ids; jobs dead-letters to dlq, orphan to a queue long gone. */
const legacyRows = [
  "INSERT INTO queues (name, owner, private, ack_timeout_ms, max_deliveries, dead_letter_queue, message_ttl_ms, max_length, created_at, epoch, next_seq) VALUES " +
    "('jobs', 'alice', 0, 1000, 3, 'dlq', NULL, NULL, 1, 0, 1), " +
    "('dlq', 'alice', 0, 1000, NULL, NULL, NULL, NULL, 1, 0, 1), " +
    "('orphan', 'alice', 0, 1000, 3, 'gone', NULL, NULL, 1, 0, 1)",
  "INSERT INTO topics (name, owner, private, durable, retention_max_age_ms, retention_max_messages, created_at, epoch, next_offset) VALUES " +
    "('events', 'alice', 0, 1, NULL, NULL, 1, 0, 7)",
  "INSERT INTO bindings (topic, queue, pattern, next_offset, created_by, created_at) VALUES ('events', 'jobs', '#', 5, 'alice', 2)",
];

async function expectBackfilled(store: Store): Promise<void> {
  const [jobs, dlq, orphan, events] = await Promise.all([
    store.getQueue("jobs"),
    store.getQueue("dlq"),
    store.getQueue("orphan"),
    store.getTopic("events"),
  ]);
  const ids = [jobs?.id, dlq?.id, orphan?.id, events?.id];
  for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
  expect(new Set(ids).size).toBe(4);
  expect(jobs).toMatchObject({ deadLetterQueue: "dlq", deadLetterQueueId: dlq?.id, maxDeliveries: 3 });
  // Its target was deleted before ids existed: it stays missing, whoever takes the name later.
  expect(orphan).toMatchObject({ deadLetterQueue: "gone", deadLetterQueueId: null });
  expect(await store.listBindings({ topic: "events" })).toEqual([
    {
      topic: "events",
      queue: "jobs",
      topicId: events?.id,
      queueId: jobs?.id,
      pattern: "#",
      nextOffset: 5,
      createdBy: "alice",
      createdAt: 2,
      state: "active",
      endedReason: null,
      endedAt: null,
    },
  ]);
}

describe("migration 003 (resource ids) on rows written before it", () => {
  const dir = mkdtempSync(join(tmpdir(), "aviso-migrate-003-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("SQLite: gives every queue and topic an id and points dead letters and bindings at them", async () => {
    const path = join(dir, "v1.db");
    const db = new Database(path);
    db.exec(readMigration("sqlite", "001_init.sql"));
    db.exec(
      "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL)",
    );
    db.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)");
    for (const statement of legacyRows) db.exec(statement);
    db.close();
    const store = await createSqliteStore({ path });
    try {
      await store.migrate();
      await expectBackfilled(store);
    } finally {
      await store.close();
    }
  });

  it("MySQL: the same, and running 003 again (an interrupted migration) changes nothing", async () => {
    const url = await createTestDatabase("migrate_003");
    const connection = await mysql.createConnection(url);
    const store = await createMysqlStore({ url, poolSize: 2 });
    try {
      for (const statement of splitStatements(readMigration("mysql", "001_init.sql"))) {
        await connection.query(statement);
      }
      await connection.query(
        "CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL) ENGINE=InnoDB",
      );
      await connection.query("INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)");
      for (const statement of legacyRows) await connection.query(statement);
      await store.migrate();
      await expectBackfilled(store);
      const before = await store.getQueue("jobs");
      for (const statement of splitStatements(readMigration("mysql", "003_identity.sql"))) {
        await connection.query(statement);
      }
      await expectBackfilled(store);
      expect(await store.getQueue("jobs")).toEqual(before);
    } finally {
      await connection.end();
      await store.close();
      await dropTestDatabase(url);
    }
  });
});
