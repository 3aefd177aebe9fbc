import { parentPort, workerData } from "node:worker_threads";
import { serveCommits } from "../commit-thread-serve.ts";
import { createSqliteCommit } from "./sqlite-commit.ts";
import { openSqliteDatabase } from "./sqlite-database.ts";

/*
 * The SQLite store's commit thread (sqlite-commit-thread.ts): its own
 * connection to the database file, applying one batch per message. A commit
 * waits for its fsync here instead of on the node's event loop.
 */

const { path, busyTimeoutMs } = workerData as { path: string; busyTimeoutMs: number };
if (parentPort === null) throw new Error("sqlite-commit-worker runs as a worker thread");
const db = openSqliteDatabase(path, busyTimeoutMs);
const commit = createSqliteCommit(db);
serveCommits(parentPort, commit, () => {
  db.close();
});
