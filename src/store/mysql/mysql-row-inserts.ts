import type { ExecuteValues } from "mysql2/promise";
import { type CommitPlan, chunk } from "../commit-plan.ts";
import { topicMessageColumns, topicMessageValues } from "../rows.ts";
import { type SegmentRow, segmentsOf } from "./queue-segments.ts";

/*
 * A commit's message rows (a queue's as segments: queue-segments.ts) go in as prepared statements (mysql2 execute: the
 * binary protocol), not as escaped SQL text. Measured on the store alone,
 * one queue of 1 KB messages, 250 rows a commit (bench/RESULTS.md "Prepared
 * inserts"): about half the CPU per row on our side (no escaping, no 300 KB
 * statement text to build, scan and encode), 30–40 % less in mariadbd (no
 * lexing of the payload literals), and a commit takes ~half as long, though
 * it is several round trips instead of one.
 *
 * A multi-row INSERT's text depends on its row count, and each distinct text
 * is prepared once per connection (mysql2 keeps them), so a batch is cut
 * into power-of-two row counts (250 rows: 128 + 64 + 32 + 16 + 8 + 2): at most
 * nine statements per table and connection, and at most one execute per bit
 * of the row count.
 */

/** Rows per prepared INSERT at most: 256 rows × 8 columns stays far under the 65,535 placeholders. */
const maxRowsPerExecute = 256;
/** Bytes of parameters per execute at most: under max_allowed_packet (4 MiB on MySQL 5.7, more elsewhere). */
const maxExecuteBytes = 4 * 1024 * 1024;

export interface PreparedInsert {
  sql: string;
  values: ExecuteValues[];
}

/** A message table and its columns, in the order queueMessageValues / topicMessageValues give values. */
interface MessageTable {
  name: string;
  columns: string[];
}
const queueSegments: MessageTable = {
  name: "queue_segments",
  columns: ["queue", "first_seq", "last_seq", "messages", "body"],
};
const segmentValues = (s: SegmentRow): ExecuteValues[] => [
  s.queue,
  s.firstSeq,
  s.lastSeq,
  s.messages,
  s.body,
];
/** A segment's body stays under one execute's budget, with room for its other columns. */
const maxSegmentBytes = maxExecuteBytes - 64 * 1024;
const topicMessages: MessageTable = {
  name: "topic_messages",
  columns: ["topic", ...topicMessageColumns.split(", ")],
};
const statementTexts = new Map<string, string>();

function insertText(table: MessageTable, rows: number): string {
  const key = `${table.name}:${rows}`;
  let sql = statementTexts.get(key);
  if (sql === undefined) {
    const row = `(${table.columns.map(() => "?").join(", ")})`;
    sql = `INSERT INTO ${table.name} (${table.columns.join(", ")}) VALUES ${Array.from({ length: rows }, () => row).join(", ")}`;
    statementTexts.set(key, sql);
  }
  return sql;
}

/** Upper bound of a value's bytes on the wire: ≤ 3 bytes of UTF-8 per UTF-16 unit, plus its length prefix. */
function valueBytes(text: string | null): number {
  return text === null ? 1 : text.length * 3 + 9;
}

/** Splits n into descending powers of two (250 → 128, 64, 32, 16, 8, 2). */
export function powerOfTwoParts(n: number): number[] {
  const parts: number[] = [];
  for (let bit = 1 << 30; bit >= 1; bit >>>= 1) if (n & bit) parts.push(bit);
  return parts;
}

function* executesOf<T>(
  rows: readonly T[],
  table: MessageTable,
  bytesOf: (row: T) => number,
  valuesOf: (row: T) => ExecuteValues[],
): Generator<PreparedInsert> {
  for (const part of chunk(rows, maxRowsPerExecute, maxExecuteBytes, bytesOf)) {
    let start = 0;
    for (const size of powerOfTwoParts(part.length)) {
      const values: ExecuteValues[] = [];
      for (let i = start; i < start + size; i++) values.push(...valuesOf(part[i] as T));
      yield { sql: insertText(table, size), values };
      start += size;
    }
  }
}

/** Every message row the plan inserts, as prepared multi-row INSERTs in plan order. */
export function* preparedInserts(plan: CommitPlan): Generator<PreparedInsert> {
  yield* executesOf(
    segmentsOf(plan.queueInserts, maxSegmentBytes),
    queueSegments,
    (segment) => segment.body.length + 300,
    segmentValues,
  );
  yield* executesOf(
    plan.topicInserts,
    topicMessages,
    ({ message }) => valueBytes(message.payload) + valueBytes(message.headers) + valueBytes(message.key) + 64,
    ({ topic, message }) => topicMessageValues(topic, message),
  );
}

/** Rows per text INSERT; past this the gain is flat and statements get unwieldy. */
const maxRowsPerTextInsert = 2000;

/** Upper bound of a string's escaped size in SQL text: ≤ 3 bytes per UTF-16 unit, escapes included. */
export function textBytes(text: string | null): number {
  return text === null ? 4 : text.length * 3 + 2;
}

/**
 * The same rows as escaped multi-row text INSERTs (`VALUES ?` for mysql2's
 * format), for servers or proxies without server-side prepared statements
 * (`storePreparedInserts: false`).
 */
export function* textInserts(
  plan: CommitPlan,
  maxStatementBytes: number,
): Generator<{ sql: string; values: ExecuteValues[] }> {
  const segmentRows = chunk(
    // A Buffer goes into SQL text as X'…': two hex digits per byte.
    segmentsOf(plan.queueInserts, Math.floor(maxStatementBytes / 2) - 1024),
    maxRowsPerTextInsert,
    maxStatementBytes,
    (segment) => segment.body.length * 2 + 300,
  );
  for (const rows of segmentRows) {
    yield {
      sql: `INSERT INTO ${queueSegments.name} (${queueSegments.columns.join(", ")}) VALUES ?`,
      values: [rows.map(segmentValues)],
    };
  }
  const topicRows = chunk(
    plan.topicInserts,
    maxRowsPerTextInsert,
    maxStatementBytes,
    ({ message }) => textBytes(message.payload) + textBytes(message.headers) + textBytes(message.key) + 300,
  );
  for (const rows of topicRows) {
    yield {
      sql: `INSERT INTO ${topicMessages.name} (${topicMessages.columns.join(", ")}) VALUES ?`,
      values: [rows.map(({ topic, message }) => topicMessageValues(topic, message))],
    };
  }
}
