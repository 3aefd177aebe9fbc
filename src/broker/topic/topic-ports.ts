import type { AvisoError } from "../../errors/aviso-error.ts";
import type { Clock } from "../../shared/clock.ts";
import type { IdempotencyRecord, JsonText, TopicMessage } from "../types.ts";

/** Persistence of one topic's log, bound to the serving node's epoch. */
export interface TopicWriter {
  append(messages: TopicMessage[], nextOffset: number, idempotency: IdempotencyRecord[]): Promise<void>;
  /** Retention: drop messages with offset < beforeOffset. */
  trim(beforeOffset: number): Promise<void>;
}

export interface TopicReader {
  /** Committed messages with offset >= fromOffset, in order, at most `limit`. */
  read(fromOffset: number, limit: number): Promise<TopicMessage[]>;
}

export interface TopicEngineDeps {
  clock: Clock;
  /** null for a non-durable topic: history lives in memory only. */
  writer: TopicWriter | null;
  reader: TopicReader | null;
  idempotencyWindowMs: number;
  /** Most recent messages kept in memory for replay and history without a store read. */
  memoryMessages: number;
  /**
   * Bytes of those messages (key + payload + headers) kept at most; older ones
   * are read from the store, or gone for a non-durable topic. The newest is always kept.
   */
  memoryBytes: number;
  /** Most messages committed in one append. */
  maxBatchMessages: number;
  /** Oldest offset a durable subscription still has to copy; retention never trims past it. */
  retentionFloor?(): Promise<number | undefined>;
  /** How often retention runs. */
  retentionIntervalMs: number;
}

export interface TopicPublishInput {
  key: string;
  payload: JsonText;
  headers: JsonText | null;
  /** A retry with the same key within the window gets the first publish's offset and stores nothing. */
  idempotencyKey?: string;
}

/**
 * The committed log of a topic as a node that fans it out sees it: on the serving node
 * this is the TopicEngine itself; elsewhere a feed streamed from the serving node.
 */
export interface TopicFeed {
  readonly name: string;
  /** Offset the next committed message will have. */
  nextOffset(): number;
  /** Oldest offset still retained. */
  firstOffset(): number;
  read(fromOffset: number, limit: number): Promise<TopicMessage[]>;
  /** Called synchronously, in offset order, with every batch as soon as it is committed. */
  onCommitted(listener: (messages: readonly TopicMessage[]) => void): () => void;
  /** Called when the feed ends (topic deleted, ownership moved). */
  onEnded(listener: (reason: AvisoError) => void): () => void;
}
