import type { Database } from "better-sqlite3";
import { planCommit, resourcesOf } from "../commit-plan.ts";
import type { WriteOp, WriteOutcome } from "../store.ts";

/**
 * Builds Store.commit for SQLite: one IMMEDIATE transaction per batch with
 * prepared single-row statements. SQLite runs in-process, so multi-row SQL
 * buys little here; the fsync per transaction is what batching saves.
 */
export function createSqliteCommit(db: Database): (ops: readonly WriteOp[]) => WriteOutcome[] {
  const queueEpoch = db.prepare<[string], number>("SELECT epoch FROM queues WHERE name = ?").pluck();
  const topicEpoch = db.prepare<[string], number>("SELECT epoch FROM topics WHERE name = ?").pluck();
  const insertQueueMessage = db.prepare(
    "INSERT INTO queue_messages (queue, seq, payload, headers, published_at, available_at, expires_at, deliveries) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const deleteQueueMessages = db.prepare<[string, number, number]>(
    "DELETE FROM queue_messages WHERE queue = ? AND seq BETWEEN ? AND ?",
  );
  const updateQueueMessage = db.prepare<[number, number, string, number]>(
    "UPDATE queue_messages SET deliveries = ?, available_at = ? WHERE queue = ? AND seq = ?",
  );
  const setNextSeq = db.prepare<[number, string]>("UPDATE queues SET next_seq = ? WHERE name = ?");
  const insertTopicMessage = db.prepare(
    "INSERT INTO topic_messages (topic, msg_offset, routing_key, payload, headers, published_at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const trimTopic = db.prepare<[string, number]>(
    "DELETE FROM topic_messages WHERE topic = ? AND msg_offset < ?",
  );
  const setNextOffset = db.prepare<[number, string]>("UPDATE topics SET next_offset = ? WHERE name = ?");
  const setCursor = db.prepare<[number, string, string]>(
    "UPDATE bindings SET next_offset = ? WHERE topic = ? AND queue = ?",
  );
  const upsertIdempotency = db.prepare<[string, string, string, string, number]>(
    "INSERT INTO idempotency (kind, resource, idem_key, result, expires_at) VALUES (?, ?, ?, ?, ?) " +
      "ON CONFLICT (kind, resource, idem_key) DO UPDATE SET result = excluded.result, expires_at = excluded.expires_at",
  );

  const apply = db.transaction((ops: readonly WriteOp[]): WriteOutcome[] => {
    const names = resourcesOf(ops);
    const queues = new Map<string, number>();
    const topics = new Map<string, number>();
    for (const name of names.queues) {
      const epoch = queueEpoch.get(name);
      if (epoch !== undefined) queues.set(name, epoch);
    }
    for (const name of names.topics) {
      const epoch = topicEpoch.get(name);
      if (epoch !== undefined) topics.set(name, epoch);
    }
    const plan = planCommit(ops, { queues, topics });

    for (const { queue, message: m } of plan.queueInserts) {
      insertQueueMessage.run(
        queue,
        m.seq,
        m.payload,
        m.headers,
        m.publishedAt,
        m.availableAt,
        m.expiresAt,
        m.deliveries,
      );
    }
    for (const { topic, message: m } of plan.topicInserts) {
      insertTopicMessage.run(topic, m.offset, m.key, m.payload, m.headers, m.publishedAt);
    }
    for (const [queue, ranges] of plan.queueDeletes) {
      for (const [first, last] of ranges) deleteQueueMessages.run(queue, first, last);
    }
    for (const [topic, beforeOffset] of plan.topicTrims) trimTopic.run(topic, beforeOffset);
    for (const [queue, changes] of plan.queueUpdates) {
      for (const [seq, change] of changes)
        updateQueueMessage.run(change.deliveries, change.availableAt, queue, seq);
    }
    for (const [queue, nextSeq] of plan.queueNextSeq) setNextSeq.run(nextSeq, queue);
    for (const [topic, nextOffset] of plan.topicNextOffset) setNextOffset.run(nextOffset, topic);
    for (const cursor of plan.cursors) setCursor.run(cursor.nextOffset, cursor.topic, cursor.queue);
    for (const r of plan.idempotency) upsertIdempotency.run(r.kind, r.resource, r.key, r.result, r.expiresAt);
    return plan.outcomes;
  });

  return (ops) => apply.immediate(ops);
}
