import type { TopicFeed } from "../../src/broker/topic/topic-ports.ts";
import type { TopicMessage } from "../../src/broker/types.ts";
import type { AvisoError } from "../../src/errors/aviso-error.ts";

/**
 * A topic feed a unit test drives by hand: `committed` tells the listeners
 * about messages, `end` ends the feed (nothing is told after that). Subclasses
 * say where the offsets and history come from.
 */
export abstract class FakeTopicFeed implements TopicFeed {
  private readonly committedListeners = new Set<(messages: readonly TopicMessage[]) => void>();
  private readonly endedListeners = new Set<(reason: AvisoError) => void>();
  ended = false;

  constructor(readonly name: string) {}

  abstract nextOffset(): number;
  abstract firstOffset(): number;
  abstract read(fromOffset: number, limit: number): Promise<TopicMessage[]>;

  onCommitted(listener: (messages: readonly TopicMessage[]) => void): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  onEnded(listener: (reason: AvisoError) => void): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  committed(messages: readonly TopicMessage[]): void {
    if (!this.ended) for (const listener of this.committedListeners) listener(messages);
  }

  end(reason: AvisoError): void {
    this.ended = true;
    for (const listener of this.endedListeners) listener(reason);
  }
}
