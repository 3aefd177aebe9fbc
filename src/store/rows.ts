import type {
  Binding,
  Grant,
  IdempotencyRecord,
  Permission,
  QueueDefinition,
  QueueMessage,
  ResourceKind,
  StoredUser,
  TopicDefinition,
  TopicMessage,
} from "../broker/types.ts";

/*
 * Row shapes shared by both backends (the schemas use the same column names)
 * and their conversion to domain types. Integers arrive as JS numbers from
 * both drivers (ms timestamps and offsets stay far below 2^53); booleans are
 * stored as 0/1.
 */

export interface UserRow {
  username: string;
  password_hash: string;
  created_at: number;
  token_version: number;
  deleted_at: number | null;
}

export const userColumns = "username, password_hash, created_at, token_version, deleted_at";

export interface QueueRow {
  id: string;
  name: string;
  /** Column `owner` holds the creator (the column keeps its old name; it is not public). */
  owner: string;
  private: number;
  ack_timeout_ms: number;
  max_deliveries: number | null;
  dead_letter_queue: string | null;
  dead_letter_queue_id: string | null;
  message_ttl_ms: number | null;
  max_length: number | null;
  created_at: number;
}

export interface TopicRow {
  id: string;
  name: string;
  /** Column `owner` holds the creator (the column keeps its old name; it is not public). */
  owner: string;
  private: number;
  durable: number;
  retention_max_age_ms: number | null;
  retention_max_messages: number | null;
  created_at: number;
}

export interface QueueMessageRow {
  seq: number;
  payload: string;
  headers: string | null;
  published_at: number;
  available_at: number;
  expires_at: number | null;
  deliveries: number;
}

export interface TopicMessageRow {
  msg_offset: number;
  routing_key: string;
  payload: string;
  headers: string | null;
  published_at: number;
}

export interface GrantRow {
  kind: string;
  resource: string;
  username: string;
  permissions: string;
}

export interface BindingRow {
  topic: string;
  queue: string;
  topic_id: string;
  queue_id: string;
  pattern: string;
  next_offset: number;
  created_by: string;
  created_at: number;
  state: string;
  ended_reason: string | null;
  ended_at: number | null;
}

export interface IdempotencyRow {
  kind: string;
  resource: string;
  idem_key: string;
  result: string;
  expires_at: number;
}

export const queueColumns =
  "id, name, owner, private, ack_timeout_ms, max_deliveries, dead_letter_queue, dead_letter_queue_id, message_ttl_ms, max_length, created_at";
export const topicColumns =
  "id, name, owner, private, durable, retention_max_age_ms, retention_max_messages, created_at";
export const queueMessageColumns =
  "seq, payload, headers, published_at, available_at, expires_at, deliveries";
export const topicMessageColumns = "msg_offset, routing_key, payload, headers, published_at";
export const bindingColumns =
  "topic, queue, topic_id, queue_id, pattern, next_offset, created_by, created_at, state, ended_reason, ended_at";

/** "?, ?, …" with one placeholder per column of a column list. */
export function placeholders(columns: string): string {
  return columns
    .split(",")
    .map(() => "?")
    .join(", ");
}

export function toUser(row: UserRow): StoredUser {
  return {
    username: row.username,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    tokenVersion: row.token_version,
    deletedAt: row.deleted_at ?? undefined,
  };
}

export function toQueue(row: QueueRow): QueueDefinition {
  return {
    id: row.id,
    name: row.name,
    creator: row.owner,
    private: row.private !== 0,
    ackTimeoutMs: row.ack_timeout_ms,
    maxDeliveries: row.max_deliveries,
    deadLetterQueue: row.dead_letter_queue,
    deadLetterQueueId: row.dead_letter_queue_id,
    messageTtlMs: row.message_ttl_ms,
    maxLength: row.max_length,
    createdAt: row.created_at,
  };
}

/** Column values for inserting a queue, in queueColumns order. */
export function queueValues(q: QueueDefinition): (string | number | null)[] {
  return [
    q.id,
    q.name,
    q.creator,
    q.private ? 1 : 0,
    q.ackTimeoutMs,
    q.maxDeliveries,
    q.deadLetterQueue,
    q.deadLetterQueueId,
    q.messageTtlMs,
    q.maxLength,
    q.createdAt,
  ];
}

export function toTopic(row: TopicRow): TopicDefinition {
  return {
    id: row.id,
    name: row.name,
    creator: row.owner,
    private: row.private !== 0,
    durable: row.durable !== 0,
    retention: { maxAgeMs: row.retention_max_age_ms, maxMessages: row.retention_max_messages },
    createdAt: row.created_at,
  };
}

/** Column values for inserting a topic, in topicColumns order. */
export function topicValues(t: TopicDefinition): (string | number | null)[] {
  return [
    t.id,
    t.name,
    t.creator,
    t.private ? 1 : 0,
    t.durable ? 1 : 0,
    t.retention.maxAgeMs,
    t.retention.maxMessages,
    t.createdAt,
  ];
}

export function toQueueMessage(row: QueueMessageRow): QueueMessage {
  return {
    seq: row.seq,
    payload: row.payload,
    headers: row.headers,
    publishedAt: row.published_at,
    availableAt: row.available_at,
    expiresAt: row.expires_at,
    deliveries: row.deliveries,
  };
}

/** Column values for a queue message row: queue then queueMessageColumns order. */
export function queueMessageValues(queue: string, m: QueueMessage): (string | number | null)[] {
  return [queue, m.seq, m.payload, m.headers, m.publishedAt, m.availableAt, m.expiresAt, m.deliveries];
}

export function toTopicMessage(row: TopicMessageRow): TopicMessage {
  return {
    offset: row.msg_offset,
    key: row.routing_key,
    payload: row.payload,
    headers: row.headers,
    publishedAt: row.published_at,
  };
}

/** Column values for a topic message row: topic then topicMessageColumns order. */
export function topicMessageValues(topic: string, m: TopicMessage): (string | number | null)[] {
  return [topic, m.offset, m.key, m.payload, m.headers, m.publishedAt];
}

export function encodePermissions(permissions: readonly Permission[]): string {
  return [...new Set(permissions)].join(",");
}

export function toGrant(row: GrantRow): Grant {
  return {
    kind: toKind(row.kind),
    resource: row.resource,
    username: row.username,
    permissions: row.permissions === "" ? [] : row.permissions.split(",").map(toPermission),
  };
}

export function toBinding(row: BindingRow): Binding {
  return {
    topic: row.topic,
    queue: row.queue,
    topicId: row.topic_id,
    queueId: row.queue_id,
    pattern: row.pattern,
    nextOffset: row.next_offset,
    createdBy: row.created_by,
    createdAt: row.created_at,
    state: row.state === "ended" ? "ended" : "active",
    endedReason: row.ended_reason,
    endedAt: row.ended_at,
  };
}

/** Column values for inserting a binding, in bindingColumns order. */
export function bindingValues(b: Binding): (string | number | null)[] {
  return [
    b.topic,
    b.queue,
    b.topicId,
    b.queueId,
    b.pattern,
    b.nextOffset,
    b.createdBy,
    b.createdAt,
    b.state,
    b.endedReason,
    b.endedAt,
  ];
}

export function toIdempotency(row: IdempotencyRow): IdempotencyRecord {
  return {
    kind: toKind(row.kind),
    resource: row.resource,
    key: row.idem_key,
    result: row.result,
    expiresAt: row.expires_at,
  };
}

export function idempotencyValues(r: IdempotencyRecord): (string | number)[] {
  return [r.kind, r.resource, r.key, r.result, r.expiresAt];
}

function toKind(value: string): ResourceKind {
  if (value === "queue" || value === "topic") return value;
  throw new Error(`Unknown resource kind in store: ${value}`);
}

function toPermission(value: string): Permission {
  if (value === "publish" || value === "consume") return value;
  throw new Error(`Unknown permission in store: ${value}`);
}
