import type { TopicMessage } from "../types.ts";

/** The newest committed messages of a topic, contiguous by offset, capped in count. */
export class RecentMessages {
  private items: TopicMessage[] = [];
  private head = 0;

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Offset of the oldest message held, or undefined when empty. */
  get firstOffset(): number | undefined {
    return this.items[this.head]?.offset;
  }

  oldest(): TopicMessage | undefined {
    return this.items[this.head];
  }

  append(messages: readonly TopicMessage[]): void {
    for (const message of messages) this.items.push(message);
    const excess = this.size - this.capacity;
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

  private dropFront(count: number): void {
    this.head += count;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
