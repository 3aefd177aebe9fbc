import { readPayload } from "./history.ts";
import type { Frame } from "./live-socket.ts";
import { type ReaderOptions, Resubscriber } from "./resubscriber.ts";

export interface TopicSubscriberOptions extends ReaderOptions {
  topics: readonly string[];
}

/**
 * A live topic subscriber (pattern `#`) that keeps the last offset it saw per
 * topic and, whenever it subscribes again (see Resubscriber), asks for
 * `from` = last + 1 — the documented way to miss nothing within retention.
 * It starts at offset 0 of fresh topics.
 */
export class TopicSubscriber extends Resubscriber {
  private readonly last = new Map<string, number>();

  constructor(subscriber: TopicSubscriberOptions) {
    super(subscriber, subscriber.topics);
    for (const topic of subscriber.topics) {
      subscriber.history.topicStreams.push({ subscriber: subscriber.name, topic, startOffset: 0 });
    }
  }

  /** Highest offset seen on `topic` (-1 before any). */
  lastOffset(topic: string): number {
    return this.last.get(topic) ?? -1;
  }

  protected subscribeFrame(topic: string, id: string): Record<string, unknown> {
    return { op: "subscribe", id, topic, pattern: "#", from: this.lastOffset(topic) + 1 };
  }

  protected message(frame: Frame, url: string): void {
    const topic = String(frame.topic);
    const offset = Number(frame.offset);
    this.options.history.topicDeliveries.push({
      subscriber: this.options.name,
      topic,
      offset,
      payload: readPayload(frame.payload),
      url,
      at: Date.now(),
    });
    this.last.set(topic, Math.max(this.lastOffset(topic), offset));
  }
}
