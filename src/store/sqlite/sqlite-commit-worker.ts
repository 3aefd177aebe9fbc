import { parentPort, workerData } from "node:worker_threads";
import type { WriteOp } from "../store.ts";
import { createSqliteCommit } from "./sqlite-commit.ts";
import { openSqliteDatabase } from "./sqlite-database.ts";

/*
 * The SQLite store's commit thread (sqlite-commit-thread.ts): its own
 * connection to the database file, applying one batch per message. A commit
 * waits for its fsync here instead of on the node's event loop.
 */

export type CommitRequest = { id: number; ops: WriteOp[] } | { close: true };
export type CommitAnswer =
  | { id: number; outcomes: ReturnType<ReturnType<typeof createSqliteCommit>> }
  | { id: number; error: { code: string | undefined; message: string } };

const { path, busyTimeoutMs } = workerData as { path: string; busyTimeoutMs: number };
const port = parentPort;
if (port === null) throw new Error("sqlite-commit-worker runs as a worker thread");
const db = openSqliteDatabase(path, busyTimeoutMs);
const commit = createSqliteCommit(db);

port.on("message", (request: CommitRequest) => {
  if ("close" in request) {
    db.close();
    port.close();
    return;
  }
  let answer: CommitAnswer;
  try {
    answer = { id: request.id, outcomes: commit(request.ops) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    answer = {
      id: request.id,
      error: { code: typeof code === "string" ? code : undefined, message: String((error as Error).message) },
    };
  }
  port.postMessage(answer);
});
