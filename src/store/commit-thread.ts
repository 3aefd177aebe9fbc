import { Worker } from "node:worker_threads";
import { AvisoError } from "../errors/aviso-error.ts";
import { type PackedOps, packOps, textBytesFor } from "./commit-wire.ts";
import type { WriteOp, WriteOutcome } from "./store.ts";

/** How long close() waits for the thread to finish its batches before terminating it. */
const closeTimeoutMs = 5000;

/** A commit that failed in the thread, as it crosses to the node: enough to rebuild the store's error. */
export interface ThreadError {
  /** The driver's error code (SQLite's `SQLITE_…`), when it had one. */
  code: string | undefined;
  /** The AvisoError reason, when the thread's store already mapped the error to one. */
  reason: string | undefined;
  message: string;
}

export type CommitRequest = { id: number; ops: PackedOps } | { close: true };
/** A batch's answer; `text` is its packed text buffer handed back for a later batch. */
export type CommitAnswer = { id: number; text: ArrayBuffer } & (
  | { outcomes: WriteOutcome[] }
  | { error: ThreadError }
);

/** Text buffers kept for reuse (a fresh one costs page faults on first touch), and the largest kept. */
const maxSpareTexts = 4;
const maxSpareTextBytes = 4 * 1024 * 1024;
const minTextBytes = 256 * 1024;

/**
 * Store.commit on a worker thread with its own connection, so the node's
 * event loop does not spend its time on the commit (an fsync wait on SQLite,
 * encoding, socket writes and answers on MySQL). The thread runs
 * `entry` (a module that calls serveCommits) through worker-entry.mjs;
 * `fromThread` turns a failed commit back into the store's own error.
 * Batches are answered as the thread finishes them; callers that need an
 * order (the group committer) wait for it themselves.
 */
export class CommitThread {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve(outcomes: WriteOutcome[]): void; reject(error: unknown): void }
  >();
  readonly #fromThread: (error: ThreadError) => unknown;
  readonly #spareTexts: ArrayBuffer[] = [];
  #nextId = 1;
  #failure: AvisoError | undefined;
  readonly #exited: Promise<void>;

  constructor(what: string, entry: URL, workerData: object, fromThread: (error: ThreadError) => unknown) {
    this.#fromThread = fromThread;
    this.#worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), {
      workerData: { ...workerData, entry: entry.href },
    });
    // A thread with nothing in flight must not keep the process alive.
    this.#worker.unref();
    this.#worker.on("message", (answer: CommitAnswer) => this.#answer(answer));
    this.#worker.on("error", (error) => {
      this.#fail(new AvisoError("STORE_UNAVAILABLE", `${what} commit thread failed`, { cause: error }));
    });
    this.#exited = new Promise((resolve) => {
      this.#worker.once("exit", () => {
        this.#fail(new AvisoError("STORE_UNAVAILABLE", `${what} commit thread stopped`));
        resolve();
      });
    });
  }

  commit(ops: WriteOp[]): Promise<WriteOutcome[]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise<WriteOutcome[]>((resolve, reject) => {
      const packed = packOps(ops, this.#textOf(textBytesFor(ops)));
      this.#worker.postMessage({ id, ops: packed } satisfies CommitRequest, [
        packed.text,
        packed.numbers.buffer as ArrayBuffer,
      ]);
      // Only once posted: a batch that never left (packing or posting threw) is not waited for.
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
    });
  }

  async close(): Promise<void> {
    if (this.#failure === undefined) this.#worker.postMessage({ close: true } satisfies CommitRequest);
    const timer = setTimeout(() => void this.#worker.terminate(), closeTimeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** A text buffer of at least `bytes`: a spare one when one is big enough. */
  #textOf(bytes: number): ArrayBuffer {
    const i = this.#spareTexts.findIndex((text) => text.byteLength >= bytes);
    if (i >= 0) return this.#spareTexts.splice(i, 1)[0] as ArrayBuffer;
    if (bytes > maxSpareTextBytes) return new ArrayBuffer(bytes);
    // A power of two, so that the next batch, a little larger, still fits.
    return new ArrayBuffer(2 ** Math.ceil(Math.log2(Math.max(bytes, minTextBytes))));
  }

  /** Keeps a returned text buffer unless it is too large; past maxSpareTexts the smallest goes. */
  #keepSpare(text: ArrayBuffer): void {
    if (text.byteLength > maxSpareTextBytes) return;
    this.#spareTexts.push(text);
    if (this.#spareTexts.length <= maxSpareTexts) return;
    let smallest = 0;
    this.#spareTexts.forEach((spare, i) => {
      if (spare.byteLength < (this.#spareTexts[smallest] as ArrayBuffer).byteLength) smallest = i;
    });
    this.#spareTexts.splice(smallest, 1);
  }

  #answer(answer: CommitAnswer): void {
    this.#keepSpare(answer.text);
    const waiting = this.#pending.get(answer.id);
    if (waiting === undefined) return;
    this.#pending.delete(answer.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if ("outcomes" in answer) waiting.resolve(answer.outcomes);
    else waiting.reject(this.#fromThread(answer.error));
  }

  #fail(error: AvisoError): void {
    this.#failure ??= error;
    for (const waiting of this.#pending.values()) waiting.reject(this.#failure);
    this.#pending.clear();
  }
}
