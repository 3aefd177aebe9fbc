import type { Connection } from "../socket/connection.ts";
import {
  isQueueMessage,
  type QueueMessageFrame,
  type ReplayedFrame,
  type RequestFrame,
  type TopicMessageFrame,
} from "../socket/frames.ts";
import type { TopicMessageData } from "../types.ts";
import { type RetentionGap, Subscription } from "./subscription.ts";

export interface TopicMessage<P = unknown> extends TopicMessageData<P> {
  readonly topic: string;
}

/** Where a topic subscription starts. */
export type StartFrom = "latest" | "earliest" | number;

export interface TopicSubscribeOptions<P = unknown> {
  /** Routing-key pattern: `*` one word, `#` zero or more (default `#`: everything). */
  pattern?: string;
  /**
   * "latest" (default): messages published from now on — the topic's next offset is looked up
   * first, so even a reconnect before the first message loses nothing; "earliest": all retained
   * history first; a number: from that offset.
   */
  from?: StartFrom;
  /** Shortcut for `subscription.on("message", …)`. */
  onMessage?: (message: TopicMessage<P>) => void | Promise<void>;
  /** Shortcut for `subscription.on("gap", …)`. */
  onGap?: (gap: RetentionGap) => void;
}

/**
 * A live subscription to a topic that survives reconnects without a gap:
 * it remembers the next offset it needs and re-subscribes from there on
 * every new socket (any node). Messages arrive once, in offset order.
 */
export class TopicSubscription<P = unknown> extends Subscription<TopicMessage<P>> {
  private nextOffset: number | null = null;
  readonly pattern: string;

  constructor(
    connection: Connection,
    readonly topic: string,
    private readonly options: TopicSubscribeOptions<P>,
    /** The topic's next offset (GET /v1/topics/{name}), to pin "latest" down. */
    private readonly latestOffset: () => Promise<number>,
    onClosed: (subscription: Subscription<TopicMessage<P>>) => void,
  ) {
    super(connection, onClosed);
    this.pattern = options.pattern ?? "#";
    if (options.onMessage !== undefined) this.on("message", options.onMessage);
    if (options.onGap !== undefined) this.on("gap", options.onGap);
    this.start();
  }

  /** The next offset this subscription expects (last received + 1, or where replay ended); null before it knows. */
  get position(): number | null {
    return this.nextOffset;
  }

  message(frame: QueueMessageFrame | TopicMessageFrame): void {
    if (isQueueMessage(frame)) return;
    // Defensive: the protocol never repeats an offset on one subscription.
    if (this.nextOffset !== null && frame.offset < this.nextOffset) return;
    this.nextOffset = frame.offset + 1;
    const message: TopicMessage<P> = {
      topic: this.topic,
      offset: frame.offset,
      key: frame.key,
      payload: frame.payload as P,
      publishedAt: frame.publishedAt,
      ...(frame.headers === undefined ? {} : { headers: frame.headers }),
    };
    void this.dispatch(message);
  }

  override replayed(frame: ReplayedFrame): void {
    if (!frame.complete) this.events.emit("gap", { topic: this.topic, from: frame.from, to: frame.to });
    // Everything below `to` was replayed or did not match the pattern.
    this.nextOffset = Math.max(this.nextOffset ?? 0, frame.to);
  }

  protected async subscribeFrame(): Promise<RequestFrame> {
    if (this.nextOffset === null) {
      const from = this.options.from ?? "latest";
      if (from === "earliest") return this.frame("earliest");
      this.nextOffset = from === "latest" ? await this.latestOffset() : from;
    }
    return this.frame(this.nextOffset);
  }

  private frame(from: StartFrom): RequestFrame {
    return { op: "subscribe", topic: this.topic, pattern: this.pattern, from };
  }
}
