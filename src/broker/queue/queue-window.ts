import type { QueueMessage } from "../types.ts";
import { PagedTail } from "./paged-tail.ts";
import { type QueueMemory, unboundedQueueMemory } from "./queue-memory.ts";
import type { QueueReader } from "./queue-ports.ts";
import { deliveryBytes } from "./queue-ports.ts";

/** A paged queue reads its tail back once its share has room for this much (or for all of the tail): the low-water mark. */
const REFILL_MIN_BYTES = 1024 * 1024;
/** Most messages one read of the tail asks for. */
const MAX_READ = 500;
/** The first read after a claim, before message sizes are known. */
const FIRST_READ = 64;

/** What the window asks of its queue's engine. */
export interface WindowHost {
  /** Puts a committed message into memory; a seq it already holds is ignored. */
  admit(msg: QueueMessage, returned: boolean, bytes: number): void;
  holds(seq: number): boolean;
  isClosed(): boolean;
  /** Memory changed: run a delivery pass (which asks refill() again). */
  changed(): void;
}

/**
 * Which of a queue's committed messages are in memory: as many, oldest
 * first, as its share of the node's QueueMemory allows; the rest is its
 * paged tail (PagedTail), read back from the store in seq order as room
 * frees up, one read at a time.
 */
export class QueueWindow {
  readonly tail: PagedTail;
  private readonly memory: QueueMemory;
  /** deliveryBytes of the queue's messages in memory, as charged to `memory`. */
  private heldBytes = 0;
  private heldMessages = 0;
  private reading = false;

  constructor(
    memory: QueueMemory | undefined,
    private readonly reader: QueueReader | undefined,
    private readonly host: WindowHost,
  ) {
    // Paging needs somewhere to read the tail back from.
    this.memory = reader === undefined || memory === undefined ? unboundedQueueMemory() : memory;
    this.tail = new PagedTail(this.memory);
  }

  /** A committed (or restored) message: into memory if the queue's share has room, else it stays in the store only. */
  take(msg: QueueMessage, returned: boolean): void {
    const bytes = deliveryBytes(msg);
    if (this.tail.holds(msg.seq) || !this.mayHold(bytes)) this.tail.page(msg.seq, bytes);
    else this.host.admit(msg, returned, bytes);
  }

  /** The engine put a message into memory. */
  added(bytes: number): void {
    this.heldBytes += bytes;
    this.heldMessages += 1;
    this.memory.held(bytes, 1);
  }

  /** A message left memory: room for more of the tail. */
  removed(bytes: number): void {
    this.heldBytes -= bytes;
    this.heldMessages -= 1;
    this.memory.held(-bytes, -1);
    if (this.tail.active) this.host.changed();
  }

  /** The queue stops being served here: its whole share goes back. */
  close(): void {
    this.memory.held(-this.heldBytes, -this.heldMessages);
    this.heldBytes = 0;
    this.heldMessages = 0;
    this.tail.leave();
  }

  /** At claim: `stored` messages are in the store; reads the oldest until the share is full. */
  async restore(stored: number): Promise<void> {
    if (this.reader === undefined) throw new Error("Restoring from the store needs a reader.");
    this.tail.restore(stored);
    // Each pass admits at least one message or ends the loop.
    while (this.tail.active && !this.host.isClosed() && this.wantsRefill()) {
      if ((await this.read()) === 0) break;
    }
    if (this.tail.active && this.tail.count === 0) this.tail.leave();
  }

  /** Paged with room for more: read the tail's next messages back; a failed read calls `retry` (its caller retries later). */
  refill(retry: () => void): void {
    const { tail } = this;
    if (!tail.active || this.reading || this.host.isClosed()) return;
    if (tail.count === 0 && !tail.appendsInFlight) {
      tail.leave();
      return;
    }
    if (this.wantsRefill()) this.read().catch(retry);
  }

  /** A queue holding nothing always takes its next message, so it makes progress whatever the others hold. */
  private mayHold(bytes: number): boolean {
    return this.heldBytes === 0 || this.memory.roomFor(this.heldBytes) >= bytes;
  }

  /** The low-water mark: room for REFILL_MIN_BYTES (or the whole tail), or nothing in memory at all. */
  private wantsRefill(): boolean {
    if (this.tail.count === 0) return false;
    const wanted = Math.max(1, Math.min(this.tail.bytes, REFILL_MIN_BYTES));
    return this.heldBytes === 0 || this.memory.roomFor(this.heldBytes) >= wanted;
  }

  /**
   * Reads the tail's next messages and admits them in seq order while the
   * share has room; resolves with how many it admitted. Reads only: fencing
   * is the writes' business. Only seqs whose commit was answered are taken
   * (the commit's callback counted them as paged, so none is admitted twice);
   * a read that resolves after close does nothing.
   */
  private async read(): Promise<number> {
    const { tail, reader } = this;
    const from = tail.from;
    if (reader === undefined || from === null) return 0;
    const arrivals = tail.arrivals;
    const limit = this.readLimit();
    this.reading = true;
    let rows: QueueMessage[];
    try {
      rows = await reader.read(from - 1, limit);
    } finally {
      this.reading = false;
    }
    if (this.host.isClosed() || tail.from !== from) return 0;
    tail.sampled(rows.map(deliveryBytes));
    const unanswered = tail.firstUnanswered();
    let admitted = 0;
    let cut = false;
    for (const msg of rows) {
      const bytes = deliveryBytes(msg);
      if (msg.seq >= unanswered || (admitted > 0 && !this.mayHold(bytes))) {
        cut = true;
        break;
      }
      if (msg.seq < from || this.host.holds(msg.seq)) continue;
      tail.unpage(msg.seq, bytes);
      this.host.admit(msg, msg.deliveries > 0, bytes);
      admitted += 1;
    }
    // The store had no more when read and nothing was committed since: every message is in memory.
    const drained = !cut && rows.length < limit && tail.arrivals === arrivals && !tail.appendsInFlight;
    if (tail.count === 0 || drained) tail.leave();
    this.host.changed();
    return admitted;
  }

  /** As many messages as the share's room holds at the tail's average size, within [1, MAX_READ]. */
  private readLimit(): number {
    const average = this.tail.averageBytes();
    if (average === undefined) return FIRST_READ;
    const room = this.memory.roomFor(this.heldBytes);
    return Math.min(MAX_READ, Math.max(1, Math.floor(room / Math.max(1, average))));
  }
}
