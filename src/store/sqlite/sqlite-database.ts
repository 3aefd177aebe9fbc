import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

/**
 * Opens (creating if needed) the database file with the settings every
 * connection of the store uses: the store's own and its commit thread's.
 * WAL + synchronous=FULL: a commit is fsynced before it returns, so an
 * acknowledged publish survives power loss, not only a killed process.
 */
export function openSqliteDatabase(path: string, busyTimeoutMs: number): Database.Database {
  let db: Database.Database | undefined;
  try {
    mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal" && path !== ":memory:")
      throw new Error(`SQLite refused WAL mode (got ${String(mode)})`);
    db.pragma("synchronous = FULL");
    db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    return db;
  } catch (error) {
    db?.close();
    throw error;
  }
}
