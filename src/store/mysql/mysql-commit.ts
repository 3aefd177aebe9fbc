import { format, type PoolConnection, type RowDataPacket, type SqlValue } from "mysql2/promise";
import { type CommitPlan, chunk, planCommit, resourcesOf, type SeqRange } from "../commit-plan.ts";
import { idempotencyValues } from "../rows.ts";
import type { WriteOp, WriteOutcome } from "../store.ts";
import { preparedInserts, textBytes, textInserts } from "./mysql-row-inserts.ts";
import { orphanDeletes, orphans, sweepReads, sweepTargets } from "./orphan-sweep.ts";
import { cutRanges, maxSegmentSeqs, rangesOf } from "./queue-segments.ts";

/*
 * Store.commit for MySQL: lock the touched queue/topic rows in name order (so
 * concurrent committers on other nodes cannot deadlock on them), fence by
 * epoch, insert the message rows with prepared statements (the bulk of the
 * bytes: mysql-row-inserts.ts), then send every other write together as
 * multi-row text statements, COMMIT included. Those values are escaped by
 * mysql2's format(), so joining statements is safe.
 *
 * Two fences (docs/architecture.md "Commit pipeline"):
 * - "shared" (one server): queue rows are read with a shared lock and never
 *   written, so several transactions of one queue commit side by side and
 *   share a log flush; a claim's exclusive lock still orders it before or
 *   after each of them. The queue's next seq goes to this transaction's own
 *   row of queue_heads (`slot`), so side-by-side commits never touch one row.
 * - "exclusive" (Galera, or not yet known): FOR UPDATE plus a write of each
 *   resource row, which certification needs (migration 005); one queue's
 *   transactions then take turns.
 */

/** How a commit fences queue writes; see above. */
export interface CommitFence {
  mode: "shared" | "exclusive";
  /** This transaction's queue_heads slot, unique among the node's commits in flight. */
  slot: number;
}

/** How message rows go in: prepared statements (default) or escaped text (mysql-row-inserts.ts). */
export type RowInsertMode = "prepared" | "text";

/** Budget for one statement and one round trip: under max_allowed_packet (4 MiB on MySQL 5.7, 16 MiB on MariaDB, 64 MiB on MySQL 8). */
const maxStatementBytes = 4 * 1024 * 1024;
/** Rows per multi-row INSERT; past this the gain is flat and statements get unwieldy. */
const maxRowsPerInsert = 2000;
/** Fewer message rows than this go in as text even in "prepared" mode (see commitOnConnection). */
const minPreparedRows = 8;
/** UTF-16 units of queue payloads and headers past which a commit sends them prepared: ≤ 3 MiB as hex text. */
const maxTextQueueUnits = 512 * 1024;

function queueTextUnits(plan: CommitPlan): number {
  let units = 0;
  for (const { message } of plan.queueInserts)
    units += message.payload.length + (message.headers?.length ?? 0);
  return units;
}

/** Keys per IN (…) list / CASE. */
const maxKeysPerStatement = 1000;
/** Ack runs per UPDATE of segment counts. */
const maxRunsPerUpdate = 100;

interface Statement {
  sql: string;
  values: SqlValue[];
}

/**
 * Runs the whole batch in one transaction on `connection` (opened with
 * multipleStatements): (1) begin + lock and read the epochs, (2) the message
 * rows as prepared multi-row INSERTs (mysql-row-inserts.ts), one round trip
 * each, (3) every other write + COMMIT in one round trip when it fits. A
 * failing statement stops the rest, COMMIT included; the caller then rolls back.
 */
export async function commitOnConnection(
  connection: PoolConnection,
  ops: readonly WriteOp[],
  fence: CommitFence = { mode: "exclusive", slot: 0 },
  inserts: RowInsertMode = "prepared",
): Promise<WriteOutcome[]> {
  const names = resourcesOf(ops);
  const locks = [
    ...lockStatements("queues", names.queues, fence.mode === "shared" ? "LOCK IN SHARE MODE" : "FOR UPDATE"),
    ...lockStatements("topics", names.topics, "FOR UPDATE"),
  ];
  // A sweep's reads ride the lock round trip (orphan-sweep.ts); a removal always locks its queue.
  const sweeps = [...sweepTargets(ops)];
  const reads = sweeps.flatMap(([queue, at]) => sweepReads(queue, at));
  const [results] = await connection.query(
    ["START TRANSACTION", ...locks.map((l) => l.sql), ...reads].join(";\n"),
  );
  // With several statements mysql2 answers one result per statement; with one, that result alone.
  const resultOf = (i: number) =>
    (locks.length === 0 ? [] : (results as unknown[])[i + 1]) as RowDataPacket[];
  const queues = new Map<string, number>();
  const topics = new Map<string, number>();
  locks.forEach((lock, i) => {
    for (const row of resultOf(i))
      (lock.table === "queues" ? queues : topics).set(String(row.name), Number(row.epoch));
  });
  const plan = planCommit(ops, { queues, topics });
  const sweepDeletes = sweeps.flatMap(([queue], k) => {
    // A fenced or missing queue's removals are not in the plan: nor is its sweep.
    if (!plan.queueDeletes.has(queue)) return [];
    const read = (j: number) => resultOf(locks.length + 3 * k + j);
    const seqs = read(1).map((r) => Number(r.seq));
    return orphanDeletes(queue, orphans(rangesOf(read(0)), seqs, rangesOf(read(2))));
  });
  // A few rows ride the text round trip: an execute is a round trip of its own, which at one
  // message per commit costs more than escaping it (bench/RESULTS.md "Prepared inserts").
  // Large messages go prepared too: text carries a segment's body as X'…', twice its size.
  const prepared =
    inserts === "prepared" &&
    (plan.queueInserts.length + plan.topicInserts.length >= minPreparedRows ||
      queueTextUnits(plan) > maxTextQueueUnits);
  if (prepared) {
    for (const insert of preparedInserts(plan)) await connection.execute(insert.sql, insert.values);
  }
  const statements = [
    ...fenceStatements(ops, plan, fence),
    ...(prepared ? [] : textInserts(plan, maxStatementBytes)),
    ...statementsFor(plan, fence),
  ].map((s) => format(s.sql, s.values as SqlValue[]));
  statements.push(...sweepDeletes, "COMMIT");
  for (const trip of roundTrips(statements)) await connection.query(trip.join(";\n"));
  return plan.outcomes;
}

/**
 * The statements split into round trips under maxStatementBytes. UTF-8 takes
 * at most 3 bytes per UTF-16 unit, so when that bound fits (any commit short
 * of ~1.3 M characters) one trip goes without measuring: Buffer.byteLength
 * over every statement was ~6 % of a serving node's CPU at full speed
 * (bench/RESULTS.md "CPU per message").
 */
function roundTrips(statements: string[]): string[][] {
  let upperBound = 0;
  for (const sql of statements) upperBound += sql.length * 3 + 2;
  if (upperBound <= maxStatementBytes) return [statements];
  return chunk(statements, Number.POSITIVE_INFINITY, maxStatementBytes, (sql) => Buffer.byteLength(sql) + 2);
}

function lockStatements(
  table: "queues" | "topics",
  names: readonly string[],
  lock: "FOR UPDATE" | "LOCK IN SHARE MODE",
): { table: string; sql: string }[] {
  return chunk(names, maxKeysPerStatement, Number.POSITIVE_INFINITY, () => 0).map((part) => ({
    table,
    sql: format(`SELECT name, epoch FROM ${table} WHERE name IN (?) ORDER BY name ${lock}`, [part]),
  }));
}

/**
 * Writes the row of every queue/topic the batch writes for (`commits + 1`),
 * so the fence is in the transaction's write set. On one server the FOR
 * UPDATE lock already orders a claim before or after the whole commit; on
 * Galera that lock is local to one node, and only rows the transaction
 * writes are certified: a claim committed on another node between our epoch
 * read and our COMMIT then fails our COMMIT (deadlock, 1213) instead of
 * letting writes of the old epoch land after it (migration 005).
 * The shared fence writes no resource row: it runs on one server only.
 */
function fenceStatements(ops: readonly WriteOp[], plan: CommitPlan, fence: CommitFence): Statement[] {
  if (fence.mode === "shared") return [];
  const written = { queues: new Set<string>(), topics: new Set<string>() };
  ops.forEach((op, i) => {
    if (plan.outcomes[i] !== "ok") return;
    if ("queue" in op) written.queues.add(op.queue);
    else written.topics.add(op.topic);
  });
  return (["queues", "topics"] as const).flatMap((table) =>
    chunk([...written[table]], maxKeysPerStatement, Number.POSITIVE_INFINITY, () => 0).map((part) => ({
      sql: `UPDATE ${table} SET commits = commits + 1 WHERE name IN (?)`,
      values: [part],
    })),
  );
}

function* statementsFor(plan: CommitPlan, fence: CommitFence): Generator<Statement> {
  if (fence.mode === "shared") yield* slotHeads(plan.queueNextSeq, fence.slot);
  // Before the removals, which delete the state rows of the segments they delete.
  for (const [queue, changes] of plan.queueUpdates) {
    for (const part of chunk([...changes], maxRowsPerInsert, Number.POSITIVE_INFINITY, () => 0)) {
      yield {
        // GREATEST: a side-by-side commit retried after a deadlock may land after a later one.
        sql:
          "INSERT INTO queue_message_state (queue, seq, deliveries, available_at) VALUES ? " +
          "ON DUPLICATE KEY UPDATE deliveries = GREATEST(deliveries, VALUES(deliveries)), available_at = VALUES(available_at)",
        values: [part.map(([seq, change]) => [queue, seq, change.deliveries, change.availableAt])],
      };
    }
  }
  for (const [queue, ranges] of plan.queueDeletes) yield* segmentRemovals(queue, ranges);
  for (const [topic, beforeOffset] of plan.topicTrims) {
    yield {
      sql: "DELETE FROM topic_messages WHERE topic = ? AND msg_offset < ?",
      values: [topic, beforeOffset],
    };
  }
  if (fence.mode === "exclusive") yield* headUpdates("queues", "next_seq", plan.queueNextSeq);
  yield* headUpdates("topics", "next_offset", plan.topicNextOffset);
  for (const part of chunk(plan.cursors, maxKeysPerStatement, Number.POSITIVE_INFINITY, () => 0)) {
    yield {
      sql:
        // GREATEST: a cursor only moves forward, even if a retried commit lands after a later one.
        `UPDATE bindings SET next_offset = GREATEST(next_offset, CASE ${part.map(() => "WHEN topic = ? AND queue = ? THEN ?").join(" ")} END) ` +
        `WHERE (topic, queue) IN (${part.map(() => "(?, ?)").join(", ")})`,
      values: [
        ...part.flatMap((c) => [c.topic, c.queue, c.nextOffset]),
        ...part.flatMap((c) => [c.topic, c.queue]),
      ],
    };
  }
  const idempotencyRows = chunk(
    plan.idempotency,
    maxRowsPerInsert,
    maxStatementBytes,
    (r) => textBytes(r.key) + textBytes(r.result) + 300,
  );
  for (const rows of idempotencyRows) {
    yield {
      // VALUES(col) is deprecated in MySQL 8.0.20+ but is the spelling MySQL and MariaDB both accept.
      sql:
        "INSERT INTO idempotency (kind, resource, idem_key, result, expires_at) VALUES ? " +
        "ON DUPLICATE KEY UPDATE result = VALUES(result), expires_at = VALUES(expires_at)",
      values: [rows.map(idempotencyValues)],
    };
  }
}

/**
 * A queue's removed seqs (acked, expired, dead-lettered), on segments
 * (queue-segments.ts): the runs become ack rows, each run adds how many of
 * its seqs fall in a segment to that segment's `acked`, and a segment with
 * every message removed goes. Ack and state rows below the queue's lowest
 * live segment point at nothing any more and go too. Every statement is a
 * primary-key range: segments and ack rows span at most maxSegmentSeqs seqs.
 */
function* segmentRemovals(queue: string, ranges: readonly SeqRange[]): Generator<Statement> {
  const runs = cutRanges(ranges);
  for (const part of chunk(runs, maxRowsPerInsert, Number.POSITIVE_INFINITY, () => 0)) {
    yield {
      sql: "INSERT INTO queue_acks (queue, first_seq, last_seq) VALUES ?",
      values: [part.map(([first, last]) => [queue, first, last])],
    };
  }
  for (const part of chunk(runs, maxRunsPerUpdate, Number.POSITIVE_INFINITY, () => 0)) {
    const low = (part[0] as SeqRange)[0];
    const high = (part[part.length - 1] as SeqRange)[1];
    // How many of the part's seqs fall in the segment: a run adds its overlap, or nothing.
    const overlaps = part
      .map(() => "GREATEST(0, LEAST(last_seq, ?) - GREATEST(first_seq, ?) + 1)")
      .join(" + ");
    yield {
      sql: `UPDATE queue_segments SET acked = acked + ${overlaps} WHERE queue = ? AND first_seq BETWEEN ? AND ? AND last_seq >= ?`,
      values: [...part.flatMap(([first, last]) => [last, first]), queue, low - maxSegmentSeqs + 1, high, low],
    };
    yield {
      sql: "DELETE FROM queue_segments WHERE queue = ? AND first_seq BETWEEN ? AND ? AND acked >= messages",
      values: [queue, low - maxSegmentSeqs + 1, high],
    };
  }
  // A row below the lowest live segment covers no live message (new segments only come
  // above it); with no segment left, none does.
  const lowestLive = `COALESCE((SELECT MIN(first_seq) FROM queue_segments WHERE queue = ?), ${Number.MAX_SAFE_INTEGER})`;
  yield {
    sql: `DELETE FROM queue_acks WHERE queue = ? AND first_seq < ${lowestLive} AND last_seq < ${lowestLive}`,
    values: [queue, queue, queue],
  };
  yield {
    sql: `DELETE FROM queue_message_state WHERE queue = ? AND seq < ${lowestLive}`,
    values: [queue, queue],
  };
}

function* headUpdates(
  table: "queues" | "topics",
  column: "next_seq" | "next_offset",
  heads: ReadonlyMap<string, number>,
): Generator<Statement> {
  for (const part of chunk([...heads], maxKeysPerStatement, Number.POSITIVE_INFINITY, () => 0)) {
    yield {
      // GREATEST: a head never moves back, even if a retried commit lands after a later one.
      sql: `UPDATE ${table} SET ${column} = GREATEST(${column}, CASE name ${part.map(() => "WHEN ? THEN ?").join(" ")} END) WHERE name IN (?)`,
      values: [...part.flat(), part.map(([name]) => name)],
    };
  }
}

/**
 * The shared fence's queue heads: this transaction's slot row per queue,
 * raised to its next seq and never lowered (MySQL's queueHead takes the
 * highest of these and queues.next_seq).
 */
function* slotHeads(heads: ReadonlyMap<string, number>, slot: number): Generator<Statement> {
  for (const part of chunk([...heads], maxRowsPerInsert, Number.POSITIVE_INFINITY, () => 0)) {
    yield {
      sql:
        "INSERT INTO queue_heads (queue, slot, next_seq) VALUES ? " +
        "ON DUPLICATE KEY UPDATE next_seq = GREATEST(next_seq, VALUES(next_seq))",
      values: [part.map(([queue, nextSeq]) => [queue, slot, nextSeq])],
    };
  }
}
