import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { SqliteError } from "better-sqlite3";
import { AvisoError } from "../../errors/aviso-error.ts";
import type { WriteOp, WriteOutcome } from "../store.ts";
import type { CommitAnswer, CommitRequest } from "./sqlite-commit-worker.ts";

/** How long close() waits for the thread to finish its batch before terminating it. */
const closeTimeoutMs = 5000;

/**
 * Store.commit on a worker thread with its own connection (WAL lets it write
 * while the node's connection reads). The node's event loop no longer stops
 * for each commit's fsync: profiled at full speed, that wait was ~45 % of
 * the loop's time (bench/RESULTS.md). Batches run one at a time in order;
 * SQLite's write lock orders them against the node's own writes (claims,
 * deletes), so fencing is unchanged. Errors come back as SqliteErrors with
 * their code, for the store's usual mapping.
 */
export class SqliteCommitThread {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve(outcomes: WriteOutcome[]): void; reject(error: unknown): void }
  >();
  #nextId = 1;
  #failure: AvisoError | undefined;
  readonly #exited: Promise<void>;

  constructor(path: string, busyTimeoutMs: number) {
    // The worker's code sits next to this file: .ts when run from source, .js when built.
    const entry = new URL(
      `./sqlite-commit-worker${extname(fileURLToPath(import.meta.url))}`,
      import.meta.url,
    );
    this.#worker = new Worker(new URL("./sqlite-commit-worker.mjs", import.meta.url), {
      workerData: { path, busyTimeoutMs, entry: entry.href },
    });
    // A thread with nothing in flight must not keep the process alive.
    this.#worker.unref();
    this.#worker.on("message", (answer: CommitAnswer) => this.#answer(answer));
    this.#worker.on("error", (error) => {
      this.#fail(new AvisoError("STORE_UNAVAILABLE", "SQLite commit thread failed", { cause: error }));
    });
    this.#exited = new Promise((resolve) => {
      this.#worker.once("exit", () => {
        this.#fail(new AvisoError("STORE_UNAVAILABLE", "SQLite commit thread stopped"));
        resolve();
      });
    });
  }

  commit(ops: WriteOp[]): Promise<WriteOutcome[]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise<WriteOutcome[]>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      this.#worker.postMessage({ id, ops } satisfies CommitRequest);
    });
  }

  async close(): Promise<void> {
    if (this.#failure === undefined) this.#worker.postMessage({ close: true } satisfies CommitRequest);
    const timer = setTimeout(() => void this.#worker.terminate(), closeTimeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }

  #answer(answer: CommitAnswer): void {
    const waiting = this.#pending.get(answer.id);
    if (waiting === undefined) return;
    this.#pending.delete(answer.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if ("outcomes" in answer) waiting.resolve(answer.outcomes);
    else waiting.reject(new SqliteError(answer.error.message, answer.error.code ?? "SQLITE_ERROR"));
  }

  #fail(error: AvisoError): void {
    this.#failure ??= error;
    for (const waiting of this.#pending.values()) waiting.reject(this.#failure);
    this.#pending.clear();
  }
}
