/**
 * A queue consumer on its own WebSocket: subscribes with a prefetch and acks
 * by id in batches (every `ackBatch` ids or every `ackEveryMs`, whichever
 * comes first). Records end-to-end latency (publishedAt → delivered).
 */
import { Histogram } from "../lib/histogram.ts";
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

export interface ConsumerOptions {
  wsUrl: string;
  token: string;
  queue: string;
  prefetch: number;
  ackBatch: number;
  ackEveryMs: number;
  /** True while the measured window is open: only then are latencies recorded. */
  measuring: () => boolean;
}

export class QueueConsumer {
  received = 0;
  acked = 0;
  redelivered = 0;
  errors = 0;
  lastError = "";
  readonly endToEnd = new Histogram();
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sub = "";

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: ConsumerOptions,
  ) {}

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
      this.received++;
      if (fieldInt(data, "deliveries", true) > 1) this.redelivered++;
      if (this.options.measuring()) {
        const publishedAt = fieldInt(data, "publishedAt", true);
        this.endToEnd.recordMillis(performance.timeOrigin + performance.now() - publishedAt);
      }
      this.pending.push(id);
      if (this.pending.length >= this.options.ackBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.ackEveryMs);
    } else if (isOp(data, OP_ERROR)) {
      this.errors++;
      this.lastError = data.toString("utf8").slice(0, 300);
    }
  }

  /** Sends the pending acks now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || this.sub === "") return;
    const ids = this.pending;
    this.pending = [];
    this.ws.send(`{"op":"ack","sub":${JSON.stringify(this.sub)},"ids":${JSON.stringify(ids)}}`);
    this.acked += ids.length;
  }

  close(): void {
    clearTimeout(this.timer);
    this.ws.terminate();
  }
}
