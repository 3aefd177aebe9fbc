import type {
  AckResult,
  ConsumerSink,
  Delivery,
  QueueConsumer,
  QueuePublishInput,
} from "../broker/queue/queue-ports.ts";
import type { QueueDefinition } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import { assertMayUse } from "./access.ts";
import { watchOf } from "./access-watch.ts";
import type { Resource } from "./catalog.ts";
import type { Principal } from "./context.ts";
import { deadLetterState } from "./dead-letter.ts";
import { openReceipt, sealReceipt } from "./receipts.ts";
import { type MessageInput, ResourceService } from "./resource-service.ts";

export interface CreateQueueInput {
  name: string;
  private?: boolean;
  ackTimeoutMs?: number;
  maxDeliveries?: number | null;
  deadLetterQueue?: string | null;
  messageTtlMs?: number | null;
  maxLength?: number | null;
}

export interface QueueMessageInput extends MessageInput {
  delayMs?: number;
}

export interface ReceiveInput {
  max?: number;
  waitMs?: number;
  ackTimeoutMs?: number;
}

/**
 * Where the queue's dead letters go now: "ok", "missing" (the queue it was
 * defined with is gone, even if another took its name) or "denied" (its
 * creator may no longer publish there). Missing and denied dead letters are
 * dropped, counted and logged (docs/security.md S3, S4).
 */
export interface DeadLetterView {
  queue: string;
  state: "ok" | "missing" | "denied";
}

export interface QueueView extends Omit<QueueDefinition, "deadLetterQueueId"> {
  deadLetter: DeadLetterView | null;
  depth: number;
  inFlight: number;
  consumers: number;
}

/** The v1 queue operations, whichever transport calls them. */
export class QueueService extends ResourceService<"queue", QueueView> {
  protected readonly kind = "queue";

  async create(principal: Principal, input: CreateQueueInput): Promise<QueueView> {
    const { config, store } = this.ctx;
    const settings = async () => {
      const deadLetterQueue = input.deadLetterQueue ?? null;
      return {
        ackTimeoutMs: input.ackTimeoutMs ?? config.defaultAckTimeoutMs,
        maxDeliveries: input.maxDeliveries ?? null,
        deadLetterQueue,
        deadLetterQueueId:
          deadLetterQueue === null
            ? null
            : await this.usableDeadLetterQueueId(principal, input.name, deadLetterQueue),
        messageTtlMs: input.messageTtlMs ?? null,
        maxLength: input.maxLength ?? null,
      };
    };
    const definition = await this.createDefinition(principal, input, settings, (created) =>
      store.createQueue(created),
    );
    return this.view(definition, { depth: 0, inFlight: 0, consumers: 0 });
  }

  publish(principal: Principal, name: string, messages: readonly QueueMessageInput[]): Promise<string[]> {
    return this.publishMessages(
      principal,
      name,
      messages,
      (message) => this.prepare(principal, message),
      (inputs) => this.ctx.servingNodes.queues.publish(name, inputs),
    );
  }

  /** One message encoded and checked on its own (its refusal is its alone), for publishPrepared. */
  prepare(principal: Principal, message: QueueMessageInput): QueuePublishInput {
    return this.encodeMessage<QueuePublishInput>(principal, message, {
      delayMs: message.delayMs ?? 0,
      publisher: principal.username,
    });
  }

  /** Prepared messages published together, one message id or refusal each, in order (publishEach). */
  publishPrepared(
    principal: Principal,
    name: string,
    inputs: readonly QueuePublishInput[],
  ): Promise<(string | AvisoError)[]> {
    return this.publishEach(principal, name, inputs, (charged) =>
      this.ctx.servingNodes.queues.publish(name, charged),
    );
  }

  async receive(
    principal: Principal,
    name: string,
    input: ReceiveInput,
    signal?: AbortSignal,
  ): Promise<Delivery[]> {
    const { config } = this.ctx;
    const max = input.max ?? 1;
    const waitMs = input.waitMs ?? 0;
    if (max > config.maxReceiveMessages || waitMs > config.maxReceiveWaitMs) {
      throw new AvisoError(
        "VALIDATION_FAILED",
        `max is at most ${config.maxReceiveMessages} and waitMs at most ${config.maxReceiveWaitMs}.`,
      );
    }
    const resource = await this.authorize(principal, name, "consume");
    const request = { max, waitMs, ackTimeoutMs: input.ackTimeoutMs, maxBytes: config.maxResponseBytes };
    // A wait ends at once when the caller's access goes (docs/security.md S2).
    const waiting = new AbortController();
    let revoked: AvisoError | undefined;
    const stopWaitingOnAbort = () => waiting.abort();
    signal?.addEventListener("abort", stopWaitingOnAbort, { once: true });
    const unwatch =
      waitMs > 0
        ? this.ctx.access.watch({
            ...watchOf(principal, "queue", resource.definition, "consume"),
            end: (reason) => {
              revoked = reason;
              waiting.abort();
            },
          })
        : () => {};
    let deliveries: Delivery[];
    try {
      deliveries = await this.ctx.servingNodes.queues.receive(name, request, waiting.signal);
    } finally {
      unwatch();
      signal?.removeEventListener("abort", stopWaitingOnAbort);
    }
    if (revoked !== undefined) {
      // Leased in the instant before the wait ended: hand them straight back to the queue.
      await this.giveBack(name, deliveries);
      throw revoked;
    }
    if (signal?.aborted === true) {
      // The caller went away while the page was leased: nobody will see it, so it goes back now.
      await this.giveBack(name, deliveries);
      return [];
    }
    this.ctx.metrics.messagesDelivered.inc({ kind: "queue" }, deliveries.length);
    const { receiptKey } = this.ctx;
    return deliveries.map((delivery) => ({
      ...delivery,
      receipt: sealReceipt(receiptKey, name, principal.username, delivery.receipt),
    }));
  }

  /** Returns leased deliveries nobody will see to the queue at once (best effort). */
  private async giveBack(name: string, deliveries: readonly Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const receipts = deliveries.map((delivery) => delivery.receipt);
    await this.ctx.servingNodes.queues.nack(name, receipts, 0).catch(() => {});
  }

  async ack(principal: Principal, name: string, receipts: string[]): Promise<AckResult> {
    await this.authorize(principal, name, "consume");
    const result = await this.settle(principal, name, receipts, (raw) =>
      this.ctx.servingNodes.queues.ack(name, raw),
    );
    this.ctx.metrics.messagesAcked.inc(result.acked);
    return result;
  }

  async nack(principal: Principal, name: string, receipts: string[], delayMs: number): Promise<AckResult> {
    await this.authorize(principal, name, "consume");
    return this.settle(principal, name, receipts, (raw) =>
      this.ctx.servingNodes.queues.nack(name, raw, delayMs),
    );
  }

  /**
   * Opens every receipt before the serving node sees any (S5): one that was not sealed
   * for this user on this queue fails the request, and nothing is settled.
   */
  private async settle(
    principal: Principal,
    name: string,
    receipts: readonly string[],
    apply: (raw: string[]) => Promise<AckResult>,
  ): Promise<AckResult> {
    const sealedByRaw = new Map<string, string>();
    const raws: string[] = [];
    for (const receipt of receipts) {
      const raw = openReceipt(this.ctx.receiptKey, name, principal.username, receipt);
      if (raw === undefined) {
        throw new AvisoError(
          "INVALID_RECEIPT",
          `"${receipt.slice(0, 100)}" is not a receipt issued to you for this queue.`,
        );
      }
      sealedByRaw.set(raw, receipt);
      raws.push(raw);
    }
    const result = await apply(raws);
    return { acked: result.acked, stale: result.stale.map((raw) => sealedByRaw.get(raw) ?? raw) };
  }

  /** Push: registers a consumer on the node serving the queue. */
  async consume(
    principal: Principal,
    name: string,
    sink: ConsumerSink,
    prefetch: number,
  ): Promise<QueueConsumer> {
    if (prefetch > this.ctx.config.maxPrefetch) {
      throw new AvisoError("VALIDATION_FAILED", `prefetch is at most ${this.ctx.config.maxPrefetch}.`);
    }
    const resource = await this.authorize(principal, name, "consume");
    // The consumer lives as long as the caller's access (docs/security.md S2).
    let unwatch = (): void => {};
    // Deliveries and acks are counted here, as for REST receivers, whichever door the consumer came through.
    const { metrics } = this.ctx;
    const watchedSink: ConsumerSink = {
      deliver: (deliveries) => {
        metrics.messagesDelivered.inc({ kind: "queue" }, deliveries.length);
        sink.deliver(deliveries);
      },
      ...(sink.writable === undefined ? {} : { writable: () => sink.writable?.() ?? true }),
      closed: (reason) => {
        unwatch();
        sink.closed(reason);
      },
    };
    const consumer = await this.ctx.servingNodes.queues.consume(name, watchedSink, prefetch);
    const watched: QueueConsumer = {
      prefetch: consumer.prefetch,
      ack: async (ids) => {
        const result = await consumer.ack(ids);
        metrics.messagesAcked.inc(result.acked);
        return result;
      },
      nack: (ids, delayMs) => consumer.nack(ids, delayMs),
      resume: () => consumer.resume(),
      close: () => {
        unwatch();
        consumer.close();
      },
    };
    unwatch = this.ctx.access.watch({
      ...watchOf(principal, "queue", resource.definition, "consume"),
      end: (reason) => {
        sink.closed(reason);
        consumer.close();
      },
    });
    return watched;
  }

  protected async view(
    definition: QueueDefinition,
    counts?: { depth: number; inFlight: number; consumers: number },
  ): Promise<QueueView> {
    const { deadLetterQueueId: _id, ...shown } = definition;
    const deadLetter = await this.deadLetterView(definition);
    if (counts !== undefined) return { ...shown, deadLetter, ...counts };
    const stats = await this.ctx.servingNodes.queues.stats(definition.name);
    if (stats !== undefined) {
      return {
        ...shown,
        deadLetter,
        depth: stats.depth,
        inFlight: stats.inFlight,
        consumers: stats.consumers,
      };
    }
    const depth = await this.ctx.store.countQueueMessages(definition.name);
    return { ...shown, deadLetter, depth, inFlight: 0, consumers: 0 };
  }

  /** Resolves the dead-letter target by id, as dead-lettering does (src/app/dead-letter.ts). */
  private async deadLetterView(definition: QueueDefinition): Promise<DeadLetterView | null> {
    if (definition.deadLetterQueue === null) return null;
    const target = await this.ctx.catalog.queue(definition.deadLetterQueue).catch((error: unknown) => {
      if (error instanceof AvisoError && error.reason === "QUEUE_NOT_FOUND") return undefined;
      throw error;
    });
    return { queue: definition.deadLetterQueue, state: deadLetterState(definition, target) };
  }

  /** The id of a dead-letter queue the creator may publish to; refuses anything else. */
  private async usableDeadLetterQueueId(
    principal: Principal,
    queue: string,
    deadLetterQueue: string,
  ): Promise<string> {
    if (deadLetterQueue === queue) {
      throw new AvisoError("INVALID_DEAD_LETTER_QUEUE", "A queue cannot be its own dead-letter queue.");
    }
    let resource: Resource<QueueDefinition>;
    try {
      resource = await this.ctx.catalog.queue(deadLetterQueue);
      // A queue the caller may not see answers like a missing one (S7).
      assertMayUse(principal, "queue", resource, "publish");
    } catch (error) {
      if (error instanceof AvisoError && error.reason === "QUEUE_NOT_FOUND") {
        throw new AvisoError(
          "INVALID_DEAD_LETTER_QUEUE",
          `Dead-letter queue "${deadLetterQueue}" does not exist; create it first.`,
        );
      }
      throw error;
    }
    return resource.definition.id;
  }
}
