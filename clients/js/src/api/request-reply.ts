import { AvisoClientError, isRecord } from "../errors.ts";
import type { QueueMessage, QueueSubscription } from "../subscriptions/queue-subscription.ts";
import type { Headers } from "../types.ts";
import { randomId } from "../util/runtime.ts";
import type { AuthApi } from "./auth-api.ts";
import type { QueuesApi } from "./queues-api.ts";

/** Headers of the request/reply convention (AMQP's reply-to and correlation-id properties). */
export const REPLY_TO_HEADER = "reply-to";
export const CORRELATION_ID_HEADER = "correlation-id";
/** "ok", or "error" when the handler threw; the payload then is `{message}`. */
export const REPLY_STATUS_HEADER = "reply-status";

export interface RequestOptions {
  /** Longest wait for the reply. Default 10000. */
  timeoutMs?: number;
  headers?: Headers;
  /**
   * Users allowed to publish the reply. The reply queue is private, so the
   * responder needs a grant; default: the creator of the request queue, when
   * the server shows it (to the creator and operators only), else required.
   */
  replyFrom?: readonly string[];
}

export interface ServeOptions {
  /** Requests handled at once. Default 10. */
  prefetch?: number;
}

export type ServeHandler<Request, Response> = (
  payload: Request,
  message: QueueMessage<Request>,
) => Response | Promise<Response>;

interface Waiter {
  resolve(payload: unknown): void;
  reject(error: AvisoClientError): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Synchronous calls over queues: `request` publishes to a service queue with
 * reply-to and correlation-id headers and waits on the client's private
 * reply queue (created on first use, deleted on close); `serve` consumes a
 * service queue and publishes each handler's answer to its reply-to queue.
 */
export class RequestReply {
  private replyQueue: Promise<{ name: string; subscription: QueueSubscription }> | null = null;
  private readonly waiting = new Map<string, Waiter>();
  private readonly granted = new Set<string>();
  private readonly creators = new Map<string, Promise<string>>();
  private ownUsername: Promise<string> | null = null;

  constructor(
    private readonly queues: QueuesApi,
    private readonly auth: AuthApi,
    private readonly defaultTimeoutMs: number,
  ) {}

  async request<R>(queue: string, payload: unknown, options: RequestOptions = {}): Promise<R> {
    const { name: replyQueue } = await this.ensureReplyQueue();
    await this.allowReplies(replyQueue, options.replyFrom ?? [await this.creatorOf(queue)]);
    const correlationId = randomId();
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const reply = new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(correlationId);
        reject(AvisoClientError.client("TIMEOUT", `No reply from "${queue}" within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.waiting.set(correlationId, { resolve: (value) => resolve(value as R), reject, timer });
    });
    const headers = {
      ...options.headers,
      [REPLY_TO_HEADER]: replyQueue,
      [CORRELATION_ID_HEADER]: correlationId,
    };
    try {
      await this.queues.publish(queue, payload ?? null, { headers });
    } catch (error) {
      this.settle(correlationId)?.reject(AvisoClientError.from(error));
    }
    return reply;
  }

  serve<Request, Response>(
    queue: string,
    handler: ServeHandler<Request, Response>,
    options: ServeOptions = {},
  ): QueueSubscription<Request> {
    return this.queues.subscribe<Request>(queue, {
      prefetch: options.prefetch ?? 10,
      onMessage: async (message) => {
        let answer: unknown;
        let status = "ok";
        try {
          answer = await handler(message.payload, message);
        } catch (error) {
          status = "error";
          answer = { message: error instanceof Error ? error.message : String(error) };
        }
        const replyTo = message.headers?.[REPLY_TO_HEADER];
        const correlationId = message.headers?.[CORRELATION_ID_HEADER];
        if (replyTo !== undefined && correlationId !== undefined) {
          const headers = { [CORRELATION_ID_HEADER]: correlationId, [REPLY_STATUS_HEADER]: status };
          try {
            await this.queues.publish(replyTo, answer ?? null, { headers });
          } catch (error) {
            // A requester that went away (reply queue deleted) needs no answer; anything else is retried.
            const failure = AvisoClientError.from(error);
            if (failure.reason !== "QUEUE_NOT_FOUND") {
              await message.nack();
              return;
            }
          }
        }
        await message.ack();
      },
    });
  }

  /** Fails waiting requests and deletes the reply queue. */
  async close(): Promise<void> {
    for (const [correlationId] of this.waiting) {
      this.settle(correlationId)?.reject(AvisoClientError.client("CLIENT_CLOSED", "The client was closed."));
    }
    const replyQueue = await this.replyQueue?.catch(() => null);
    if (replyQueue === null || replyQueue === undefined) return;
    await replyQueue.subscription.close();
    await this.queues.delete(replyQueue.name).catch(() => {});
  }

  private ensureReplyQueue(): Promise<{ name: string; subscription: QueueSubscription }> {
    this.replyQueue ??= this.createReplyQueue().catch((error: unknown) => {
      this.replyQueue = null;
      throw error;
    });
    return this.replyQueue;
  }

  private async createReplyQueue(): Promise<{ name: string; subscription: QueueSubscription }> {
    const name = `reply-${randomId()}`;
    await this.queues.create(name, { private: true });
    const subscription = this.queues.subscribe(name, {
      autoAck: true,
      onMessage: (message) => this.replied(message),
    });
    await subscription.ready();
    return { name, subscription };
  }

  private replied(message: QueueMessage): void {
    const correlationId = message.headers?.[CORRELATION_ID_HEADER];
    const waiter = correlationId === undefined ? undefined : this.settle(correlationId);
    if (waiter === undefined) return; // a late reply to a request that timed out
    if (message.headers?.[REPLY_STATUS_HEADER] === "error") {
      const text = isRecord(message.payload) ? String(message.payload.message) : "The handler failed.";
      waiter.reject(AvisoClientError.client("HANDLER_FAILED", text));
      return;
    }
    waiter.resolve(message.payload);
  }

  private settle(correlationId: string): Waiter | undefined {
    const waiter = this.waiting.get(correlationId);
    if (waiter === undefined) return undefined;
    this.waiting.delete(correlationId);
    clearTimeout(waiter.timer);
    return waiter;
  }

  /** The reply queue is private: whoever answers needs a publish grant on it (once per user). */
  private async allowReplies(replyQueue: string, usernames: readonly string[]): Promise<void> {
    this.ownUsername ??= this.auth.me().then((me) => me.username);
    const self = await this.ownUsername;
    for (const username of usernames) {
      if (username === self || this.granted.has(username)) continue;
      await this.queues.grant(replyQueue, username, ["publish"]);
      this.granted.add(username);
    }
  }

  private creatorOf(queue: string): Promise<string> {
    let creator = this.creators.get(queue);
    if (creator === undefined) {
      creator = this.queues.get(queue).then((view) => {
        // The server shows a queue's creator only to the creator and operators.
        if (view.creator !== undefined) return view.creator;
        throw AvisoClientError.client(
          "INVALID_ARGUMENT",
          `The creator of "${queue}" is not shown to you: name the responders with replyFrom.`,
        );
      });
      creator.catch(() => this.creators.delete(queue));
      this.creators.set(queue, creator);
    }
    return creator;
  }
}
