import { parentPort, workerData } from "node:worker_threads";
import { serveCommits } from "../commit-thread-serve.ts";
import { createMysqlStore, type MysqlStoreOptions } from "./mysql-store.ts";

/*
 * The MySQL store's commit thread (mysql-commit-thread.ts): a store of its
 * own, with its own pool on the node's one server (a host list keeps its
 * commits on the node), that runs the batches the node sends side by side,
 * as the node's store would. Encoding the statements, writing them to the
 * socket and reading the answers happen here, off the node's event loop.
 */

const options = workerData as MysqlStoreOptions;
if (parentPort === null) throw new Error("mysql-commit-worker runs as a worker thread");
const store = await createMysqlStore({ ...options, commitThread: false });
serveCommits(
  parentPort,
  (ops) => store.commit(ops),
  () => store.close(),
);
