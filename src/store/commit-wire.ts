import type { IdempotencyRecord, QueueMessage, TopicMessage } from "../broker/types.ts";
import type { WriteOp } from "./store.ts";

/*
 * WriteOps as they cross to the commit thread (commit-thread.ts). As a
 * structured clone a batch took 7.7 % of the node's CPU at full speed, its
 * serialisation on the event loop and its rebuilding on the thread
 * (bench/RESULTS.md "Handing a batch to the commit thread"): V8 walks ~100
 * small objects and their ~1 KB strings per commit, and interns every key
 * again on the other side. Packed, a batch is
 * three things: every number of every op in one Float64Array, every message
 * text in one byte buffer (both moved to the thread, not copied; the text
 * buffer comes back with the answer for a later batch), and the few strings
 * left (resource names) and rare extras (idempotency records, a binding's
 * cursor) as a small clone.
 *
 * The numbers, per op: its type code, its resource (an index into `names`),
 * its epoch, then
 *   queue.append  message count, nextSeq, then per message: seq, publishedAt,
 *                 availableAt, expiresAt (NaN: none), deliveries, payload
 *                 bytes, headers bytes (-1: none)
 *   queue.remove  seq count, the seqs
 *   queue.update  change count, then per change: seq, deliveries, availableAt
 *   topic.append  message count, nextOffset, then per message: offset,
 *                 publishedAt, key bytes, payload bytes, headers bytes (-1: none)
 *   topic.trim    beforeOffset
 * Texts are UTF-8 in the same order: a queue message's payload then headers,
 * a topic message's key, payload, headers. Every number is an integer below
 * 2^53 (seqs, offsets, epochs, milliseconds), exact in a double.
 */

const types = ["queue.append", "queue.remove", "queue.update", "topic.append", "topic.trim"] as const;
const queueMessageFields = 7;
const topicMessageFields = 5;
const changeFields = 3;

/** What an append carries besides its messages, by op index. */
interface Extras {
  idempotency?: IdempotencyRecord[];
  cursor?: { topic: string; nextOffset: number };
}

export interface PackedOps {
  numbers: Float64Array;
  /** The ops' message texts, UTF-8; may be longer than the texts (a reused buffer). */
  text: ArrayBuffer;
  names: string[];
  extras: Array<[number, Extras]>;
}

/** Past this bound a batch's texts are measured exactly rather than sized at 3 bytes per UTF-16 unit. */
const maxBoundBytes = 4 * 1024 * 1024;

/**
 * Bytes enough for a batch's texts, to size the text buffer: 3 per UTF-16
 * unit (UTF-8's most), or their exact UTF-8 length when that bound is large.
 */
export function textBytesFor(ops: readonly WriteOp[]): number {
  const bound = textsOf(ops, (text) => text.length) * 3;
  return bound <= maxBoundBytes ? bound : textsOf(ops, (text) => Buffer.byteLength(text));
}

function textsOf(ops: readonly WriteOp[], size: (text: string) => number): number {
  let total = 0;
  for (const op of ops) {
    if (op.type === "queue.append")
      for (const m of op.messages) total += size(m.payload) + (m.headers === null ? 0 : size(m.headers));
    else if (op.type === "topic.append")
      for (const m of op.messages)
        total += size(m.key) + size(m.payload) + (m.headers === null ? 0 : size(m.headers));
  }
  return total;
}

function numberCountOf(op: WriteOp): number {
  switch (op.type) {
    case "queue.append":
      return 5 + op.messages.length * queueMessageFields;
    case "queue.remove":
      return 4 + op.seqs.length;
    case "queue.update":
      return 4 + op.changes.length * changeFields;
    case "topic.append":
      return 5 + op.messages.length * topicMessageFields;
    case "topic.trim":
      return 4;
  }
}

/** Packs `ops`, writing their texts into `text` (at least textBytesFor(ops) bytes), which then belongs to the result. */
export function packOps(ops: readonly WriteOp[], text: ArrayBuffer): PackedOps {
  let count = 0;
  for (const op of ops) count += numberCountOf(op);
  const numbers = new Float64Array(count);
  const bytes = Buffer.from(text);
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const extras: Array<[number, Extras]> = [];
  let n = 0;
  let at = 0;
  const put = (value: number) => {
    numbers[n++] = value;
  };
  const write = (value: string) => {
    const written = bytes.write(value, at, "utf8");
    // UTF-8 takes at least a byte per UTF-16 unit: fewer means the buffer ran out and the text was cut.
    if (written < value.length) throw new Error("commit wire: the text buffer is too small for the batch");
    at += written;
    return written;
  };
  /** Headers and the like: the text's bytes, or -1 for null. */
  const putOptional = (value: string | null) => put(value === null ? -1 : write(value));
  ops.forEach((op, i) => {
    const name = "queue" in op ? op.queue : op.topic;
    let index = nameIndex.get(name);
    if (index === undefined) {
      index = names.push(name) - 1;
      nameIndex.set(name, index);
    }
    put(types.indexOf(op.type));
    put(index);
    put(op.epoch);
    switch (op.type) {
      case "queue.append":
        put(op.messages.length);
        put(op.nextSeq);
        for (const m of op.messages) {
          put(m.seq);
          put(m.publishedAt);
          put(m.availableAt);
          put(m.expiresAt ?? Number.NaN);
          put(m.deliveries);
          put(write(m.payload));
          putOptional(m.headers);
        }
        if (op.idempotency !== undefined || op.cursor !== undefined)
          extras.push([i, { idempotency: op.idempotency, cursor: op.cursor }]);
        break;
      case "queue.remove":
        put(op.seqs.length);
        for (const seq of op.seqs) put(seq);
        break;
      case "queue.update":
        put(op.changes.length);
        for (const change of op.changes) {
          put(change.seq);
          put(change.deliveries);
          put(change.availableAt);
        }
        break;
      case "topic.append":
        put(op.messages.length);
        put(op.nextOffset);
        for (const m of op.messages) {
          put(m.offset);
          put(m.publishedAt);
          put(write(m.key));
          put(write(m.payload));
          putOptional(m.headers);
        }
        if (op.idempotency !== undefined) extras.push([i, { idempotency: op.idempotency }]);
        break;
      case "topic.trim":
        put(op.beforeOffset);
        break;
    }
  });
  return { numbers, text, names, extras };
}

/** The ops packOps packed. Their strings are copies: `packed.text` is free again once this returns. */
export function unpackOps(packed: PackedOps): WriteOp[] {
  const { numbers, names } = packed;
  const bytes = Buffer.from(packed.text);
  const extras = new Map(packed.extras);
  let n = 0;
  let at = 0;
  const next = () => numbers[n++] as number;
  const read = (length: number) => {
    const value = bytes.toString("utf8", at, at + length);
    at += length;
    return value;
  };
  const readOptional = () => {
    const length = next();
    return length < 0 ? null : read(length);
  };
  const ops: WriteOp[] = [];
  while (n < numbers.length) {
    const type = types[next()];
    const name = names[next()] as string;
    const epoch = next();
    const extra = extras.get(ops.length);
    switch (type) {
      case "queue.append": {
        const messages: QueueMessage[] = [];
        const count = next();
        const nextSeq = next();
        for (let i = 0; i < count; i++) {
          const seq = next();
          const publishedAt = next();
          const availableAt = next();
          const expiresAt = next();
          const deliveries = next();
          const payload = read(next());
          messages.push({
            seq,
            payload,
            headers: readOptional(),
            publishedAt,
            availableAt,
            expiresAt: Number.isNaN(expiresAt) ? null : expiresAt,
            deliveries,
          });
        }
        const op: WriteOp = { type, queue: name, epoch, messages, nextSeq };
        if (extra?.idempotency !== undefined) op.idempotency = extra.idempotency;
        if (extra?.cursor !== undefined) op.cursor = extra.cursor;
        ops.push(op);
        break;
      }
      case "queue.remove": {
        const seqs: number[] = [];
        const count = next();
        for (let i = 0; i < count; i++) seqs.push(next());
        ops.push({ type, queue: name, epoch, seqs });
        break;
      }
      case "queue.update": {
        const changes: Array<{ seq: number; deliveries: number; availableAt: number }> = [];
        const count = next();
        for (let i = 0; i < count; i++)
          changes.push({ seq: next(), deliveries: next(), availableAt: next() });
        ops.push({ type, queue: name, epoch, changes });
        break;
      }
      case "topic.append": {
        const messages: TopicMessage[] = [];
        const count = next();
        const nextOffset = next();
        for (let i = 0; i < count; i++) {
          const offset = next();
          const publishedAt = next();
          const key = read(next());
          const payload = read(next());
          messages.push({
            offset,
            key,
            payload,
            headers: readOptional(),
            publishedAt,
          });
        }
        const op: WriteOp = { type, topic: name, epoch, messages, nextOffset };
        if (extra?.idempotency !== undefined) op.idempotency = extra.idempotency;
        ops.push(op);
        break;
      }
      case "topic.trim":
        ops.push({ type, topic: name, epoch, beforeOffset: next() });
        break;
      default:
        throw new Error(`commit wire: unknown op type at number ${n - 3}`);
    }
  }
  return ops;
}
