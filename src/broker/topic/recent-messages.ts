import type { TopicMessage } from "../types.ts";

/**
 * What a held message counts against the byte bound: the lengths of its key,
 * payload and headers (one byte per character, which is what V8 stores for
 * ASCII JSON). Object overhead is left out; docs/operations.md "Memory" adds it.
 */
export function heldBytes(message: TopicMessage): number {
  return message.key.length + message.payload.length + (message.headers?.length ?? 0);
}

/**
 * The newest committed messages of a topic, contiguous by offset, capped in
 * count and in bytes. The newest message is always held, even one larger than
 * the byte bound, so the window is never empty after an append.
 */
export class RecentMessages {
  private items: TopicMessage[] = [];
  private head = 0;
  private heldTotal = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxBytes: number = Number.POSITIVE_INFINITY,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Bytes held, as counted by heldBytes. */
  get bytes(): number {
    return this.heldTotal;
  }

  /** Offset of the oldest message held, or undefined when empty. */
  get firstOffset(): number | undefined {
    return this.items[this.head]?.offset;
  }

  oldest(): TopicMessage | undefined {
    return this.items[this.head];
  }

  append(messages: readonly TopicMessage[]): void {
    for (const message of messages) {
      this.items.push(message);
      this.heldTotal += heldBytes(message);
    }
    let excess = Math.max(0, this.size - this.capacity);
    let kept = this.heldTotal - this.bytesOfFront(excess);
    while (kept > this.maxBytes && excess < this.size - 1) {
      kept -= heldBytes(this.items[this.head + excess] as TopicMessage);
      excess += 1;
    }
    if (excess > 0) this.dropFront(excess);
  }

  /** Drops messages with offset < beforeOffset. */
  trimBefore(beforeOffset: number): void {
    const first = this.firstOffset;
    if (first === undefined || beforeOffset <= first) return;
    this.dropFront(Math.min(this.size, beforeOffset - first));
  }

  /** Messages from `fromOffset` if this holds it; undefined when it starts later. */
  readFrom(fromOffset: number, limit: number): TopicMessage[] | undefined {
    const first = this.firstOffset;
    if (first === undefined || fromOffset < first) return undefined;
    const start = this.head + (fromOffset - first);
    return this.items.slice(start, Math.min(this.items.length, start + limit));
  }

  /** First held offset whose message was published after `cutoff`, if the held range decides it. */
  firstPublishedAfter(cutoff: number): number | undefined {
    for (let i = this.head; i < this.items.length; i += 1) {
      const message = this.items[i] as TopicMessage;
      if (message.publishedAt > cutoff) return message.offset;
    }
    return undefined;
  }

  private bytesOfFront(count: number): number {
    let bytes = 0;
    for (let i = this.head; i < this.head + count; i += 1) bytes += heldBytes(this.items[i] as TopicMessage);
    return bytes;
  }

  private dropFront(count: number): void {
    this.heldTotal -= this.bytesOfFront(count);
    this.head += count;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
