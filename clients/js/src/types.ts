/** Shapes of public API v1 (docs/protocol.md) as the SDK returns them. Times are epoch milliseconds. */

export type Headers = Record<string, string>;
export type Permission = "publish" | "consume";

export interface TokenInfo {
  token: string;
  expiresAt: number;
}

export interface Me {
  username: string;
  tokenExpiresAt: number;
  /** Named in the node's `operators` setting. */
  operator: boolean;
}

export interface QueueSettings {
  /** Only the creator and grantees may use it. */
  private?: boolean;
  ackTimeoutMs?: number;
  /** Deliveries before dead-lettering; null = unlimited. */
  maxDeliveries?: number | null;
  deadLetterQueue?: string | null;
  messageTtlMs?: number | null;
  /** Most messages held; a full queue refuses publishes with QUEUE_FULL. */
  maxLength?: number | null;
}

export interface QueueView {
  /** Immutable identity; a later queue with the same name has another id. */
  id: string;
  name: string;
  /** Username of the creator; shown only to the creator and to operators. */
  creator?: string;
  /** @deprecated The same value as `creator` (the name servers used before it); read `creator`. */
  owner?: string;
  private: boolean;
  ackTimeoutMs: number;
  maxDeliveries: number | null;
  deadLetterQueue: string | null;
  /**
   * Where dead letters go now; null without a dead-letter queue. "missing": the queue it was
   * created with is gone (even if another took its name); "denied": the creator may no longer
   * publish there. Missing and denied dead letters are dropped.
   */
  deadLetter: { queue: string; state: "ok" | "missing" | "denied" } | null;
  messageTtlMs: number | null;
  maxLength: number | null;
  createdAt: number;
  /** Messages waiting (ready + delayed), including any a backlog keeps in the store only. */
  depth: number;
  /** Delivered and not yet acked. */
  inFlight: number;
  consumers: number;
}

export interface TopicSettings {
  private?: boolean;
  /** Commit every message before answering (default true). */
  durable?: boolean;
  retention?: { maxAgeMs?: number | null; maxMessages?: number | null };
}

export interface TopicView {
  /** Immutable identity; a later topic with the same name has another id. */
  id: string;
  name: string;
  /** Username of the creator; shown only to the creator and to operators. */
  creator?: string;
  /** @deprecated The same value as `creator` (the name servers used before it); read `creator`. */
  owner?: string;
  private: boolean;
  durable: boolean;
  retention: { maxAgeMs: number | null; maxMessages: number | null };
  createdAt: number;
  nextOffset: number;
  firstOffset: number;
}

/** Where a queue or topic is served now (`queues.lookup`, `topics.lookup`). */
export interface ServingNode {
  /** The node's id. */
  node: string;
  /** Its advertised base URL: put it first in `urls` to connect there. */
  httpUrl: string;
}

export interface Grant {
  kind: "queue" | "topic";
  resource: string;
  username: string;
  permissions: Permission[];
}

/** A durable subscription: a queue bound to a topic with a pattern. */
export interface Binding {
  topic: string;
  queue: string;
  /** Ids of the topic and queue it was made for; it never copies between later resources of those names. */
  topicId: string;
  queueId: string;
  pattern: string;
  /** Next topic offset to copy into the queue. */
  nextOffset: number;
  /** Shown only to the topic's creator, the binding's creator and operators. */
  createdBy?: string;
  createdAt: number;
  /** An ended binding copies nothing more; binding the same queue again replaces it. */
  state: "active" | "ended";
  /** TOPIC_NOT_FOUND, QUEUE_NOT_FOUND or ACCESS_REVOKED once ended. */
  endedReason: string | null;
  endedAt: number | null;
}

export interface HistoryPage {
  messages: TopicMessageData[];
  /** False when retention already dropped part of what was asked for. */
  complete: boolean;
  firstOffset: number;
  nextOffset: number;
}

export interface ClusterMember {
  id: string;
  httpUrl: string;
  peerUrl: string;
}

export interface ClusterView {
  mode: "standalone" | "cluster";
  self: ClusterMember;
  members: ClusterMember[];
  /** Resources this node serves; shown to operators only. */
  owned?: { queues: string[]; topics: string[] };
}

/** Result of acking or nacking receipts (REST): how many took effect and which were no longer in flight. */
export interface SettleResult {
  acked: number;
  stale: string[];
}

/** What a queue message carries, however it was delivered. */
export interface QueueMessageData<P = unknown> {
  id: string;
  /** Any JSON value, as published. */
  payload: P;
  headers?: Headers;
  publishedAt: number;
  /** 1 on the first delivery; more means a redelivery (at-least-once). */
  deliveries: number;
}

export interface TopicMessageData<P = unknown> {
  offset: number;
  /** Routing key; "" when published without one. */
  key: string;
  /** Any JSON value, as published. */
  payload: P;
  headers?: Headers;
  publishedAt: number;
}

export interface QueuePublishOptions {
  headers?: Headers;
  delayMs?: number;
  /** Default: a fresh random key per message, so a retry after a failure is stored once. */
  idempotencyKey?: string;
  /** Override the client's `publishVia` for this call. */
  via?: "http" | "socket";
}

export interface TopicPublishOptions {
  /** Routing key, dot-separated words (`orders.eu.created`). */
  key?: string;
  headers?: Headers;
  idempotencyKey?: string;
  via?: "http" | "socket";
}

export interface QueueBatchMessage {
  payload: unknown;
  headers?: Headers;
  delayMs?: number;
  idempotencyKey?: string;
}

export interface TopicBatchMessage {
  payload: unknown;
  key?: string;
  headers?: Headers;
  idempotencyKey?: string;
}
