import type { Principal } from "../../app/context.ts";
import type { Services } from "../../app/services.ts";
import type { Config } from "../../config/schema.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { WsClose } from "../../errors/ws-close.ts";
import { logEvents } from "../../log/events.ts";
import type { Logger } from "../../log/logger.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import type { Clock, Timer } from "../../shared/clock.ts";
import type { ConnectionSlot } from "./connection-slots.ts";
import { errorFrame, type RequestIdValue } from "./frames.ts";
import { PublishBatches } from "./publish-batches.ts";
import type { TopicChannels } from "./topic-channels.ts";

/** The transport under a session: a uWS socket in production, a fake in unit tests. */
export interface SocketPort {
  readonly ip: string;
  send(frame: string): void;
  /** Runs `fn` with writes batched into one syscall. */
  cork(fn: () => void): void;
  subscribe(channel: string): void;
  unsubscribe(channel: string): void;
  bufferedAmount(): number;
  end(code: number, reason: string): void;
}

export interface SessionDeps {
  services: Services;
  channels: TopicChannels;
  config: Config;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  /** Told when a session authenticates (or refreshes), so the edge can index sessions by user. */
  onAuthenticated?(session: WsSession): void;
}

/** One subscription of a socket; the session only needs to end it. */
export interface SessionSubscription {
  readonly id: string;
  readonly kind: "queue" | "topic";
  /** Stops deliveries; queue messages in flight go back to the queue at once. */
  close(): void;
}

type State = "awaiting-auth" | "open" | "closed";

/**
 * One WebSocket connection: authentication (header or first frame, within a
 * deadline), token expiry with in-band refresh, the subscriptions it holds,
 * and the slow-consumer rule (a socket whose outgoing buffer passes the limit
 * is closed with 4008, so it never stalls anyone else).
 */
export class WsSession {
  private state: State = "awaiting-auth";
  private principalValue: Principal | null = null;
  /** The token that proved the principal, checked again when the user's tokens are revoked. */
  private tokenValue: string | null = null;
  private authTimer: Timer | null = null;
  private expiryTimer: Timer | null = null;
  private readonly subscriptions = new Map<string, SessionSubscription>();
  private readonly drainListeners = new Set<() => void>();
  private nextQueueSub = 1;
  /** Replies waiting for the end of this loop phase (see send). */
  private replies: string[] = [];
  /** When the socket last stopped being writable; null while it is. */
  private unwritableSince: number | null = null;
  /** Made at a publish and dropped once flushed: an idle socket does not carry it. */
  private publishBatches: PublishBatches | null = null;

  constructor(
    readonly socket: SocketPort,
    readonly deps: SessionDeps,
    /** The socket's place in the node's connection limits; unit tests need none. */
    private readonly slot: ConnectionSlot = { authenticated: () => undefined, release: () => undefined },
  ) {}

  get principal(): Principal | null {
    return this.principalValue;
  }

  get token(): string | null {
    return this.tokenValue;
  }

  get isOpen(): boolean {
    return this.state !== "closed";
  }

  get hasTopicSubscriptions(): boolean {
    for (const subscription of this.subscriptions.values()) if (subscription.kind === "topic") return true;
    return false;
  }

  /** Called once the socket is open; `principal` and `token` are set when the upgrade carried a valid token. */
  opened(principal: Principal | null, token: string | null): void {
    if (principal !== null && token !== null) {
      this.authenticated(principal, token);
      return;
    }
    this.authTimer = this.deps.clock.setTimer(this.deps.config.wsAuthTimeoutMs, () => {
      if (this.state !== "awaiting-auth") return;
      logEvents.wsAuthTimeout(this.deps.log, { ip: this.socket.ip });
      this.closeWith(new AvisoError("AUTH_TIMEOUT"), WsClose.AuthTimeout);
    });
  }

  /** A first auth or a refresh with a new token for the same user. */
  authenticated(principal: Principal, token: string): void {
    if (this.state === "closed") return;
    const current = this.principalValue;
    if (current !== null && current.username !== principal.username) {
      throw new AvisoError("TOKEN_INVALID", "The new token belongs to another user; open a new connection.");
    }
    this.slot.authenticated(principal.username);
    this.principalValue = principal;
    this.tokenValue = token;
    this.deps.onAuthenticated?.(this);
    this.state = "open";
    this.authTimer?.cancel();
    this.authTimer = null;
    this.expiryTimer?.cancel();
    this.expiryTimer = this.deps.clock.setTimer(principal.tokenExpiresAt - this.deps.clock.now(), () =>
      this.closeWith(
        new AvisoError(
          "TOKEN_EXPIRED",
          "The session's token expired; send a fresh auth frame before expiry.",
        ),
        WsClose.TokenExpired,
      ),
    );
  }

  /** The principal of an open session, or AUTH_REQUIRED. */
  requirePrincipal(): Principal {
    if (this.principalValue === null) {
      throw new AvisoError("AUTH_REQUIRED", 'Authenticate first: {"op":"auth","token":"…"}.');
    }
    return this.principalValue;
  }

  /**
   * A reply (ok, error, pong…). Replies are written at the end of the event
   * loop's current phase, together: the answers to one group commit reach a
   * socket in one write instead of one syscall each. Every other write
   * flushes them first, so frames keep the order they were sent in.
   */
  send(frame: string): void {
    if (this.state === "closed") return;
    this.replies.push(frame);
    if (this.replies.length === 1) setImmediate(() => this.flushReplies());
  }

  /** This socket's publishes of the current loop turn, gathered per queue or topic (publish-batches.ts). */
  get publishes(): PublishBatches {
    this.publishBatches ??= new PublishBatches(
      this.deps.services,
      (frame) => this.send(frame),
      this.deps.config.maxBatchMessages,
      this.deps.config.maxBodyBytes,
      () => {
        this.publishBatches = null;
      },
    );
    return this.publishBatches;
  }

  /** Writes the waiting replies, then `frames`, now (not at the end of the phase). */
  sendMany(frames: readonly string[]): void {
    if (this.state === "closed" || (frames.length === 0 && this.replies.length === 0)) return;
    this.socket.cork(() => {
      this.writeReplies();
      for (const frame of frames) this.socket.send(frame);
    });
    this.checkBackpressure();
  }

  private flushReplies(): void {
    if (this.state === "closed" || this.replies.length === 0) return;
    this.socket.cork(() => this.writeReplies());
    this.checkBackpressure();
  }

  /** Inside a cork: the pending replies, in order. */
  private writeReplies(): void {
    if (this.replies.length === 0) return;
    const replies = this.replies;
    this.replies = [];
    for (const reply of replies) this.socket.send(reply);
  }

  /**
   * Below half the slow-consumer limit the socket takes more. Pushers (queue
   * deliveries, topic replay) stop above it and go on when it drains, so a
   * client that reads is never closed for a burst; only one that stops
   * reading while live topic traffic keeps coming reaches the limit.
   */
  get writable(): boolean {
    return (
      this.state !== "closed" && this.socket.bufferedAmount() < this.deps.config.slowConsumerBufferBytes / 2
    );
  }

  /** Sends frames from `from` on while the socket is writable; returns the index of the first unsent one. */
  sendWhileWritable(frames: readonly string[], from = 0): number {
    let next = from;
    if (this.state === "closed") return next;
    this.socket.cork(() => {
      this.writeReplies();
      while (next < frames.length && this.writable) this.socket.send(frames[next++] as string);
    });
    this.checkBackpressure();
    return next;
  }

  /** Resolves once the socket is writable (or closed). */
  waitWritable(): Promise<void> {
    if (this.writable || this.state === "closed") return Promise.resolve();
    return new Promise((resolve) => {
      const listener = () => {
        if (!this.writable && this.state !== "closed") return;
        this.drainListeners.delete(listener);
        resolve();
      };
      this.drainListeners.add(listener);
    });
  }

  onDrain(listener: () => void): () => void {
    this.drainListeners.add(listener);
    return () => this.drainListeners.delete(listener);
  }

  /** The transport wrote some of its backlog (uWS drain). */
  drained(): void {
    this.checkBackpressure();
    for (const listener of [...this.drainListeners]) listener();
  }

  sendError(error: AvisoError, context: { id?: RequestIdValue; sub?: string } = {}): void {
    this.send(errorFrame(error, context));
  }

  newQueueSubscriptionId(): string {
    return `q${this.nextQueueSub++}`;
  }

  hasSubscription(id: string): boolean {
    return this.subscriptions.has(id);
  }

  subscription(id: string): SessionSubscription | undefined {
    return this.subscriptions.get(id);
  }

  /** Registers a subscription, enforcing the per-socket limit. */
  addSubscription(subscription: SessionSubscription): void {
    this.subscriptions.set(subscription.id, subscription);
  }

  assertRoomForSubscription(): void {
    if (this.subscriptions.size >= this.deps.config.maxSubscriptionsPerSocket) {
      throw new AvisoError(
        "TOO_MANY_SUBSCRIPTIONS",
        `A socket holds at most ${this.deps.config.maxSubscriptionsPerSocket} subscriptions.`,
      );
    }
  }

  /** Ends and forgets a subscription; false if there was none. */
  removeSubscription(id: string): boolean {
    const subscription = this.subscriptions.get(id);
    if (subscription === undefined) return false;
    this.subscriptions.delete(id);
    subscription.close();
    return true;
  }

  /** Forgets a subscription that already ended on its own (queue or topic deleted). */
  forgetSubscription(id: string): void {
    this.subscriptions.delete(id);
  }

  /** Closes the socket with a final error frame (best effort) and a close code. */
  closeWith(error: AvisoError, code: number): void {
    if (this.state === "closed") return;
    this.send(errorFrame(error));
    this.socket.cork(() => this.writeReplies());
    this.state = "closed";
    this.socket.end(code, error.reason);
    this.cleanUp();
  }

  /** The socket closed (by the peer, by us, or by uWS): release everything it held. */
  closedByTransport(): void {
    if (this.state === "closed" && this.subscriptions.size === 0) return;
    this.state = "closed";
    this.cleanUp();
  }

  /**
   * Called periodically: a socket that stays unwritable for slowConsumerStallMs is not reading; close it
   * so its un-acked queue messages go to other consumers at once instead of after their ack deadline.
   */
  checkStall(now: number): void {
    if (this.state === "closed") return;
    if (this.writable) {
      this.unwritableSince = null;
      return;
    }
    this.unwritableSince ??= now;
    if (now - this.unwritableSince >= this.deps.config.slowConsumerStallMs) this.closeSlow();
  }

  /** Too much buffered for this socket: close it rather than let it hold memory or stall others. */
  checkBackpressure(): void {
    if (this.state === "closed") return;
    const buffered = this.socket.bufferedAmount();
    const limitBytes = this.deps.config.slowConsumerBufferBytes;
    if (buffered > limitBytes) this.closeSlow();
  }

  private closeSlow(): void {
    logEvents.slowConsumerClosed(this.deps.log, {
      username: this.principalValue?.username ?? "",
      bufferedBytes: this.socket.bufferedAmount(),
      limitBytes: this.deps.config.slowConsumerBufferBytes,
    });
    this.state = "closed";
    this.socket.end(WsClose.SlowConsumer, "SLOW_CONSUMER");
    this.cleanUp();
  }

  private cleanUp(): void {
    this.slot.release();
    for (const listener of [...this.drainListeners]) listener();
    this.drainListeners.clear();
    this.authTimer?.cancel();
    this.expiryTimer?.cancel();
    for (const subscription of this.subscriptions.values()) subscription.close();
    this.subscriptions.clear();
  }
}
