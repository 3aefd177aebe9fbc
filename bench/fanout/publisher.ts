/**
 * The fan-out publisher: one WebSocket publishing small messages to a topic,
 * at a target rate or as fast as the in-flight window and the subscribers'
 * lag allow (an unbounded backlog would only measure buffering and end with
 * the broker closing slow sockets). Remembers the offsets it got back, for
 * the loss check.
 */
import { Histogram } from "../lib/histogram.ts";
import type { Pacer } from "../lib/pacer.ts";
import { connectWs, fieldInt, isOp, OP_OK, type WebSocket } from "../lib/ws.ts";

export interface TopicPublisherOptions {
  wsUrl: string;
  token: string;
  topic: string;
  payloadJson: string;
  window: number;
  maxMessages: number;
  pacer: Pacer;
  /** False while the slowest subscriber is too far behind. */
  mayPublish: (lastOffset: number) => boolean;
  measuring: () => boolean;
}

export class TopicPublisher {
  sent = 0;
  oks = 0;
  errors = 0;
  lastError = "";
  firstOffset = -1;
  lastOffset = -1;
  readonly latency = new Histogram();
  private readonly sentAt = new Map<number, number>();
  private running = true;
  private readonly framePrefix: string;
  private readonly ticker: NodeJS.Timeout;

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: TopicPublisherOptions,
  ) {
    this.framePrefix = `{"op":"publish","topic":${JSON.stringify(options.topic)},"payload":${options.payloadJson},"id":`;
    ws.on("message", (data: Buffer) => this.onFrame(data));
    this.ticker = setInterval(() => this.pump(), 1);
  }

  static async start(options: TopicPublisherOptions): Promise<TopicPublisher> {
    const publisher = new TopicPublisher(await connectWs(options.wsUrl, options.token), options);
    publisher.pump();
    return publisher;
  }

  get inFlight(): number {
    return this.sentAt.size;
  }

  private pump(): void {
    if (!this.running || !this.options.mayPublish(this.lastOffset)) return;
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
      const offset = fieldInt(data, "offset");
      if (this.firstOffset < 0 || offset < this.firstOffset) this.firstOffset = offset;
      if (offset > this.lastOffset) this.lastOffset = offset;
      if (this.options.measuring()) this.latency.recordMicros((performance.now() - sentAt) * 1000);
    } else {
      this.errors++;
      this.lastError = data.toString("utf8").slice(0, 300);
    }
    this.pump();
  }

  stop(): void {
    this.running = false;
    clearInterval(this.ticker);
  }

  close(): void {
    this.stop();
    this.ws.terminate();
  }
}
