import { compilePattern, type KeyMatcher } from "../broker/pattern.ts";
import type { QueueEngine } from "../broker/queue/queue-engine.ts";
import type { QueuePublishInput } from "../broker/queue/queue-ports.ts";
import type { TopicFeed } from "../broker/topic/topic-ports.ts";
import type { Binding, TopicMessage } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { Clock, Timer } from "../shared/clock.ts";
import type { CopyingBinding } from "./binding-watch.ts";
import type { ServedTopics } from "./serving-nodes.ts";

const PAGE = 500;
const RETRY_DELAY_MS = 1000;

/**
 * Copies a topic's messages that match a durable subscription's pattern into
 * its queue, on the node serving the queue. The binding's cursor advances in the same
 * commit as the copied messages, so a crash neither loses nor doubles a copy,
 * and nothing is missed while the queue's consumers are away.
 */
export class BindingPump implements CopyingBinding {
  readonly topic: string;
  private readonly matches: KeyMatcher;
  private cursor: number;
  private feed: TopicFeed | null = null;
  private copying = false;
  private ended = false;
  private retryTimer: Timer | null = null;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    readonly binding: Binding,
    private readonly engine: QueueEngine,
    private readonly topics: ServedTopics,
    private readonly clock: Clock,
    private readonly onError: (error: unknown) => void,
    /**
     * Whether the binding is still active and still names the topic it was made
     * on; asked each time the pump (re)attaches to the topic, so a topic deleted
     * and re-created under the same name is never followed.
     */
    private readonly stillBound: () => Promise<boolean> = async () => true,
    /**
     * Whether the binding still has its footing (docs/security.md S2, S3),
     * asked before each batch is published; false means it was stopped.
     */
    private readonly mayCopy: () => Promise<boolean> = async () => true,
  ) {
    this.topic = binding.topic;
    this.matches = compilePattern(binding.pattern);
    this.cursor = binding.nextOffset;
  }

  /** True once the pump ended (stopped, or its topic or queue is gone); it never copies again. */
  get stopped(): boolean {
    return this.ended;
  }

  start(): void {
    void this.attach();
  }

  stop(): void {
    this.ended = true;
    this.retryTimer?.cancel();
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
  }

  private async attach(): Promise<void> {
    try {
      const feed = await this.topics.feed(this.topic);
      if (this.ended) return;
      // Checked after the feed is in hand: a topic deleted before this point has ended the binding
      // (the store ends it in the delete), and one deleted after it ends this feed.
      if (!(await this.stillBound())) return this.stop();
      if (this.ended) return;
      this.feed = feed;
      this.unsubscribe.push(
        feed.onCommitted(() => this.kick()),
        feed.onEnded((reason) => this.feedEnded(reason)),
      );
      this.kick();
    } catch (error) {
      if (isPermanent(error)) return this.stop();
      this.onError(error);
      this.retryLater(() => void this.attach());
    }
  }

  /**
   * The topic's feed ended while the queue is still ours: its engine was
   * dropped (a failed write, the serving node moved, a long outage). Follow the
   * topic again from the cursor; only a deleted topic ends the pump.
   */
  private feedEnded(reason: AvisoError): void {
    if (this.ended) return;
    if (isPermanent(reason)) {
      this.stop();
      return;
    }
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
    this.feed = null;
    this.retryLater(() => void this.attach());
  }

  private kick(): void {
    if (this.copying || this.ended || this.feed === null) return;
    this.copying = true;
    void this.copy(this.feed).finally(() => {
      this.copying = false;
    });
  }

  private async copy(feed: TopicFeed): Promise<void> {
    try {
      while (!this.ended && this.cursor < feed.nextOffset()) {
        const page = await this.readPage(feed);
        if (page === null) return;
        const last = page.at(-1);
        if (last === undefined) {
          // Retention moved past the cursor (it waits for bindings, so only after a long outage).
          this.cursor = Math.max(this.cursor, feed.firstOffset());
          if (this.cursor < feed.nextOffset() && feed.firstOffset() <= this.cursor) break;
          continue;
        }
        let matching = page.filter((message) => this.matches(message.key));
        let nextOffset = last.offset + 1;
        // Asked after the page is read and before it is published, rather than trusting a flag the
        // access watch clears once it has re-read the store: a revocation applied on this node (the
        // catalog forgets at once, before the change is answered) is seen by the next such check, so
        // nothing published after that is copied, even before the watch has ended the binding.
        if (!(await this.mayCopy()) || this.ended) return;
        // A queue with maxLength refuses a whole batch that does not fit: copy what fits, and move
        // the cursor only to the first match left out (a full queue waits, below, for its consumers).
        const room = this.engine.room();
        if (matching.length > room) {
          if (room === 0) throw new AvisoError("QUEUE_FULL", `Queue "${this.engine.name}" is full.`);
          nextOffset = (matching[room] as TopicMessage).offset;
          matching = matching.slice(0, room);
        }
        const inputs = matching.map((message) => this.toInput(message));
        await this.engine.publish(inputs, { cursor: { topic: this.topic, nextOffset } });
        this.cursor = nextOffset;
      }
    } catch (error) {
      // A failed publish is the queue's trouble. A full queue waits for its consumers; a transient
      // failure is tried again (if it dropped the queue's engine here, the host stopped this pump
      // already and a new serving node runs its own); anything else ends the pump.
      const full = error instanceof AvisoError && error.reason === "QUEUE_FULL";
      if (!full && isPermanent(error)) return this.stop();
      if (!full) this.onError(error);
      this.retryLater(() => this.kick());
    }
  }

  /** The page at the cursor, or null if the read failed: the topic's trouble (its feed ends or recovers). */
  private async readPage(feed: TopicFeed): Promise<TopicMessage[] | null> {
    try {
      return await feed.read(this.cursor, PAGE);
    } catch (error) {
      if (isPermanent(error)) this.stop();
      else if (this.feed === feed) this.retryLater(() => this.kick());
      return null;
    }
  }

  private toInput(message: TopicMessage): QueuePublishInput {
    const headers = message.headers === null ? {} : (JSON.parse(message.headers) as Record<string, string>);
    headers["aviso-topic"] = this.topic;
    headers["aviso-routing-key"] = message.key;
    headers["aviso-offset"] = String(message.offset);
    return { payload: message.payload, headers: JSON.stringify(headers), delayMs: 0 };
  }

  private retryLater(action: () => void): void {
    if (this.ended) return;
    this.retryTimer?.cancel();
    this.retryTimer = this.clock.setTimer(RETRY_DELAY_MS, () => {
      this.retryTimer = null;
      action();
    });
  }
}

/** A failure that trying again cannot mend (the queue or topic was deleted): the pump ends. */
function isPermanent(error: unknown): boolean {
  return AvisoError.from(error).retry === "never";
}
