import { format } from "mysql2/promise";
import type { SeqRange } from "../commit-plan.ts";
import type { WriteOp } from "../store.ts";
import { maxSegmentSeqs } from "./queue-segments.ts";

/*
 * Ack and state rows that no live segment overlaps any more, swept now and
 * then. A commit's removals delete the rows below the queue's lowest live
 * segment; a segment that goes while an older message stays at the head (a
 * delayed or redelivered one) leaves its rows above it, and without a sweep
 * they would wait for that message.
 *
 * The commit that removes a queue's seq at a multiple of sweepEverySeqs reads
 * the queue's ack rows, state rows and segments around that seq in its first
 * round trip, and deletes the orphans by primary key with its other writes.
 * The overlap is worked out here, not in SQL: MariaDB runs a correlated
 * `NOT EXISTS` over the segments as a scan of the whole queue per ack row
 * (bench/RESULTS.md "Rows behind a held message").
 *
 * A row once orphaned stays so: segments are only added above the queue's
 * head, and an ack or state row exists only for a seq whose segment was
 * committed before it. Ack rows are read before segments (READ COMMITTED,
 * each statement sees the latest commits), so any ack row read has its
 * segment, if still there, in the segments read after. Segments this
 * commit itself empties are still there when the sweep reads; their rows go
 * at a later sweep.
 */

/** A commit that removes a queue's seq at a multiple of this sweeps the queue. */
export const sweepEverySeqs = 4 * maxSegmentSeqs;
/** How far below that seq a sweep reads: as consumers move on, each stretch is swept 16 times. */
export const sweepWindowSeqs = 16 * sweepEverySeqs;

/** Keys per `IN (…)` of a delete: under MariaDB's in_predicate_conversion_threshold (1,000), so it stays a key lookup. */
const maxKeysPerDelete = 500;

/** Per queue, the highest seq at a multiple of sweepEverySeqs that the ops remove. */
export function sweepTargets(ops: readonly WriteOp[]): Map<string, number> {
  const targets = new Map<string, number>();
  for (const op of ops) {
    if (op.type !== "queue.remove") continue;
    for (const seq of op.seqs)
      if (seq % sweepEverySeqs === 0 && seq > (targets.get(op.queue) ?? 0)) targets.set(op.queue, seq);
  }
  return targets;
}

/** The window a sweep at `at` reads: seqs from sweepWindowSeqs below it to a segment above. */
function windowOf(at: number): { from: number; to: number } {
  return { from: at - sweepWindowSeqs, to: at + maxSegmentSeqs - 1 };
}

/**
 * The sweep's reads, in this order (ack rows before segments; see above):
 * three statements per queue. The segments read are every one that can
 * overlap a row read: a span of at most maxSegmentSeqs reaches that far
 * either side.
 */
export function sweepReads(queue: string, at: number): string[] {
  const { from, to } = windowOf(at);
  const reach = maxSegmentSeqs - 1;
  return [
    format("SELECT first_seq, last_seq FROM queue_acks WHERE queue = ? AND first_seq BETWEEN ? AND ?", [
      queue,
      from - reach,
      to,
    ]),
    format("SELECT seq FROM queue_message_state WHERE queue = ? AND seq BETWEEN ? AND ?", [queue, from, to]),
    format(
      "SELECT first_seq, last_seq FROM queue_segments WHERE queue = ? AND first_seq BETWEEN ? AND ? ORDER BY first_seq",
      [queue, from - 2 * reach, to + reach],
    ),
  ];
}

/**
 * The ack rows (by first seq) and state rows (by seq) that overlap none of
 * `segments` (sorted by first seq, disjoint).
 */
export function orphans(
  acks: readonly Readonly<SeqRange>[],
  states: readonly number[],
  segments: readonly Readonly<SeqRange>[],
): { ackFirsts: number[]; stateSeqs: number[] } {
  const overlapsSome = (first: number, last: number) => {
    // The last segment starting at or below `last`: it is the only one that can reach `first`.
    let lo = 0;
    let hi = segments.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((segments[mid] as Readonly<SeqRange>)[0] <= last) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && (segments[found] as Readonly<SeqRange>)[1] >= first;
  };
  return {
    ackFirsts: acks.filter(([first, last]) => !overlapsSome(first, last)).map(([first]) => first),
    stateSeqs: states.filter((seq) => !overlapsSome(seq, seq)),
  };
}

/** Deletes of those orphans by primary key. */
export function orphanDeletes(queue: string, found: { ackFirsts: number[]; stateSeqs: number[] }): string[] {
  const deletes: string[] = [];
  for (const [table, column, keys] of [
    ["queue_acks", "first_seq", found.ackFirsts],
    ["queue_message_state", "seq", found.stateSeqs],
  ] as const) {
    for (let i = 0; i < keys.length; i += maxKeysPerDelete) {
      deletes.push(
        format(`DELETE FROM ${table} WHERE queue = ? AND ${column} IN (?)`, [
          queue,
          keys.slice(i, i + maxKeysPerDelete),
        ]),
      );
    }
  }
  return deletes;
}
