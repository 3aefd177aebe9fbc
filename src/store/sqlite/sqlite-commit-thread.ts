import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { SqliteError } from "better-sqlite3";
import { CommitThread } from "../commit-thread.ts";

/**
 * Store.commit on a worker thread with its own connection (WAL lets it write
 * while the node's connection reads). The node's event loop no longer stops
 * for each commit's fsync: profiled at full speed, that wait was ~45 % of
 * the loop's time (bench/RESULTS.md). Batches run one at a time in order;
 * SQLite's write lock orders them against the node's own writes (claims,
 * deletes), so fencing is unchanged. Errors come back as SqliteErrors with
 * their code, for the store's usual mapping.
 */
export function sqliteCommitThread(path: string, busyTimeoutMs: number): CommitThread {
  // The worker's code sits next to this file: .ts when run from source, .js when built.
  const entry = new URL(`./sqlite-commit-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  return new CommitThread(
    "SQLite",
    entry,
    { path, busyTimeoutMs },
    (error) => new SqliteError(error.message, error.code ?? "SQLITE_ERROR"),
  );
}
