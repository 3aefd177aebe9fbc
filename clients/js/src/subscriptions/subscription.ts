import { AvisoClientError } from "../errors.ts";
import type { Connection, FrameSink } from "../socket/connection.ts";
import type {
  OkFrame,
  QueueMessageFrame,
  ReplayedFrame,
  RequestFrame,
  TopicMessageFrame,
} from "../socket/frames.ts";
import { AsyncQueue } from "../util/async-queue.ts";
import { Emitter } from "../util/emitter.ts";
import { sleep } from "../util/runtime.ts";

/** A retention gap: the node no longer had part of `[from, to)` when the subscription (re)started. */
export interface RetentionGap {
  topic: string;
  /** First offset asked for. */
  from: number;
  /** First live offset; some offsets below it and at or above `from` were dropped by retention. */
  to: number;
}

export interface SubscriptionEvents<M> {
  /** A message. With `autoAck`, a queue message is acked once every async listener resolved (nacked if one threw). */
  message: M;
  /** The node confirmed the subscription (first time, and again after each reconnect). */
  subscribed: { resubscribed: boolean };
  /** Topic only: retention dropped messages this subscription asked for. Never silent. */
  gap: RetentionGap;
  /** The subscription failed for good (refused, queue/topic deleted); `closed` follows. */
  error: AvisoClientError;
  closed: { error?: AvisoClientError };
}

export type SubscriptionState = "subscribing" | "subscribed" | "closed";
type Listener<T> = (event: T) => void | Promise<void>;

/**
 * What queue and topic subscriptions share: (re)subscribing on every new
 * socket, routing its frames here, the callback and async-iterator APIs, and
 * `ready()` / `close()`. Messages go to every `message` listener and to the
 * iterator; before either exists they are buffered for the iterator, so a
 * `for await` that starts a little later misses nothing.
 */
export abstract class Subscription<M> implements AsyncIterable<M>, FrameSink {
  protected readonly events = new Emitter<Omit<SubscriptionEvents<M>, "message">>();
  private readonly messageListeners = new Set<Listener<M>>();
  private readonly iterator: AsyncQueue<M>;
  private iteratorStarted = false;
  private stateValue: SubscriptionState = "subscribing";
  /** Server-side id on the current socket; null while not subscribed. */
  protected serverSub: string | null = null;
  protected subscribedGeneration = -1;
  private everSubscribed = false;
  private readyWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private failure: AvisoClientError | undefined;
  private readonly offConnection: Array<() => void> = [];

  protected constructor(
    protected readonly connection: Connection,
    private readonly onClosed: (subscription: Subscription<M>) => void,
  ) {
    this.iterator = new AsyncQueue<M>(() => void this.close());
    this.offConnection.push(
      connection.events.on("connected", () => void this.subscribeOnSocket()),
      connection.events.on("disconnected", () => this.socketLost()),
      connection.events.on("status", (status) => {
        if (status.state === "closed" && status.reason !== "client-closed")
          this.fail(status.error ?? AvisoClientError.client("NETWORK_ERROR", "The connection closed."));
      }),
    );
  }

  get state(): SubscriptionState {
    return this.stateValue;
  }

  /** Resolves once the node confirmed the subscription; rejects if it failed or was closed first. */
  ready(): Promise<void> {
    if (this.everSubscribed) return Promise.resolve();
    if (this.stateValue === "closed") return Promise.reject(this.failure ?? closedSubscription());
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  on<K extends keyof SubscriptionEvents<M>>(
    event: K,
    listener: Listener<SubscriptionEvents<M>[K]>,
  ): () => void {
    if (event === "message") {
      const messageListener = listener as Listener<M>;
      this.messageListeners.add(messageListener);
      return () => this.messageListeners.delete(messageListener);
    }
    return this.events.on(event as Exclude<K, "message">, listener as never);
  }

  [Symbol.asyncIterator](): AsyncIterator<M> {
    this.iteratorStarted = true;
    const queue = this.iterator;
    let previous: M | undefined;
    return {
      next: async () => {
        // Asking for the next message means the loop body finished with the previous one.
        if (previous !== undefined) this.iterationDone(previous);
        const result = await queue.next();
        previous = result.done === true ? undefined : result.value;
        return result;
      },
      return: () => queue.return(),
    };
  }

  /** Unsubscribes and ends the iterator. Queue messages not yet acked go back to the queue. */
  async close(): Promise<void> {
    if (this.stateValue === "closed") return;
    const sub = this.serverSub;
    this.finish(undefined);
    if (sub !== null && this.connection.isConnected) {
      await this.connection.request({ op: "unsubscribe", sub }).catch(() => {});
    }
  }

  // FrameSink
  abstract message(frame: QueueMessageFrame | TopicMessageFrame): void;

  replayed(_frame: ReplayedFrame): void {}

  ended(error: AvisoClientError): void {
    this.serverSub = null;
    if (error.isTransient) {
      // The node gave up re-attaching (the serving node moved for too long): try again.
      this.subscribedGeneration = -1;
      void this.subscribeOnSocket();
      return;
    }
    this.fail(error);
  }

  /** Starts subscribing (connecting first when needed). */
  protected start(): void {
    if (this.connection.isConnected) void this.subscribeOnSocket();
    else this.connection.ensureConnecting();
  }

  /** The subscribe frame for the current socket (its `from` reflects what was already received). */
  protected abstract subscribeFrame(): RequestFrame | Promise<RequestFrame>;

  /** Called when the socket that carried the subscription is gone. */
  protected socketLost(): void {
    this.serverSub = null;
  }

  /** The for-await loop body finished with `message` (it asked for the next one). */
  protected iterationDone(_message: M): void {}

  /**
   * Hands a message to the iterator and every listener. Resolves when the
   * listeners are done: true, false if one threw, null if there were none.
   */
  protected dispatch(message: M): Promise<boolean | null> {
    if (this.iteratorStarted || this.messageListeners.size === 0) this.iterator.push(message);
    const running: Promise<void>[] = [];
    for (const listener of [...this.messageListeners]) {
      try {
        const result = listener(message);
        if (result instanceof Promise) running.push(result);
      } catch (error) {
        running.push(Promise.reject(error));
      }
    }
    if (this.messageListeners.size === 0) return Promise.resolve(null);
    if (running.length === 0) return Promise.resolve(true);
    return Promise.all(running).then(
      () => true,
      () => false,
    );
  }

  protected fail(error: AvisoClientError): void {
    if (this.stateValue === "closed") return;
    this.events.emit("error", error);
    this.finish(error);
  }

  private async subscribeOnSocket(): Promise<void> {
    const generation = this.connection.generation;
    if (this.stateValue === "closed" || this.subscribedGeneration === generation) return;
    this.subscribedGeneration = generation;
    for (let attempt = 1; ; attempt++) {
      try {
        const frame = await this.subscribeFrame();
        if (this.isStale(generation)) return;
        await this.connection.request(frame, { onOk: (ok) => this.subscribed(ok, generation) });
        return;
      } catch (thrown) {
        const error = AvisoClientError.from(thrown);
        if (this.isStale(generation)) return;
        if (!error.isTransient) {
          this.fail(error);
          return;
        }
        await sleep(Math.min(100 * 2 ** attempt, 2000));
        if (!this.connection.isConnected || this.connection.generation !== generation) return;
      }
    }
  }

  /** Closed meanwhile, or the socket this attempt was for is gone (the next one subscribes anew). */
  private isStale(generation: number): boolean {
    return this.stateValue === "closed" || this.connection.generation !== generation;
  }

  /** Runs synchronously on the ok frame, so the route exists before the first message frame. */
  private subscribed(ok: OkFrame, generation: number): void {
    if (this.stateValue === "closed" || typeof ok.sub !== "string") return;
    if (this.connection.generation !== generation) return;
    this.serverSub = ok.sub;
    this.connection.route(ok.sub, this);
    const resubscribed = this.everSubscribed;
    this.everSubscribed = true;
    this.stateValue = "subscribed";
    for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
    this.events.emit("subscribed", { resubscribed });
  }

  private finish(error: AvisoClientError | undefined): void {
    if (this.stateValue === "closed") return;
    this.stateValue = "closed";
    this.failure = error;
    if (this.serverSub !== null) this.connection.unroute(this.serverSub, this);
    this.serverSub = null;
    for (const off of this.offConnection.splice(0)) off();
    for (const waiter of this.readyWaiters.splice(0)) waiter.reject(error ?? closedSubscription());
    if (error === undefined) this.iterator.end();
    else this.iterator.fail(error);
    this.events.emit("closed", error === undefined ? {} : { error });
    this.events.removeAll();
    this.messageListeners.clear();
    this.onClosed(this);
  }
}

function closedSubscription(): AvisoClientError {
  return AvisoClientError.client(
    "CLIENT_CLOSED",
    "The subscription was closed before the node confirmed it.",
  );
}
