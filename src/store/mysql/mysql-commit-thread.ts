import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { AvisoError } from "../../errors/aviso-error.ts";
import { type Reason, reasons } from "../../errors/reasons.ts";
import { CommitThread } from "../commit-thread.ts";
import type { MysqlStoreOptions } from "./mysql-store.ts";

/**
 * Store.commit on a worker thread with a MySQL store of its own
 * (mysql-commit-worker.ts). Profiled at full speed, the node's event loop
 * spent a fifth of its time on commits: encoding rows, writing them to the
 * database's socket, reading the answers (bench/RESULTS.md). Fencing is
 * unchanged: the thread's transactions take the same locks, and only the
 * thread commits, so its queue_heads slots stay unique among the node's
 * commits in flight. Errors come back as the AvisoErrors the thread's store raised.
 */
export function mysqlCommitThread(options: MysqlStoreOptions): CommitThread {
  // The worker's code sits next to this file: .ts when run from source, .js when built.
  const entry = new URL(`./mysql-commit-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  return new CommitThread("MySQL", entry, options, (error) =>
    error.reason !== undefined && Object.hasOwn(reasons, error.reason)
      ? new AvisoError(error.reason as Reason, error.message)
      : new AvisoError("STORE_UNAVAILABLE", error.message),
  );
}
