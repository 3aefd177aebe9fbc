import type {
  Binding,
  Grant,
  IdempotencyRecord,
  QueueDefinition,
  QueueMessage,
  ResourceKind,
  ResourceRef,
  StoredUser,
  TopicDefinition,
  TopicMessage,
  UserRecord,
} from "../broker/types.ts";
import type { ApiKeyRecord } from "./api-key-record.ts";
import type { ApiKeyPosition, KeyPage } from "./key-page.ts";

/**
 * One write a serving node makes. Every such write carries the epoch of its claim;
 * the store applies it only if that epoch is still the resource's current one
 * (fencing), so a paused or partitioned former serving node cannot write.
 */
export type WriteOp =
  | {
      type: "queue.append";
      queue: string;
      epoch: number;
      messages: QueueMessage[];
      /** The queue's next sequence number after these messages. */
      nextSeq: number;
      /** Remember these publishes' results for de-duplication, atomically with them. */
      idempotency?: IdempotencyRecord[];
      /** Advance a durable subscription's cursor atomically with the copied messages. */
      cursor?: { topic: string; nextOffset: number };
    }
  | { type: "queue.remove"; queue: string; epoch: number; seqs: number[] }
  | {
      type: "queue.update";
      queue: string;
      epoch: number;
      changes: { seq: number; deliveries: number; availableAt: number }[];
    }
  | {
      type: "topic.append";
      topic: string;
      epoch: number;
      messages: TopicMessage[];
      /** The topic's next offset after these messages. */
      nextOffset: number;
      /** One record per publish call merged into this append (a topic batches many calls per op). */
      idempotency?: IdempotencyRecord[];
    }
  /** Retention: drop messages with offset < beforeOffset. */
  | { type: "topic.trim"; topic: string; epoch: number; beforeOffset: number };

/** Per-op outcome of a commit: applied, refused because the epoch is stale, or the resource is gone. */
export type WriteOutcome = "ok" | "fenced" | "missing";

export interface QueueHead {
  nextSeq: number;
}

export interface TopicHead {
  /** Offset the next message will get. */
  nextOffset: number;
  /** Oldest offset still retained (== nextOffset when empty). */
  firstOffset: number;
}

/**
 * Durable state. Two backends (MySQL, SQLite) pass one conformance suite
 * (test/store/conformance.ts). Methods throw AvisoError: STORE_UNAVAILABLE when
 * the backend cannot be reached, and the documented reasons below.
 */
export interface Store {
  readonly kind: "mysql" | "sqlite";
  /** Apply pending migrations under a cross-process lock; refuse a schema newer than this code. */
  migrate(): Promise<void>;
  /** Cheap round trip used by /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;

  // users
  /** Throws USERNAME_TAKEN (also for the name of a deleted user: names are never reused). */
  createUser(user: UserRecord): Promise<void>;
  /** The user, deleted ones included (`deletedAt` set). */
  getUser(username: string): Promise<StoredUser | undefined>;
  /** Bumps a live user's token version (revoking every earlier token); the new version, or undefined if no live user has the name. */
  revokeTokens(username: string): Promise<number | undefined>;
  /**
   * Soft-deletes a live user in one transaction: sets deletedAt, bumps the
   * token version and removes every grant the user holds. Resources the user
   * created stay. Answers the resources whose grants were removed, or
   * undefined if no live user has the name.
   */
  deleteUser(username: string, deletedAt: number): Promise<ResourceRef[] | undefined>;

  // API keys (docs/security.md S14)
  createApiKey(key: ApiKeyRecord): Promise<void>;
  /** The key whose secret hashes to `secretHash`, expired or not; undefined once revoked. */
  getApiKeyBySecretHash(secretHash: string): Promise<ApiKeyRecord | undefined>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** The user's keys, oldest first; with `page`, those after its position, at most its limit. */
  listApiKeys(username: string, page?: KeyPage<ApiKeyPosition>): Promise<ApiKeyRecord[]>;
  /** False if absent. */
  deleteApiKey(id: string): Promise<boolean>;

  // queues
  /** Throws QUEUE_EXISTS. The definition carries its new id. Creates with nextSeq 1 and an epoch above any earlier queue of that name (a stale serving node of a deleted queue stays fenced). */
  createQueue(definition: QueueDefinition): Promise<void>;
  getQueue(name: string): Promise<QueueDefinition | undefined>;
  /** By name; with `page`, names after `page.after`, at most `page.limit`. */
  listQueues(page?: KeyPage): Promise<QueueDefinition[]>;
  /** How many queues or topics `creator` created and still exist (per-user quotas). */
  countCreated(kind: ResourceKind, creator: string): Promise<number>;
  /**
   * Deletes the queue with its messages, grants and idempotency records, and ends its active
   * bindings (reason QUEUE_NOT_FOUND, at `at`), in one transaction. False if absent.
   */
  deleteQueue(name: string, at?: number): Promise<boolean>;
  countQueueMessages(name: string): Promise<number>;
  /** Stored messages with seq > afterSeq in seq order, at most `limit`. */
  readQueueMessages(name: string, afterSeq: number, limit: number): Promise<QueueMessage[]>;

  // topics
  /** Throws TOPIC_EXISTS. Creates with nextOffset 0 and an epoch above any earlier topic of that name. */
  createTopic(definition: TopicDefinition): Promise<void>;
  getTopic(name: string): Promise<TopicDefinition | undefined>;
  /** By name; with `page`, names after `page.after`, at most `page.limit`. */
  listTopics(page?: KeyPage): Promise<TopicDefinition[]>;
  /**
   * Deletes the topic with its messages, grants and idempotency records, and ends its active
   * bindings (reason TOPIC_NOT_FOUND, at `at`), in one transaction. False if absent.
   */
  deleteTopic(name: string, at?: number): Promise<boolean>;
  topicHead(name: string): Promise<TopicHead | undefined>;
  /** Messages with offset >= fromOffset in offset order, at most `limit`. */
  readTopic(name: string, fromOffset: number, limit: number): Promise<TopicMessage[]>;

  // grants
  /** Replaces the user's permissions on the resource (an empty list removes the grant). */
  putGrant(grant: Grant): Promise<void>;
  /** By username; with `page`, usernames after `page.after`, at most `page.limit`. */
  listGrants(kind: ResourceKind, resource: string, page?: KeyPage): Promise<Grant[]>;

  // durable subscriptions
  /** Throws SUBSCRIPTION_EXISTS when an active binding has these names; an ended one is replaced. */
  createBinding(binding: Binding): Promise<void>;
  /** Active and ended bindings, by names. */
  listBindings(filter: { topic?: string; queue?: string }): Promise<Binding[]>;
  /** A topic's bindings (active and ended) by queue name: queues after `page.after`, at most `page.limit`. */
  pageTopicBindings(topic: string, page: KeyPage): Promise<Binding[]>;
  /** Marks an active binding ended with `reason` (an error reason) at `at`; false if none was active. */
  endBinding(topic: string, queue: string, reason: string, at: number): Promise<boolean>;
  deleteBinding(topic: string, queue: string): Promise<boolean>;

  // ownership
  /** Starts a new ownership term: increments and returns the resource's epoch; undefined if absent. */
  claim(kind: ResourceKind, name: string): Promise<{ epoch: number } | undefined>;
  queueHead(name: string): Promise<QueueHead | undefined>;
  /** Unexpired idempotency records of a resource (expiresAt > now). */
  loadIdempotency(kind: ResourceKind, resource: string, now: number): Promise<IdempotencyRecord[]>;
  /** Deletes idempotency records that expired before `now`; returns how many. */
  purgeIdempotency(now: number): Promise<number>;

  /**
   * Applies many serving nodes' writes in ONE transaction (group commit). Ops whose
   * epoch is stale are skipped ("fenced"), ops on deleted resources are skipped
   * ("missing"); the rest commit together or not at all.
   */
  commit(ops: WriteOp[]): Promise<WriteOutcome[]>;
}
