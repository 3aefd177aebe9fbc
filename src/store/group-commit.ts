import { AvisoError } from "../errors/aviso-error.ts";
import { rowsOf } from "./commit-plan.ts";
import type { Store, WriteOp, WriteOutcome } from "./store.ts";

/** One finished store.commit, for metrics. */
export interface CommitBatchStats {
  ops: number;
  /** Messages / seqs / changes the batch carried. */
  rows: number;
  durationMs: number;
  failed: boolean;
}

export interface GroupCommitOptions {
  /** Most ops in one store.commit (default 1000). */
  maxBatchOps?: number;
  /** Most rows (messages, acked seqs, changes) in one store.commit (default 10000); a bigger op goes alone. */
  maxBatchMessages?: number;
  /**
   * Longest a store.commit may take before its writes are failed with
   * STORE_UNAVAILABLE (a frozen or partitioned database must not hang every
   * publish). Such a commit may still land later: serving nodes reload from the store
   * after any failed write, so they never build on a guess. Default 10 s.
   */
  commitTimeoutMs?: number;
  /** Called after every store.commit. */
  onBatch?: (stats: CommitBatchStats) => void;
  /**
   * Transactions in flight at once (default 1). Each queue or topic always
   * goes through the same lane, so its ops still commit in submission order;
   * different resources commit side by side and share the database's log
   * flushes (InnoDB group commit) instead of waiting behind one transaction.
   */
  lanes?: number;
  /**
   * Transactions in flight at once within one lane (default 1). A later
   * batch may commit while an earlier one is still in flight (the store must
   * allow that: MySQL's shared fence, docs/architecture.md "Commit
   * pipeline"), so a hot queue's batches share the database's log flushes
   * too; answers still go out in submission order, so a queue sees its
   * appends complete in seq order.
   */
  pipeline?: number;
}

/** Funnels many serving nodes' writes into few transactions. */
export interface GroupCommitter {
  /** Resolves with the op's outcome once its batch committed; rejects with the batch's error. */
  write(op: WriteOp): Promise<WriteOutcome>;
  /** Resolves once every op written before the call has settled. */
  flush(): Promise<void>;
  /** Refuses new writes (SHUTTING_DOWN) and waits for the pending ones. Does not close the store. */
  close(): Promise<void>;
}

interface PendingWrite {
  op: WriteOp;
  rows: number;
  resolve: (outcome: WriteOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit in `lanes` independent lanes: an op goes to the lane of its
 * queue or topic (a hash of its kind and name), so one resource's ops keep
 * their order while several resources' batches commit at once.
 */
export function createGroupCommitter(
  store: Pick<Store, "commit">,
  options: GroupCommitOptions = {},
): GroupCommitter {
  const count = Math.max(1, Math.trunc(options.lanes ?? 1));
  if (count === 1) return createLane(store, options);
  const lanes = Array.from({ length: count }, () => createLane(store, options));
  const laneOf = (op: WriteOp) => lanes[laneIndex(op, count)] as GroupCommitter;
  return {
    write: (op) => laneOf(op).write(op),
    flush: async () => {
      await Promise.all(lanes.map((lane) => lane.flush()));
    },
    close: async () => {
      await Promise.all(lanes.map((lane) => lane.close()));
    },
  };
}

/** The lane of an op's resource: FNV-1a over "q:" or "t:" and the name. */
export function laneIndex(op: WriteOp, lanes: number): number {
  const key = "queue" in op ? `q:${op.queue}` : `t:${op.topic}`;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % lanes;
}

/**
 * One lane: writes that arrive while it is idle wait for the next turn of
 * the event loop (setImmediate), so every caller in the current tick and its
 * I/O callbacks shares one transaction; writes that arrive while commits are
 * in flight go together into the next one. At most `pipeline` commits are in
 * flight, and each batch is answered only after every earlier batch was, so
 * ops on one resource complete in submission order.
 */
function createLane(store: Pick<Store, "commit">, options: GroupCommitOptions): GroupCommitter {
  const maxOps = Math.max(1, options.maxBatchOps ?? 1000);
  const maxRows = Math.max(1, options.maxBatchMessages ?? 10_000);
  const depth = Math.max(1, Math.trunc(options.pipeline ?? 1));
  const commitTimeoutMs = options.commitTimeoutMs ?? 10_000;
  const pending: PendingWrite[] = [];
  let inFlight = 0;
  let scheduled = false;
  let closed = false;
  let lastWrite: Promise<unknown> = Promise.resolve();
  /** Settles once every batch taken so far has been answered. */
  let answeredSoFar: Promise<void> = Promise.resolve();

  function takeBatch(): PendingWrite[] {
    let count = 0;
    let rows = 0;
    while (count < pending.length && count < maxOps) {
      const next = pending[count];
      if (next === undefined || (count > 0 && rows + next.rows > maxRows)) break;
      rows += next.rows;
      count++;
    }
    return pending.splice(0, count);
  }

  async function commitNext(): Promise<void> {
    scheduled = false;
    if (inFlight >= depth || pending.length === 0) return;
    inFlight++;
    const batch = takeBatch();
    const earlierAnswered = answeredSoFar;
    let answered = () => {};
    answeredSoFar = new Promise((resolve) => {
      answered = resolve;
    });
    const started = performance.now();
    let outcome: { outcomes: WriteOutcome[] } | { error: unknown };
    try {
      const outcomes = await withTimeout(store.commit(batch.map((p) => p.op)), commitTimeoutMs);
      if (outcomes.length !== batch.length) {
        throw new AvisoError(
          "INTERNAL",
          `store.commit returned ${outcomes.length} outcomes for ${batch.length} ops`,
        );
      }
      outcome = { outcomes };
    } catch (error) {
      outcome = { error };
    } finally {
      inFlight--;
    }
    const durationMs = performance.now() - started;
    // What queued up during this commit goes now, as one batch.
    if (pending.length > 0) void commitNext();
    await earlierAnswered;
    if ("error" in outcome) for (const p of batch) p.reject(outcome.error);
    else
      batch.forEach((p, i) => {
        p.resolve(outcome.outcomes[i] as WriteOutcome);
      });
    answered();
    options.onBatch?.({
      ops: batch.length,
      rows: batch.reduce((sum, p) => sum + p.rows, 0),
      durationMs,
      failed: "error" in outcome,
    });
  }

  function schedule(): void {
    if (inFlight >= depth || scheduled) return;
    scheduled = true;
    setImmediate(() => void commitNext());
  }

  async function flush(): Promise<void> {
    await lastWrite.then(
      () => undefined,
      () => undefined,
    );
  }

  return {
    write(op) {
      if (closed)
        return Promise.reject(new AvisoError("SHUTTING_DOWN", "The store's group committer is closed"));
      const promise = new Promise<WriteOutcome>((resolve, reject) => {
        pending.push({ op, rows: rowsOf(op), resolve, reject });
      });
      lastWrite = promise;
      schedule();
      return promise;
    },
    flush,
    async close() {
      closed = true;
      await flush();
    },
  };
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new AvisoError(
            "STORE_UNAVAILABLE",
            `The store did not answer within ${timeoutMs} ms; the write was not acknowledged.`,
          ),
        ),
      timeoutMs,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
