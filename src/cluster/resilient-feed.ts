import type { TopicFeed } from "../broker/topic/topic-ports.ts";
import type { TopicMessage } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";

/** Opens the topic's committed log at `fromOffset` on whichever node owns it now. */
export type FeedOpener = (fromOffset: number | undefined) => Promise<TopicFeed>;

const REOPEN_DELAY_MS = 200;
const REOPEN_GIVE_UP_MS = 60_000;

/**
 * A topic feed that outlives its serving node. Listeners see one contiguous run of
 * committed offsets; when the serving node dies or hands over, the feed reopens on
 * the new serving node from the next offset it has not yet passed on, so fan-outs
 * and durable subscriptions on this node notice nothing but a pause — unless
 * retention dropped part of that range meanwhile; then the feed ends (see gap).
 */
export class ResilientFeed implements TopicFeed {
  private source: TopicFeed | null = null;
  private detachSource: Array<() => void> = [];
  private next = 0;
  private first = 0;
  private readonly committedListeners = new Set<(messages: readonly TopicMessage[]) => void>();
  private readonly endedListeners = new Set<(reason: AvisoError) => void>();
  private ended: AvisoError | null = null;
  private reopening: Promise<void> | null = null;

  private constructor(
    readonly name: string,
    private readonly open: FeedOpener,
  ) {}

  static async start(name: string, open: FeedOpener): Promise<ResilientFeed> {
    const feed = new ResilientFeed(name, open);
    feed.attach(await open(undefined));
    return feed;
  }

  nextOffset(): number {
    return this.next;
  }

  firstOffset(): number {
    return this.source?.firstOffset() ?? this.first;
  }

  async read(fromOffset: number, limit: number): Promise<TopicMessage[]> {
    if (this.reopening !== null) await this.reopening;
    if (this.source === null) throw this.ended ?? new AvisoError("OWNER_UNAVAILABLE");
    const messages = await this.source.read(fromOffset, limit);
    // Never hand out what listeners have not been told about yet.
    return messages.filter((message) => message.offset < this.next);
  }

  onCommitted(listener: (messages: readonly TopicMessage[]) => void): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  onEnded(listener: (reason: AvisoError) => void): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  /** Stops following (no listener is told). */
  close(): void {
    this.ended ??= new AvisoError("SHUTTING_DOWN");
    for (const detach of this.detachSource.splice(0)) detach();
    this.source = null;
  }

  private attach(source: TopicFeed): void {
    this.source = source;
    this.next = Math.max(this.next, source.nextOffset());
    this.first = source.firstOffset();
    this.detachSource = [
      source.onCommitted((messages) => this.pass(messages)),
      source.onEnded((reason) => this.sourceEnded(source, reason)),
    ];
  }

  private pass(messages: readonly TopicMessage[]): void {
    const fresh = messages.filter((message) => message.offset >= this.next);
    const first = fresh[0];
    const last = fresh.at(-1);
    if (first === undefined || last === undefined) return;
    if (first.offset > this.next) {
      this.gap(this.next, first.offset);
      return;
    }
    this.next = last.offset + 1;
    for (const listener of this.committedListeners) listener(fresh);
  }

  /**
   * Retention dropped offsets we had not passed on yet (the serving node was out of
   * reach for long). Listeners must not see a silent jump: the feed ends with
   * a transient reason, so live subscribers resubscribe from their last offset
   * and are told what is missing (`replayed` with `complete:false`), and
   * durable-subscription pumps follow again from their cursors.
   */
  private gap(from: number, to: number): void {
    for (const detach of this.detachSource.splice(0)) detach();
    this.source = null;
    this.end(
      new AvisoError(
        "OWNER_UNAVAILABLE",
        `Retention dropped offsets ${from}–${to - 1} of topic "${this.name}" while its serving node changed; subscribe again from your last offset to learn what is missing.`,
      ),
    );
  }

  private sourceEnded(source: TopicFeed, reason: AvisoError): void {
    if (this.source !== source || this.ended !== null) return;
    for (const detach of this.detachSource.splice(0)) detach();
    this.source = null;
    if (reason.retry === "never") {
      this.end(reason);
      return;
    }
    this.reopening = this.reopen(Date.now() + REOPEN_GIVE_UP_MS, reason).finally(() => {
      this.reopening = null;
    });
  }

  private async reopen(giveUpAt: number, lastReason: AvisoError): Promise<void> {
    let reason = lastReason;
    while (this.ended === null && Date.now() < giveUpAt) {
      await new Promise((resolve) => setTimeout(resolve, REOPEN_DELAY_MS));
      try {
        this.attach(await this.open(this.next));
        return;
      } catch (error) {
        reason = AvisoError.from(error);
        if (reason.retry === "never") break;
      }
    }
    this.end(reason);
  }

  private end(reason: AvisoError): void {
    if (this.ended !== null) return;
    this.ended = reason;
    for (const listener of this.endedListeners) listener(reason);
    this.committedListeners.clear();
    this.endedListeners.clear();
  }
}
