import { readPayload } from "./history.ts";
import type { Frame } from "./live-socket.ts";
import { type ReaderOptions, Resubscriber } from "./resubscriber.ts";

export interface QueueConsumerOptions extends ReaderOptions {
  queues: readonly string[];
  prefetch: number;
}

/**
 * A WebSocket consumer of one or more queues (see Resubscriber for how it
 * survives node failures): records every delivery, then acks it, and records
 * the acks the node confirmed.
 */
export class QueueConsumer extends Resubscriber {
  constructor(private readonly consumer: QueueConsumerOptions) {
    super(consumer, consumer.queues);
  }

  protected subscribeFrame(queue: string, id: string): Record<string, unknown> {
    return { op: "subscribe", id, queue, prefetch: this.consumer.prefetch };
  }

  protected message(frame: Frame, url: string): void {
    const id = String(frame.id);
    this.options.history.queueDeliveries.push({
      consumer: this.options.name,
      queue: String(frame.queue),
      id,
      payload: readPayload(frame.payload),
      deliveries: Number(frame.deliveries),
      url,
      at: Date.now(),
    });
    const queue = String(frame.queue);
    this.request({ op: "ack", sub: frame.sub, ids: [id] }, (reply) => {
      // Only an ack the node counted was committed; a stale or failed one leaves the message to come again.
      if (reply.op === "ok" && Number(reply.acked) === 1) {
        this.options.history.queueAcks.push({ consumer: this.options.name, queue, id, at: Date.now() });
      }
    });
  }
}
