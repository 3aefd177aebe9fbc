import { AvisoClientError } from "../errors.ts";
import type { Connection } from "../socket/connection.ts";
import {
  isQueueMessage,
  type QueueMessageFrame,
  type RequestFrame,
  type TopicMessageFrame,
} from "../socket/frames.ts";
import type { Headers, QueueMessageData } from "../types.ts";
import { Subscription } from "./subscription.ts";

/**
 * What an ack or nack achieved: "done"; "stale" — the delivery was no longer
 * in flight (its socket closed or its deadline passed; it is redelivered);
 * "unconfirmed" — the socket closed before the node answered.
 */
export type SettleOutcome = "done" | "stale" | "unconfirmed";

/** A message pushed to a queue subscription. Ack it when done; nack it to have it redelivered. */
export interface QueueMessage<P = unknown> extends QueueMessageData<P> {
  readonly queue: string;
  /** True once ack() or nack() was called. */
  readonly settled: boolean;
  ack(): Promise<SettleOutcome>;
  nack(options?: { delayMs?: number }): Promise<SettleOutcome>;
}

export interface QueueSubscribeOptions<P = unknown> {
  /** Most un-acked messages at a time (server default 100). */
  prefetch?: number;
  /**
   * Ack for you: after every async `message` listener resolved (nack if one threw), or when a
   * for-await loop asks for the next message. Leaving the loop leaves the current message un-acked.
   */
  autoAck?: boolean;
  /** Shortcut for `subscription.on("message", …)`. */
  onMessage?: (message: QueueMessage<P>) => void | Promise<void>;
}

interface Batch {
  readonly op: "ack" | "nack";
  readonly delayMs: number | undefined;
  readonly sub: string;
  readonly generation: number;
  readonly waiters: Array<{ id: string; resolve: (outcome: SettleOutcome) => void }>;
}

class PushedQueueMessage<P> implements QueueMessage<P> {
  settled = false;
  readonly id: string;
  readonly payload: P;
  readonly headers?: Headers;
  readonly publishedAt: number;
  readonly deliveries: number;

  constructor(
    private readonly subscription: QueueSubscription<P>,
    frame: QueueMessageFrame,
    readonly queue: string,
    readonly sub: string,
    readonly generation: number,
  ) {
    this.id = frame.id;
    this.payload = frame.payload as P;
    if (frame.headers !== undefined) this.headers = frame.headers;
    this.publishedAt = frame.publishedAt;
    this.deliveries = frame.deliveries;
  }

  ack(): Promise<SettleOutcome> {
    return this.settle("ack", undefined);
  }

  nack(options: { delayMs?: number } = {}): Promise<SettleOutcome> {
    return this.settle("nack", options.delayMs);
  }

  private settle(op: "ack" | "nack", delayMs: number | undefined): Promise<SettleOutcome> {
    if (this.settled) return Promise.resolve("stale");
    this.settled = true;
    return this.subscription.settle(this, op, delayMs);
  }
}

/** A push subscription to a queue: at most `prefetch` un-acked messages; re-subscribes after every reconnect. */
export class QueueSubscription<P = unknown> extends Subscription<QueueMessage<P>> {
  private readonly batches = new Map<string, Batch>();

  constructor(
    connection: Connection,
    readonly queue: string,
    private readonly options: QueueSubscribeOptions<P>,
    onClosed: (subscription: Subscription<QueueMessage<P>>) => void,
  ) {
    super(connection, onClosed);
    if (options.onMessage !== undefined) this.on("message", options.onMessage);
    this.start();
  }

  message(frame: QueueMessageFrame | TopicMessageFrame): void {
    if (!isQueueMessage(frame) || this.serverSub === null) return;
    const message = new PushedQueueMessage<P>(this, frame, this.queue, frame.sub, this.connection.generation);
    void this.dispatch(message).then((outcome) => {
      if (this.options.autoAck !== true || outcome === null || message.settled) return;
      void (outcome ? message.ack() : message.nack());
    });
  }

  /** Groups the acks and nacks of one tick into one frame per kind. */
  settle(
    message: PushedQueueMessage<P>,
    op: "ack" | "nack",
    delayMs: number | undefined,
  ): Promise<SettleOutcome> {
    // A message from an earlier socket went back to the queue when that socket closed.
    if (message.generation !== this.connection.generation || message.sub !== this.serverSub) {
      return Promise.resolve("stale");
    }
    const key = `${op}:${delayMs ?? ""}`;
    let batch = this.batches.get(key);
    if (batch === undefined) {
      batch = { op, delayMs, sub: message.sub, generation: message.generation, waiters: [] };
      this.batches.set(key, batch);
      queueMicrotask(() => this.flush(key));
    }
    const waiters = batch.waiters;
    return new Promise((resolve) => waiters.push({ id: message.id, resolve }));
  }

  protected subscribeFrame(): RequestFrame {
    return {
      op: "subscribe",
      queue: this.queue,
      ...(this.options.prefetch === undefined ? {} : { prefetch: this.options.prefetch }),
    };
  }

  protected override iterationDone(message: QueueMessage<P>): void {
    if (this.options.autoAck === true && !message.settled) void message.ack();
  }

  private flush(key: string): void {
    const batch = this.batches.get(key);
    if (batch === undefined) return;
    this.batches.delete(key);
    if (batch.generation !== this.connection.generation || batch.sub !== this.serverSub) {
      for (const waiter of batch.waiters) waiter.resolve("stale");
      return;
    }
    const ids = batch.waiters.map((waiter) => waiter.id);
    const frame: RequestFrame = { op: batch.op, sub: batch.sub, ids };
    if (batch.delayMs !== undefined) frame.delayMs = batch.delayMs;
    this.connection.request(frame).then(
      (ok) => {
        const stale = new Set(Array.isArray(ok.stale) ? ok.stale.map(String) : []);
        for (const waiter of batch.waiters) waiter.resolve(stale.has(waiter.id) ? "stale" : "done");
      },
      (error: unknown) => {
        const failure = AvisoClientError.from(error);
        // UNKNOWN_SUBSCRIPTION: the subscription ended meanwhile, so its deliveries went back to the queue.
        const outcome = failure.reason === "UNKNOWN_SUBSCRIPTION" ? "stale" : "unconfirmed";
        for (const waiter of batch.waiters) waiter.resolve(outcome);
      },
    );
  }
}
