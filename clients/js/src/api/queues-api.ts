import {
  type QueueMessage,
  type QueueSubscribeOptions,
  QueueSubscription,
} from "../subscriptions/queue-subscription.ts";
import type {
  QueueBatchMessage,
  QueueMessageData,
  QueuePublishOptions,
  QueueSettings,
  QueueView,
  SettleResult,
} from "../types.ts";
import { randomId } from "../util/runtime.ts";
import { type ClientContext, compact, publishOverSocket, withIdempotencyKey } from "./context.ts";
import { ResourceApi } from "./resource-api.ts";

/** A message leased by `receive`: ack it before its deadline, or it is delivered again. */
export interface ReceivedMessage<P = unknown> extends QueueMessageData<P> {
  readonly queue: string;
  /** Names this delivery in ack/nack. */
  readonly receipt: string;
  ack(): Promise<SettleResult>;
  nack(options?: { delayMs?: number }): Promise<SettleResult>;
}

export interface ReceiveOptions {
  /** Most messages to lease (default 1). */
  max?: number;
  /** Long-poll: wait up to this long for a first message (≤ the node's maxReceiveWaitMs, 20 s). */
  waitMs?: number;
  /** Ack deadline for these deliveries; default the queue's. */
  ackTimeoutMs?: number;
}

/** Queues: manage, publish, pull (receive/ack/nack) and push (subscribe). */
export class QueuesApi extends ResourceApi<QueueView, QueueSettings> {
  constructor(context: ClientContext) {
    super(context, "queues");
  }

  /** Publishes one message; answers once it is committed. Retried safely: it carries an idempotency key. */
  async publish(name: string, payload: unknown, options: QueuePublishOptions = {}): Promise<{ id: string }> {
    const { via, ...fields } = options;
    const message = withIdempotencyKey(compact({ payload, ...fields }), randomId);
    if ((via ?? this.context.options.publishVia) === "socket") {
      this.context.assertOpen();
      const ok = await publishOverSocket(this.context, { op: "publish", queue: name, ...message });
      return { id: String(ok.messageId) };
    }
    const answer = await this.servedCall<{ ids: string[] }>(name, {
      method: "POST",
      rest: "/messages",
      body: message,
    });
    return { id: answer.ids[0] as string };
  }

  /** Publishes several messages in one commit (REST); ids in the same order. */
  async publishBatch(name: string, messages: readonly QueueBatchMessage[]): Promise<{ ids: string[] }> {
    const keyed = messages.map((message) => withIdempotencyKey(compact({ ...message }), randomId));
    return this.servedCall(name, {
      method: "POST",
      rest: "/messages",
      body: { messages: keyed },
    });
  }

  /** Leases up to `max` messages (pull). Each must be acked before its ack deadline. */
  async receive<P = unknown>(name: string, options: ReceiveOptions = {}): Promise<ReceivedMessage<P>[]> {
    const answer = await this.servedCall<{ messages: Array<QueueMessageData<P> & { receipt: string }> }>(
      name,
      {
        method: "POST",
        rest: "/receive",
        body: compact({ ...options }),
        timeoutMs: this.context.options.requestTimeoutMs + (options.waitMs ?? 0),
      },
    );
    return answer.messages.map((delivery) => ({
      ...delivery,
      queue: name,
      ack: () => this.ack(name, [delivery.receipt]),
      nack: (nackOptions: { delayMs?: number } = {}) => this.nack(name, [delivery.receipt], nackOptions),
    }));
  }

  /** Acks received messages by receipt; receipts no longer in flight come back in `stale`. */
  ack(name: string, receipts: readonly string[]): Promise<SettleResult> {
    return this.servedCall(name, { method: "POST", rest: "/ack", body: { receipts } });
  }

  /** Gives received messages back, to be redelivered (after `delayMs`). */
  nack(name: string, receipts: readonly string[], options: { delayMs?: number } = {}): Promise<SettleResult> {
    return this.servedCall(name, {
      method: "POST",
      rest: "/nack",
      body: compact({ receipts, delayMs: options.delayMs }),
    });
  }

  /**
   * Push: messages arrive over the client's WebSocket as the node delivers
   * them, at most `prefetch` un-acked at a time. Use `for await (const m of
   * subscription)` or `subscription.on("message", …)`. After a reconnect it
   * subscribes again by itself; messages that were not acked are redelivered
   * (`deliveries` > 1), so processing must tolerate duplicates.
   */
  subscribe<P = unknown>(name: string, options: QueueSubscribeOptions<P> = {}): QueueSubscription<P> {
    this.context.assertOpen();
    const { subscriptions } = this.context;
    const subscription = new QueueSubscription<P>(this.context.connection, name, options, (closed) =>
      subscriptions.delete(closed),
    );
    subscriptions.add(subscription);
    return subscription;
  }
}

export type { QueueMessage };
