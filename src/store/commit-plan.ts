import type { IdempotencyRecord, QueueMessage, TopicMessage } from "../broker/types.ts";
import type { WriteOp, WriteOutcome } from "./store.ts";

/*
 * The backend-neutral half of Store.commit: which rows a batch of serving-node writes
 * turns into once fencing has been decided. Backends lock/read the epochs of
 * `resourcesOf(ops)`, call `planCommit`, then apply the plan with as few
 * statements as they can, in this order: inserts, deletes, updates, heads.
 *
 * Grouping by statement instead of replaying ops one by one is safe because
 * serving nodes only move forward: seqs and offsets are assigned increasing, a trim
 * never reaches past the head it was computed from, and the updates kept are
 * the last ones per message.
 */

export interface ResourceNames {
  /** Distinct queue names, in byte order (the order rows are locked in). */
  queues: string[];
  /** Distinct topic names, in byte order. */
  topics: string[];
}

/** Current epoch of each resource that exists; absent = deleted. */
export interface ResourceEpochs {
  queues: ReadonlyMap<string, number>;
  topics: ReadonlyMap<string, number>;
}

export interface MessageChange {
  deliveries: number;
  availableAt: number;
}

export interface CommitPlan {
  /** One entry per op, in op order. */
  outcomes: WriteOutcome[];
  queueInserts: { queue: string; message: QueueMessage }[];
  /** Per queue: the seqs to delete, as sorted, disjoint inclusive runs (acks mostly come in runs). */
  queueDeletes: Map<string, SeqRange[]>;
  /** Per queue, per seq: the last change in the batch. */
  queueUpdates: Map<string, Map<number, MessageChange>>;
  queueNextSeq: Map<string, number>;
  topicInserts: { topic: string; message: TopicMessage }[];
  /** Per topic: drop offsets below this (the largest asked for). */
  topicTrims: Map<string, number>;
  topicNextOffset: Map<string, number>;
  cursors: { topic: string; queue: string; nextOffset: number }[];
  idempotency: IdempotencyRecord[];
}

/** An inclusive run of seqs: [first, last]. */
export type SeqRange = [first: number, last: number];

/** Sorted, disjoint inclusive runs covering exactly `seqs` (in any order, repeats allowed). */
export function seqRanges(seqs: readonly number[]): SeqRange[] {
  const sorted = Float64Array.from(seqs).sort();
  const ranges: SeqRange[] = [];
  for (const seq of sorted) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && seq <= last[1] + 1) last[1] = Math.max(last[1], seq);
    else ranges.push([seq, seq]);
  }
  return ranges;
}

export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function resourcesOf(ops: readonly WriteOp[]): ResourceNames {
  const queues = new Set<string>();
  const topics = new Set<string>();
  for (const op of ops) {
    if (op.type.startsWith("queue.")) queues.add(resourceOf(op));
    else topics.add(resourceOf(op));
  }
  return { queues: [...queues].sort(compareNames), topics: [...topics].sort(compareNames) };
}

function resourceOf(op: WriteOp): string {
  return "queue" in op ? op.queue : op.topic;
}

export function planCommit(ops: readonly WriteOp[], epochs: ResourceEpochs): CommitPlan {
  const plan: CommitPlan = {
    outcomes: [],
    queueInserts: [],
    queueDeletes: new Map(),
    queueUpdates: new Map(),
    queueNextSeq: new Map(),
    topicInserts: [],
    topicTrims: new Map(),
    topicNextOffset: new Map(),
    cursors: [],
    idempotency: [],
  };
  const cursors = new Map<string, { topic: string; queue: string; nextOffset: number }>();
  const removed = new Map<string, number[]>();
  const idempotency = new Map<string, IdempotencyRecord>();

  for (const op of ops) {
    const current = op.type.startsWith("queue.")
      ? epochs.queues.get(resourceOf(op))
      : epochs.topics.get(resourceOf(op));
    if (current === undefined) {
      plan.outcomes.push("missing");
      continue;
    }
    if (current !== op.epoch) {
      plan.outcomes.push("fenced");
      continue;
    }
    plan.outcomes.push("ok");
    switch (op.type) {
      case "queue.append":
        for (const message of op.messages) plan.queueInserts.push({ queue: op.queue, message });
        plan.queueNextSeq.set(op.queue, op.nextSeq);
        for (const record of op.idempotency ?? []) keepIdempotency(idempotency, record);
        if (op.cursor !== undefined) {
          cursors.set(`${op.cursor.topic}\u0000${op.queue}`, {
            topic: op.cursor.topic,
            queue: op.queue,
            nextOffset: op.cursor.nextOffset,
          });
        }
        break;
      case "queue.remove": {
        const seqs = removed.get(op.queue) ?? [];
        for (const seq of op.seqs) seqs.push(seq);
        removed.set(op.queue, seqs);
        break;
      }
      case "queue.update": {
        const changes = plan.queueUpdates.get(op.queue) ?? new Map<number, MessageChange>();
        for (const change of op.changes) {
          changes.set(change.seq, { deliveries: change.deliveries, availableAt: change.availableAt });
        }
        plan.queueUpdates.set(op.queue, changes);
        break;
      }
      case "topic.append":
        for (const message of op.messages) plan.topicInserts.push({ topic: op.topic, message });
        plan.topicNextOffset.set(op.topic, op.nextOffset);
        for (const record of op.idempotency ?? []) keepIdempotency(idempotency, record);
        break;
      case "topic.trim":
        plan.topicTrims.set(op.topic, Math.max(plan.topicTrims.get(op.topic) ?? 0, op.beforeOffset));
        break;
    }
  }
  for (const [queue, seqs] of removed) plan.queueDeletes.set(queue, seqRanges(seqs));
  plan.cursors = [...cursors.values()];
  plan.idempotency = [...idempotency.values()];
  return plan;
}

function keepIdempotency(records: Map<string, IdempotencyRecord>, record: IdempotencyRecord): void {
  records.set(`${record.kind}\u0000${record.resource}\u0000${record.key}`, record);
}

/** Messages an op carries (rows it writes), used to size batches. */
export function rowsOf(op: WriteOp): number {
  switch (op.type) {
    case "queue.append":
    case "topic.append":
      return op.messages.length;
    case "queue.remove":
      return op.seqs.length;
    case "queue.update":
      return op.changes.length;
    case "topic.trim":
      return 1;
  }
}

/**
 * Splits items into chunks whose estimated encoded size stays under maxBytes
 * and whose count stays under maxItems (an item larger than maxBytes gets a
 * chunk of its own). Keeps multi-row statements under the server's packet limit.
 */
export function chunk<T>(
  items: readonly T[],
  maxItems: number,
  maxBytes: number,
  sizeOf: (item: T) => number,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length >= maxItems || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
