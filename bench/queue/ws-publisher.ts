/**
 * A queue publisher on its own WebSocket: keeps up to `window` publishes in
 * flight and records publish latency (frame sent → `ok` received).
 */
import { Histogram } from "../lib/histogram.ts";
import type { Pacer } from "../lib/pacer.ts";
import { connectWs, fieldInt, isOp, OP_OK, type WebSocket } from "../lib/ws.ts";

export interface PublisherOptions {
  wsUrl: string;
  token: string;
  queue: string;
  /** The payload as JSON text. */
  payloadJson: string;
  window: number;
  /** Safety bound: never more than this many publishes in one run. */
  maxMessages: number;
  pacer: Pacer;
  measuring: () => boolean;
}

export class WsQueuePublisher {
  sent = 0;
  oks = 0;
  errors = 0;
  lastError = "";
  readonly latency = new Histogram();
  private readonly sentAt = new Map<number, number>();
  private running = true;
  private readonly framePrefix: string;
  private readonly ticker: NodeJS.Timeout;

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: PublisherOptions,
  ) {
    this.framePrefix = `{"op":"publish","queue":${JSON.stringify(options.queue)},"payload":${options.payloadJson},"id":`;
    ws.on("message", (data: Buffer) => this.onFrame(data));
    // A paced publisher also sends on a clock, not only when an ok frees a slot.
    this.ticker = setInterval(() => this.pump(), 2);
  }

  static async start(options: PublisherOptions): Promise<WsQueuePublisher> {
    const publisher = new WsQueuePublisher(await connectWs(options.wsUrl, options.token), options);
    publisher.pump();
    return publisher;
  }

  get inFlight(): number {
    return this.sentAt.size;
  }

  private pump(): void {
    if (!this.running) return;
    const room = Math.min(
      this.options.window - this.sentAt.size,
      this.options.maxMessages - this.sent,
      this.options.pacer.allowance(this.sent),
    );
    for (let i = 0; i < room; i++) {
      const id = ++this.sent;
      this.sentAt.set(id, performance.now());
      this.ws.send(`${this.framePrefix}${id}}`);
    }
  }

  private onFrame(data: Buffer): void {
    const id = fieldInt(data, "id");
    const sentAt = this.sentAt.get(id);
    if (sentAt === undefined) return;
    this.sentAt.delete(id);
    if (isOp(data, OP_OK)) {
      this.oks++;
      if (this.options.measuring()) this.latency.recordMicros((performance.now() - sentAt) * 1000);
    } else {
      this.errors++;
      this.lastError = data.toString("utf8").slice(0, 300);
    }
    this.pump();
  }

  /** Stops sending; in-flight publishes still complete (wait on inFlight). */
  stop(): void {
    this.running = false;
    clearInterval(this.ticker);
  }

  close(): void {
    this.stop();
    this.ws.terminate();
  }
}
