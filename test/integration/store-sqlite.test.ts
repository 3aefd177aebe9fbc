import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, resolveStoreUrl } from "../../src/store/open-store.ts";
import { createSqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { describeStoreConformance } from "../store/conformance.ts";
import { ownedQueue, queueMessages } from "../store/fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "aviso-sqlite-test-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// A nested path also checks that the parent directory is created.
const conformancePath = join(dir, "nested", "deeper", "conformance.db");
describeStoreConformance("sqlite", async () => {
  const store = await createSqliteStore({ path: conformancePath });
  await store.migrate();
  return store;
});

// The node's default: commits on a worker thread with its own connection.
describeStoreConformance("sqlite, commit thread", async () => {
  const store = await createSqliteStore({ path: join(dir, "threaded.db"), commitThread: true });
  await store.migrate();
  return store;
});

function schemaVersions(path: string): number[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], number>("SELECT version FROM schema_migrations ORDER BY version").pluck().all();
  } finally {
    db.close();
  }
}

describe("SQLite store: the commit thread", () => {
  it("commits off the event loop: it waits for another holder of the write lock without stopping the node", async () => {
    const path = join(dir, "lock-wait.db");
    const store = await createSqliteStore({ path, busyTimeoutMs: 3000, commitThread: true });
    const blocker = new Database(path);
    try {
      await store.migrate();
      const { name, epoch } = await ownedQueue(store);
      blocker.exec("BEGIN IMMEDIATE");
      const commit = store.commit([
        { type: "queue.append", queue: name, epoch, messages: queueMessages(1, 1), nextSeq: 2 },
      ]);
      // In-thread, the call above would sit in SQLite's busy wait, stopping this timer too, and then fail.
      let settled = false;
      void commit.finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(settled).toBe(false);
      blocker.exec("COMMIT");
      await expect(commit).resolves.toEqual(["ok"]);
      expect(await store.queueHead(name)).toEqual({ nextSeq: 2 });
    } finally {
      blocker.close();
      await store.close();
    }
  });
});

describe("SQLite store: migrations and settings", () => {
  it("records each migration once; migrating again changes nothing", async () => {
    const path = join(dir, "twice.db");
    const store = await createSqliteStore({ path });
    await store.migrate();
    const after = schemaVersions(path);
    expect(after[0]).toBe(1);
    await store.migrate();
    expect(schemaVersions(path)).toEqual(after);
    await store.close();
  });

  it("refuses a schema newer than the code, naming both versions", async () => {
    const path = join(dir, "newer.db");
    const store = await createSqliteStore({ path });
    await store.migrate();
    const known = Math.max(...schemaVersions(path));
    const db = new Database(path);
    db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)").run();
    db.close();
    const failure = store.migrate();
    await expect(failure).rejects.toThrow(/999/);
    await expect(failure).rejects.toThrow(new RegExp(`version ${known}\\b`));
    await store.close();
  });

  it("runs in WAL mode", async () => {
    const path = join(dir, "wal.db");
    const store = await createSqliteStore({ path });
    await store.migrate();
    const db = new Database(path, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
    await store.close();
  });
});

describe("openStore", () => {
  it("resolves sqlite: URLs against the data directory", () => {
    expect(resolveStoreUrl("sqlite:", "/var/aviso")).toEqual({ kind: "sqlite", path: "/var/aviso/aviso.db" });
    expect(resolveStoreUrl("sqlite:/abs/x.db", "/var/aviso")).toEqual({ kind: "sqlite", path: "/abs/x.db" });
    expect(resolveStoreUrl("sqlite:///abs/x.db", "/var/aviso")).toEqual({
      kind: "sqlite",
      path: "/abs/x.db",
    });
    expect(resolveStoreUrl("sqlite:sub/x.db", "/var/aviso")).toEqual({
      kind: "sqlite",
      path: "/var/aviso/sub/x.db",
    });
    expect(resolveStoreUrl("mysql://u:p@h:1/db", "/x")).toEqual({ kind: "mysql", url: "mysql://u:p@h:1/db" });
  });

  it("rejects other URLs with a message that names the accepted forms and hides passwords", () => {
    expect(() => resolveStoreUrl("postgres://bob:secret@db/aviso", "/x")).toThrow(/sqlite:.*mysql:\/\//);
    expect(() => resolveStoreUrl("postgres://bob:secret@db/aviso", "/x")).not.toThrow(/secret/);
    expect(() => resolveStoreUrl("", "/x")).toThrow(/Unsupported store URL/);
  });

  it("opens a migrated SQLite store under the data directory", async () => {
    const dataDir = join(dir, "data-dir");
    const store = await openStore("sqlite:", dataDir);
    try {
      expect(store.kind).toBe("sqlite");
      expect(await store.listQueues()).toEqual([]);
      expect(schemaVersions(join(dataDir, "aviso.db")).length).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});
