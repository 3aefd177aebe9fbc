import type { AvisoError } from "../../errors/aviso-error.ts";
import type { Clock } from "../../shared/clock.ts";
import type { IdempotencyRecord, JsonText, QueueMessage } from "../types.ts";
import type { QueueMemory } from "./queue-memory.ts";
import type { StoredBytes } from "./stored-bytes.ts";

/** Persistence of one queue's messages, bound to the serving node's epoch (fenced writes reject with FENCED). */
export interface QueueWriter {
  append(
    messages: QueueMessage[],
    nextSeq: number,
    options: { idempotency: IdempotencyRecord[]; cursor?: { topic: string; nextOffset: number } },
  ): Promise<void>;
  remove(seqs: number[]): Promise<void>;
  update(changes: { seq: number; deliveries: number; availableAt: number }[]): Promise<void>;
}

/** Reads one queue's committed messages back from the store (paging); never writes. */
export interface QueueReader {
  /** Messages with seq > afterSeq in seq order, at most `limit`. */
  read(afterSeq: number, limit: number): Promise<QueueMessage[]>;
}

export type DeadLetterCause = "max_deliveries" | "expired";

export interface QueueEngineDeps {
  clock: Clock;
  writer: QueueWriter;
  /** Ownership term; part of every receipt so receipts from an earlier serving node are recognised as stale. */
  epoch: number;
  idempotencyWindowMs: number;
  /**
   * Publishes messages to the dead-letter queue and resolves once they are committed there
   * (or were dropped because it no longer exists). Called only when a dead-letter queue is set.
   */
  deadLetter(messages: QueueMessage[], cause: DeadLetterCause): Promise<void>;
  /** Told about messages dropped without a dead-letter queue (for logs and metrics). */
  onDropped?(count: number, cause: DeadLetterCause): void;
  /** The node's ledger of bytes per publisher (maxStoredBytesPerUser); absent: nothing is charged. */
  storedBytes?: StoredBytes;
  /**
   * The node's budget for queue messages in memory, shared by every queue it
   * serves; past its share a queue pages its tail (keeps it in the store only)
   * and reads it back through `reader`. Both absent: everything stays in memory.
   */
  memory?: QueueMemory;
  reader?: QueueReader;
  /**
   * Asked once per delivery pass: false while this node may no longer act
   * as the node serving the queue (a cluster lease it can no longer trust), and then
   * nothing is delivered from memory. Absent: always.
   */
  mayDeliver?(): boolean;
}

export interface QueuePublishInput {
  payload: JsonText;
  headers: JsonText | null;
  /** Not deliverable until this many ms after the commit. */
  delayMs: number;
  /** A retry with the same key within the window gets the first publish's id and stores nothing. */
  idempotencyKey?: string;
  /** Who published it: its bytes count against that user's maxStoredBytesPerUser until it leaves. */
  publisher?: string;
}

export interface PublishOptions {
  /** A durable subscription's cursor to advance atomically with this publish. */
  cursor?: { topic: string; nextOffset: number };
}

/** One message handed to a consumer. */
export interface Delivery {
  id: string;
  payload: JsonText;
  headers: JsonText | null;
  publishedAt: number;
  /** 1 on first delivery. */
  deliveries: number;
  /** Proof of this delivery; acks and nacks name it (pull) or the id (push). */
  receipt: string;
}

export interface ReceiveRequest {
  max: number;
  waitMs: number;
  ackTimeoutMs: number | undefined;
  /**
   * Past the first message, stop before the page's messages exceed this many
   * bytes (deliveryBytes); what does not fit stays ready. Absent: no bound.
   */
  maxBytes?: number;
}

/** Room one delivery takes in an answer beyond its payload and headers: ids, receipt, field names. */
const DELIVERY_OVERHEAD_BYTES = 256;

/** The bytes a delivery of this message adds to a page, at most (UTF-8 payload and headers plus overhead). */
export function deliveryBytes(message: { payload: JsonText; headers: JsonText | null }): number {
  const headers = message.headers === null ? 0 : Buffer.byteLength(message.headers);
  return Buffer.byteLength(message.payload) + headers + DELIVERY_OVERHEAD_BYTES;
}

export interface AckResult {
  acked: number;
  /** Receipts or ids that were not in flight any more (already acked, redelivered, or from an earlier serving node). */
  stale: string[];
}

/** Push side of a consumer: the transport that carries deliveries to a socket. */
export interface ConsumerSink {
  deliver(deliveries: Delivery[]): void;
  /**
   * False while the transport is still busy with earlier deliveries: the engine
   * then gives this consumer nothing new until it calls QueueConsumer.resume().
   */
  writable?(): boolean;
  /** The engine stopped serving this consumer (queue deleted, ownership moved, engine closed). */
  closed(reason: AvisoError): void;
}

/** A push consumer as its holder sees it. Never more than `prefetch` deliveries are un-acked. */
export interface QueueConsumer {
  readonly prefetch: number;
  ack(ids: readonly string[]): Promise<AckResult>;
  nack(ids: readonly string[], delayMs: number): Promise<AckResult>;
  /** The sink is writable again: deliver what it has credit for. */
  resume(): void;
  /** Stops deliveries; the consumer's un-acked messages go back to the queue at once. */
  close(): void;
}

export interface QueueStats {
  /** Messages waiting: ready + delayed + paged. */
  depth: number;
  ready: number;
  delayed: number;
  inFlight: number;
  consumers: number;
}

/** An engine's own stats: beside QueueStats (what serving nodes answer, also across nodes), what is paged. */
export interface QueueEngineStats extends QueueStats {
  /** Committed messages kept in the store only until the queue reads them back (in depth, not in ready or delayed). */
  paged: number;
}
