import type { QueueMemory } from "./queue-memory.ts";

/**
 * The committed messages of a queue that are in the store only: every seq
 * from `from` on (a queue pages its tail, so memory holds the older messages
 * and the store the rest, in seq order). Counts and bytes are mirrored into
 * the node's QueueMemory. It also tracks the appends whose commit has not
 * been answered yet: a read from the store may already see their rows, and
 * those must wait for the commit's own callback, or a message could be
 * admitted twice (once by the read, once by the callback).
 */
export class PagedTail {
  /** Lowest seq that may be committed and not be in memory; null while every committed message is in memory. */
  from: number | null = null;
  count = 0;
  bytes = 0;
  /** After a claim the bytes are not known until the first read; then estimated from it. */
  private bytesKnown = true;
  /** Committed messages paged so far; a read that saw none arrive meanwhile may trust its end. */
  arrivals = 0;
  private readonly appending: Array<{ first: number; last: number }> = [];

  constructor(private readonly memory: QueueMemory) {}

  get active(): boolean {
    return this.from !== null;
  }

  /** Whether a message committed now with this seq belongs to the paged tail. */
  holds(seq: number): boolean {
    return this.from !== null && seq >= this.from;
  }

  appendStarted(first: number, last: number): void {
    if (last >= first) this.appending.push({ first, last });
  }

  /** The append's commit was answered (either way). */
  appendEnded(first: number): void {
    const index = this.appending.findIndex((batch) => batch.first === first);
    if (index >= 0) this.appending.splice(index, 1);
  }

  get appendsInFlight(): boolean {
    return this.appending.length > 0;
  }

  /** A read from the store may admit only seqs below this: the first seq whose commit is still unanswered. */
  firstUnanswered(): number {
    let lowest = Number.POSITIVE_INFINITY;
    for (const batch of this.appending) if (batch.first < lowest) lowest = batch.first;
    return lowest;
  }

  /** A committed message stays in the store only. */
  page(seq: number, bytes: number): void {
    if (this.from === null) this.from = seq;
    this.arrivals += 1;
    this.adjust(1, bytes);
  }

  /** After a claim: `count` stored messages, none in memory yet. */
  restore(count: number): void {
    if (count <= 0) return;
    this.from = 1;
    this.bytesKnown = false;
    this.adjust(count, 0);
  }

  /** The average size of a paged message, if known. */
  averageBytes(): number | undefined {
    return this.bytesKnown && this.count > 0 ? this.bytes / this.count : undefined;
  }

  /** A read from the store returned these sizes: after a claim, estimate the tail's bytes from them. */
  sampled(sizes: readonly number[]): void {
    if (this.bytesKnown || sizes.length === 0) return;
    this.bytesKnown = true;
    const average = sizes.reduce((sum, size) => sum + size, 0) / sizes.length;
    this.adjust(0, Math.round(average * this.count));
  }

  /** The message `seq` was read back into memory. */
  unpage(seq: number, bytes: number): void {
    this.from = seq + 1;
    this.adjust(-1, -bytes);
  }

  /** Every committed message is in memory again (or the queue stops being served here). */
  leave(): void {
    this.adjust(-this.count, -this.bytes);
    this.from = null;
    this.bytesKnown = true;
  }

  private adjust(messages: number, bytes: number): void {
    const count = Math.max(0, this.count + messages);
    const total = count === 0 ? 0 : Math.max(0, this.bytes + bytes);
    this.memory.paged(total - this.bytes, count - this.count);
    this.count = count;
    this.bytes = total;
  }
}
