// Entry of the stores' commit threads (sqlite-commit-thread.ts,
// mysql-commit-thread.ts): it imports `workerData.entry`. Plain
// JavaScript, so a thread can start from source as well as from dist/: run
// from source (the entry is a .ts file) it first registers tsx, which the
// node's own process may have loaded in a way a worker does not inherit.
import { workerData } from "node:worker_threads";

const entry = new URL(workerData.entry);
if (entry.pathname.endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
}
await import(entry.href);
