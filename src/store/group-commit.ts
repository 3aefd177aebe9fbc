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
   * Transactions in flight at once (default 1). A queue or topic stays in one
   * lane while any of its ops is unanswered, so its ops still commit in
   * submission order; different resources commit side by side and share the
   * database's log flushes (InnoDB group commit), and a resource with nothing
   * unanswered takes the least busy lane instead of waiting behind a busy
   * resource's transaction.
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
 * Group commit in `lanes` independent lanes. A queue or topic whose ops are
 * not all answered yet stays in the lane they are in, so its ops keep their
 * order; one with nothing unanswered goes to the lane with the fewest
 * unanswered ops, so a quiet queue does not wait behind a busy one's
 * transactions.
 */
export function createGroupCommitter(
  store: Pick<Store, "commit">,
  options: GroupCommitOptions = {},
): GroupCommitter {
  const count = Math.max(1, Math.trunc(options.lanes ?? 1));
  if (count === 1) return createLane(store, options);
  const lanes: Lane[] = Array.from({ length: count }, () => ({
    committer: createLane(store, options),
    unanswered: 0,
  }));
  /** The lane of each resource with unanswered ops, and how many it has there. */
  const held = new Map<string, { lane: Lane; unanswered: number }>();
  return {
    write(op) {
      const key = resourceKey(op);
      const hold = held.get(key) ?? { lane: leastBusy(lanes), unanswered: 0 };
      held.set(key, hold);
      const { lane } = hold;
      hold.unanswered++;
      lane.unanswered++;
      const written = lane.committer.write(op);
      // Registered before the caller's own handlers: once it sees the answer, the resource may move.
      const answered = () => {
        lane.unanswered--;
        if (--hold.unanswered === 0) held.delete(key);
      };
      written.then(answered, answered);
      return written;
    },
    flush: async () => {
      await Promise.all(lanes.map((lane) => lane.committer.flush()));
    },
    close: async () => {
      await Promise.all(lanes.map((lane) => lane.committer.close()));
    },
  };
}

interface Lane {
  committer: GroupCommitter;
  /** Ops written to it and not answered yet. */
  unanswered: number;
}

function resourceKey(op: WriteOp): string {
  return "queue" in op ? `q:${op.queue}` : `t:${op.topic}`;
}

/** The lane with the fewest unanswered ops (the first of equals). */
function leastBusy(lanes: readonly Lane[]): Lane {
  let best = lanes[0] as Lane;
  for (const lane of lanes) if (lane.unanswered < best.unanswered) best = lane;
  return best;
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
