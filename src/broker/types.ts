/**
 * Domain types shared by the broker core, the store and the transports.
 * Payloads and headers travel as JSON text: parsed once at the edge,
 * serialised once, and spliced into frames and rows without re-encoding.
 */

/** A JSON value already serialised to text. */
export type JsonText = string;

export type ResourceKind = "queue" | "topic";

export type Permission = "publish" | "consume";

export interface QueueSettings {
  /** How long a delivery may stay un-acked before it is redelivered. */
  ackTimeoutMs: number;
  /** Deliveries after which a message is dead-lettered (or dropped); null = unlimited. */
  maxDeliveries: number | null;
  /** Queue that receives messages past maxDeliveries or TTL; null = drop them. */
  deadLetterQueue: string | null;
  /**
   * Id of the dead-letter queue as it was when this queue was defined. A
   * dead letter goes only to a queue with this id: if the name now belongs to
   * another queue (or to none), the message is dropped, counted and logged.
   */
  deadLetterQueueId: string | null;
  /** Age after which an undelivered message expires; null = never. */
  messageTtlMs: number | null;
  /** Most messages (ready + delayed + in flight) the queue holds; null = unbounded. */
  maxLength: number | null;
}

export interface QueueDefinition extends QueueSettings {
  /** Immutable identity given at creation; a later queue with the same name has another id. */
  id: string;
  name: string;
  /** Username of the creator; only they may delete it or grant access. */
  creator: string;
  private: boolean;
  createdAt: number;
}

export interface TopicRetention {
  maxAgeMs: number | null;
  maxMessages: number | null;
}

export interface TopicDefinition {
  /** Immutable identity given at creation; a later topic with the same name has another id. */
  id: string;
  name: string;
  /** Username of the creator; only they may delete it or grant access. */
  creator: string;
  private: boolean;
  /** Durable topics commit every message before acknowledging it; others keep history in memory only. */
  durable: boolean;
  retention: TopicRetention;
  createdAt: number;
}

export interface Grant {
  kind: ResourceKind;
  resource: string;
  username: string;
  permissions: Permission[];
}

export interface UserRecord {
  username: string;
  passwordHash: string;
  createdAt: number;
}

/** A user as stored: the record plus what revokes its tokens (docs/security.md S9). */
export interface StoredUser extends UserRecord {
  /** Bumped by "log out everywhere" and by deletion; a token is valid only at the version it carries. */
  tokenVersion: number;
  /** Epoch ms of deletion; the row stays so the name is never given to anyone else. */
  deletedAt: number | undefined;
}

/** A queue or topic, by kind and name. */
export interface ResourceRef {
  kind: ResourceKind;
  resource: string;
}

/** A queue message as stored and as held by the node serving the queue. */
export interface QueueMessage {
  /** Per-queue sequence number, assigned by the serving node; the public id is its decimal string. */
  seq: number;
  payload: JsonText;
  /** JSON object of string values, or null. */
  headers: JsonText | null;
  publishedAt: number;
  /** Not deliverable before this time (delayed publish, nack with delay). */
  availableAt: number;
  /** Expires (dead-lettered or dropped) at this time if still undelivered; null = never. */
  expiresAt: number | null;
  /** Deliveries so far, as last persisted (a crash may under-count the delivery in progress). */
  deliveries: number;
}

/** A topic message: immutable once committed. */
export interface TopicMessage {
  offset: number;
  /** Routing key (dot-separated words); "" when published without one. */
  key: string;
  payload: JsonText;
  headers: JsonText | null;
  publishedAt: number;
}

export type BindingState = "active" | "ended";

/**
 * A durable subscription: a queue bound to a topic with a pattern and a cursor
 * into the topic log. It holds the ids of both ends: it copies only from the
 * topic and into the queue it was made for, never into a later resource that
 * took one of their names. An ended binding copies nothing and says why.
 */
export interface Binding {
  topic: string;
  queue: string;
  topicId: string;
  queueId: string;
  pattern: string;
  /** Next topic offset to copy into the queue. */
  nextOffset: number;
  createdBy: string;
  createdAt: number;
  state: BindingState;
  /** Why it ended: an error reason such as TOPIC_NOT_FOUND, QUEUE_NOT_FOUND or ACCESS_REVOKED. */
  endedReason: string | null;
  endedAt: number | null;
}

/** Result remembered for an idempotency key: the ids or offsets the first publish produced. */
export interface IdempotencyRecord {
  kind: ResourceKind;
  resource: string;
  key: string;
  /** JSON array of ids (queues, as strings) or offsets (topics, as numbers). */
  result: JsonText;
  expiresAt: number;
}
