import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database, { SqliteError } from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { isDuplicateKey, isUnavailable, toStoreError } from "../../src/store/sqlite/sqlite-errors.ts";

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected the action to throw");
}

function codeOf(error: unknown): string | undefined {
  return error instanceof SqliteError ? error.code : undefined;
}

/** An in-memory table with a primary key, a unique column and a NOT NULL column. */
function keyedTable(): Database.Database {
  const db = new Database(":memory:");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT UNIQUE, body TEXT NOT NULL)");
  db.prepare("INSERT INTO t VALUES (1, 'a', 'x')").run();
  return db;
}

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe("SQLite error classification", () => {
  it("counts a PRIMARY KEY or UNIQUE violation SQLite raised as a duplicate key", () => {
    const db = keyedTable();
    expect(isDuplicateKey(thrownBy(() => db.prepare("INSERT INTO t VALUES (1, 'b', 'x')").run()))).toBe(true);
    expect(isDuplicateKey(thrownBy(() => db.prepare("INSERT INTO t VALUES (2, 'a', 'x')").run()))).toBe(true);
    db.close();
  });

  it("does not count another constraint, another SQLite error or a look-alike that is no SqliteError as a duplicate key", () => {
    const db = keyedTable();
    const notNull = thrownBy(() => db.prepare("INSERT INTO t VALUES (2, 'b', NULL)").run());
    expect(codeOf(notNull)).toBe("SQLITE_CONSTRAINT_NOTNULL");
    expect(isDuplicateKey(notNull)).toBe(false);
    expect(isDuplicateKey(thrownBy(() => db.prepare("SELECT * FROM missing").all()))).toBe(false);
    db.close();
    expect(isDuplicateKey(Object.assign(new Error("dup"), { code: "SQLITE_CONSTRAINT_PRIMARYKEY" }))).toBe(
      false,
    );
    expect(isDuplicateKey(undefined)).toBe(false);
  });

  it("counts busy, locked, I/O, full-disk, unopenable and read-only failures as unavailable, extended codes included", () => {
    for (const code of [
      "SQLITE_BUSY",
      "SQLITE_BUSY_SNAPSHOT",
      "SQLITE_LOCKED",
      "SQLITE_LOCKED_SHAREDCACHE",
      "SQLITE_IOERR",
      "SQLITE_IOERR_WRITE",
      "SQLITE_FULL",
      "SQLITE_CANTOPEN",
      "SQLITE_CANTOPEN_NOTEMPDIR",
      "SQLITE_READONLY",
      "SQLITE_READONLY_DBMOVED",
    ]) {
      expect(isUnavailable(new SqliteError("failed", code)), code).toBe(true);
    }
  });

  it("does not count other result codes, or a look-alike that is no SqliteError, as unavailable", () => {
    for (const code of [
      "SQLITE_ERROR",
      "SQLITE_CORRUPT",
      "SQLITE_CONSTRAINT_UNIQUE",
      "SQLITE_MISMATCH",
      "SQLITE_BUSYNESS",
    ]) {
      expect(isUnavailable(new SqliteError("failed", code)), code).toBe(false);
    }
    expect(isUnavailable(Object.assign(new Error("busy"), { code: "SQLITE_BUSY" }))).toBe(false);
    expect(isUnavailable("SQLITE_BUSY")).toBe(false);
  });

  it("counts a write refused because another connection holds the write lock as unavailable", () => {
    const directory = mkdtempSync(join(tmpdir(), "aviso-sqlite-errors-"));
    directories.push(directory);
    const file = join(directory, "store.db");
    const holder = new Database(file);
    holder.exec("CREATE TABLE t (id INTEGER)");
    const waiter = new Database(file, { timeout: 0 });
    holder.exec("BEGIN IMMEDIATE");
    const busy = thrownBy(() => waiter.exec("BEGIN IMMEDIATE"));
    holder.exec("ROLLBACK");
    holder.close();
    waiter.close();
    expect(codeOf(busy)).toBe("SQLITE_BUSY");
    expect(isUnavailable(busy)).toBe(true);
  });

  it("counts a database file that cannot be opened (here: a directory) as unavailable", () => {
    const directory = mkdtempSync(join(tmpdir(), "aviso-sqlite-errors-"));
    directories.push(directory);
    const cannotOpen = thrownBy(() => new Database(directory));
    expect(codeOf(cannotOpen)).toBe("SQLITE_CANTOPEN");
    expect(isUnavailable(cannotOpen)).toBe(true);
  });
});

describe("toStoreError", () => {
  it("passes an AvisoError through unchanged", () => {
    const original = new AvisoError("QUEUE_NOT_FOUND", "no such queue");
    expect(toStoreError(original, "append")).toBe(original);
  });

  it("turns an unavailable SQLite failure into STORE_UNAVAILABLE naming the action, with the failure as cause", () => {
    const busy = new SqliteError("database is locked", "SQLITE_BUSY");
    const error = toStoreError(busy, "append");
    expect(error.reason).toBe("STORE_UNAVAILABLE");
    expect(error.message).toBe("SQLite store unavailable during append");
    expect(error.cause).toBe(busy);
  });

  it("turns any other failure into INTERNAL naming the action, with the failure as cause", () => {
    const corrupt = new SqliteError("database disk image is malformed", "SQLITE_CORRUPT");
    const error = toStoreError(corrupt, "restore");
    expect(error.reason).toBe("INTERNAL");
    expect(error.message).toBe("SQLite store failed during restore");
    expect(error.cause).toBe(corrupt);
    const plain = new TypeError("not a function");
    expect(toStoreError(plain, "commit")).toMatchObject({ reason: "INTERNAL", cause: plain });
  });
});
