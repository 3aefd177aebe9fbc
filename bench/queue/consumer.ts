/**
 * A queue consumer on its own WebSocket: subscribes with a prefetch and acks
 * by id in batches (bench/lib/batch-acker.ts). Records end-to-end latency
 * (the message's publishedAt → delivered).
 */
import { type AckBatching, BatchAcker } from "../lib/batch-acker.ts";
import {
  connectWs,
  fieldInt,
  fieldString,
  isOp,
  OP_ERROR,
  OP_MESSAGE,
  request,
  type WebSocket,
} from "../lib/ws.ts";

export interface ConsumerOptions extends AckBatching {
  wsUrl: string;
  token: string;
  queue: string;
  prefetch: number;
}

export class QueueConsumer extends BatchAcker<string> {
  private sub = "";

  private constructor(
    private readonly ws: WebSocket,
    options: ConsumerOptions,
  ) {
    super(options);
  }

  static async start(options: ConsumerOptions, index: number): Promise<QueueConsumer> {
    const ws = await connectWs(options.wsUrl, options.token);
    const consumer = new QueueConsumer(ws, options);
    // Listen before subscribing: deliveries may arrive in the same read as the ok.
    ws.on("message", (data: Buffer) => consumer.onFrame(data));
    const reply = await request(ws, {
      op: "subscribe",
      id: `sub-${index}`,
      queue: options.queue,
      prefetch: options.prefetch,
    });
    consumer.sub = String(reply.sub);
    consumer.flush(); // deliveries that came with the ok waited for the sub id
    return consumer;
  }

  private onFrame(data: Buffer): void {
    if (isOp(data, OP_MESSAGE)) {
      const id = fieldString(data, "id");
      if (id === undefined) return;
      const publishedAt = this.batching.measuring() ? fieldInt(data, "publishedAt", true) : null;
      this.delivered(id, fieldInt(data, "deliveries", true) > 1, publishedAt);
    } else if (isOp(data, OP_ERROR)) {
      this.failed(data.toString("utf8"));
    }
  }

  protected override readyToAck(): boolean {
    return this.sub !== "";
  }

  protected override sendAcks(ids: string[]): void {
    this.ws.send(`{"op":"ack","sub":${JSON.stringify(this.sub)},"ids":${JSON.stringify(ids)}}`);
  }

  close(): void {
    this.stopTimer();
    this.ws.terminate();
  }
}
