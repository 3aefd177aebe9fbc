import type { Connection, RowDataPacket } from "mysql2/promise";
import type { QueueMessage } from "../../broker/types.ts";
import type { SeqRange } from "../commit-plan.ts";

/*
 * How MySQL holds a queue's messages (migration 007, docs/architecture.md
 * "Queue segments on MySQL"): a commit's messages of one queue go in as one
 * row of `queue_segments`, not one row each. InnoDB's work is per row, not
 * per byte: one 130 KB row costs mariadbd about half of what 120 rows of
 * 1 KB do (bench/RESULTS.md "Queue segments").
 *
 * A segment holds a run of consecutive seqs (first_seq … last_seq, every one
 * present) and counts its removed messages in `acked`; the removed seqs
 * themselves are rows of `queue_acks` (disjoint runs: a message is removed
 * once), so a reader can skip them. A segment whose every message is removed
 * is deleted in the same transaction; the ack and state rows that pointed
 * into it go with it when it was the lowest, or at a later sweep
 * (orphan-sweep.ts). Redeliveries and nacks change a message's deliveries and
 * availableAt through `queue_message_state`, which overrides the body.
 *
 * Both a segment and an ack row span at most maxSegmentSeqs seqs, so every
 * lookup "which rows overlap seqs a … b" is an index range of the primary key
 * (first_seq between a − maxSegmentSeqs + 1 and b), however long the queue.
 *
 * The body is bytes: one line of decimal fields per message, an empty line,
 * then every payload and headers text back to back, their lengths in UTF-8
 * bytes. Migration 007 writes the same format in SQL for rows stored before it.
 *
 *   <seq> <publishedAt> <availableAt> <expiresAt|-> <deliveries> <payloadBytes> <headersBytes|->\n
 *   …\n
 *   \n
 *   <payload><headers><payload>…
 */

/** Most seqs one segment or one ack row spans. */
export const maxSegmentSeqs = 1024;

export interface SegmentRow {
  queue: string;
  firstSeq: number;
  lastSeq: number;
  messages: number;
  /** The stored body. */
  body: Buffer;
}

interface Entry {
  line: string;
  message: QueueMessage;
  bytes: number;
}

/**
 * A commit's appended messages as segments: per queue, in seq order, a new
 * segment at every gap in the seqs, every maxSegmentSeqs messages and past
 * maxBytes of body. Each body is written straight into one Buffer: joining
 * ~130 KB of text first would make V8 map (and the kernel fault in) a fresh
 * large-object page for every commit, twice.
 */
export function segmentsOf(
  inserts: ReadonlyArray<{ queue: string; message: QueueMessage }>,
  maxBytes: number,
): SegmentRow[] {
  const byQueue = new Map<string, QueueMessage[]>();
  for (const { queue, message } of inserts) {
    let messages = byQueue.get(queue);
    if (messages === undefined) {
      messages = [];
      byQueue.set(queue, messages);
    }
    messages.push(message);
  }
  const segments: SegmentRow[] = [];
  for (const [queue, messages] of byQueue) {
    messages.sort((a, b) => a.seq - b.seq);
    let open: Entry[] = [];
    let openBytes = 1;
    for (const m of messages) {
      const payloadBytes = Buffer.byteLength(m.payload);
      const headersBytes = m.headers === null ? -1 : Buffer.byteLength(m.headers);
      const line = `${m.seq} ${m.publishedAt} ${m.availableAt} ${m.expiresAt ?? "-"} ${m.deliveries} ${payloadBytes} ${headersBytes < 0 ? "-" : headersBytes}\n`;
      const bytes = line.length + payloadBytes + Math.max(headersBytes, 0);
      const last = open[open.length - 1];
      if (
        last !== undefined &&
        (m.seq !== last.message.seq + 1 || open.length >= maxSegmentSeqs || openBytes + bytes > maxBytes)
      ) {
        segments.push(segmentOf(queue, open, openBytes));
        open = [];
        openBytes = 1;
      }
      open.push({ line, message: m, bytes });
      openBytes += bytes;
    }
    if (open.length > 0) segments.push(segmentOf(queue, open, openBytes));
  }
  return segments;
}

function segmentOf(queue: string, entries: Entry[], bytes: number): SegmentRow {
  const body = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const { line } of entries) at += body.write(line, at, "latin1");
  body[at++] = 0x0a;
  for (const { message } of entries) {
    at += body.write(message.payload, at, "utf8");
    if (message.headers !== null) at += body.write(message.headers, at, "utf8");
  }
  return {
    queue,
    firstSeq: (entries[0] as Entry).message.seq,
    lastSeq: (entries[entries.length - 1] as Entry).message.seq,
    messages: entries.length,
    body,
  };
}

/** The messages of a stored segment body, in seq order. */
export function decodeSegment(body: Buffer): QueueMessage[] {
  const metaEnd = body.indexOf("\n\n");
  if (metaEnd < 0) throw new Error("A queue segment's body has no end of its message lines");
  const lines = body.toString("latin1", 0, metaEnd).split("\n");
  const messages: QueueMessage[] = [];
  let at = metaEnd + 2;
  for (const line of lines) {
    const fields = line.split(" ");
    if (fields.length !== 7) throw new Error(`A queue segment's message line has ${fields.length} fields`);
    const [seq, publishedAt, availableAt, expiresAt, deliveries, payloadBytes, headersBytes] = fields as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const payloadEnd = at + Number(payloadBytes);
    const headersEnd = headersBytes === "-" ? payloadEnd : payloadEnd + Number(headersBytes);
    if (headersEnd > body.length) throw new Error("A queue segment's body is shorter than its lines say");
    messages.push({
      seq: Number(seq),
      payload: body.toString("utf8", at, payloadEnd),
      headers: headersBytes === "-" ? null : body.toString("utf8", payloadEnd, headersEnd),
      publishedAt: Number(publishedAt),
      availableAt: Number(availableAt),
      expiresAt: expiresAt === "-" ? null : Number(expiresAt),
      deliveries: Number(deliveries),
    });
    at = headersEnd;
  }
  if (at !== body.length) throw new Error("A queue segment's body is longer than its lines say");
  return messages;
}

/** Runs of seqs no longer than maxSegmentSeqs each (ack rows are cut like segments). */
export function cutRanges(ranges: ReadonlyArray<readonly [number, number]>): [number, number][] {
  const cut: [number, number][] = [];
  for (const [first, last] of ranges) {
    for (let start = first; start <= last; start += maxSegmentSeqs) {
      cut.push([start, Math.min(last, start + maxSegmentSeqs - 1)]);
    }
  }
  return cut;
}

/** first_seq … last_seq of ack or segment rows. */
export function rangesOf(rows: RowDataPacket[]): SeqRange[] {
  return rows.map((r) => [Number(r.first_seq), Number(r.last_seq)]);
}

/** Segments fetched per query while reading: at most this many × 4 MiB of bodies in memory at once. */
const segmentsPerRead = 4;

/**
 * readSegments in a transaction of its own that reads one snapshot: the
 * store's sessions are READ COMMITTED, where every statement would see the
 * latest commit, and a commit that deletes a segment and the ack rows below
 * it between our read of the segments and of the acks would bring the
 * segment's removed messages back. REPEATABLE READ for this one transaction
 * sees such a commit whole or not at all.
 */
export async function readSegmentsInSnapshot(
  connection: Connection,
  queue: string,
  afterSeq: number,
  limit: number,
): Promise<QueueMessage[]> {
  await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
  await connection.query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
  const messages = await readSegments(connection, queue, afterSeq, limit);
  await connection.query("COMMIT");
  return messages;
}

/**
 * Up to `limit` of a queue's messages with seq > afterSeq, in seq order:
 * segments minus their removed seqs, with redelivery state applied. The
 * caller keeps it to one snapshot (readSegmentsInSnapshot).
 */
export async function readSegments(
  connection: Connection,
  queue: string,
  afterSeq: number,
  limit: number,
): Promise<QueueMessage[]> {
  const found: QueueMessage[] = [];
  let after = afterSeq;
  while (found.length < limit) {
    const [segments] = await connection.query<RowDataPacket[]>(
      "SELECT first_seq, last_seq, body FROM queue_segments WHERE queue = ? AND first_seq > ? AND last_seq > ? " +
        "ORDER BY first_seq LIMIT ?",
      [queue, after - maxSegmentSeqs, after, segmentsPerRead],
    );
    if (segments.length === 0) break;
    const low = Number(segments[0]?.first_seq);
    const high = Number(segments[segments.length - 1]?.last_seq);
    const [acks] = await connection.query<RowDataPacket[]>(
      "SELECT first_seq, last_seq FROM queue_acks WHERE queue = ? AND first_seq BETWEEN ? AND ? ORDER BY first_seq",
      [queue, low - maxSegmentSeqs + 1, high],
    );
    const [states] = await connection.query<RowDataPacket[]>(
      "SELECT seq, deliveries, available_at FROM queue_message_state WHERE queue = ? AND seq BETWEEN ? AND ?",
      [queue, low, high],
    );
    const removed = rangesOf(acks);
    const state = new Map(states.map((row) => [Number(row.seq), row]));
    // Messages come in seq order and ack rows are disjoint runs by first_seq: one sweep over both.
    let run = 0;
    for (const segment of segments) {
      for (const message of decodeSegment(segment.body as Buffer)) {
        while (run < removed.length && (removed[run] as SeqRange)[1] < message.seq) run++;
        const covering = removed[run];
        if (message.seq <= after || (covering !== undefined && covering[0] <= message.seq)) continue;
        const changed = state.get(message.seq);
        if (changed !== undefined) {
          message.deliveries = Math.max(message.deliveries, Number(changed.deliveries));
          message.availableAt = Number(changed.available_at);
        }
        found.push(message);
        if (found.length === limit) return found;
      }
    }
    if (segments.length < segmentsPerRead) break;
    after = high;
  }
  return found;
}
