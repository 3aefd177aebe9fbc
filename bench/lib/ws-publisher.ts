/**
 * A publisher on its own WebSocket, to a queue or a topic: keeps up to
 * `window` publishes in flight, at a target rate or as fast as the window
 * (and `mayPublish`) allow, and records publish latency (frame sent → `ok`).
 * For a topic it also remembers the offsets it got back, for loss checks.
 */
import { Histogram } from "./histogram.ts";
import type { Pacer } from "./pacer.ts";
import { connectWs, fieldInt, isOp, OP_OK, type WebSocket } from "./ws.ts";

export interface WsPublisherOptions {
  wsUrl: string;
  token: string;
  target: { queue: string } | { topic: string };
  /** The payload as JSON text. */
  payloadJson: string;
  window: number;
  /** Safety bound: never more than this many publishes in one run. */
  maxMessages: number;
  pacer: Pacer;
  measuring: () => boolean;
  /** False holds publishing back (e.g. while the slowest subscriber is too far behind the last offset). */
  mayPublish?: (lastOffset: number) => boolean;
  /** How often a paced publisher looks at its clock, besides when an ok frees a slot (default 2 ms). */
  tickMs?: number;
}

export class WsPublisher {
  sent = 0;
  oks = 0;
  errors = 0;
  lastError = "";
  /** Topics: lowest and highest offset acknowledged, -1 before the first. */
  firstOffset = -1;
  lastOffset = -1;
  readonly latency = new Histogram();
  private readonly sentAt = new Map<number, number>();
  private running = true;
  private readonly framePrefix: string;
  private readonly ticker: NodeJS.Timeout;
  private readonly toTopic: boolean;

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: WsPublisherOptions,
  ) {
    const target = JSON.stringify(options.target).slice(1, -1);
    this.framePrefix = `{"op":"publish",${target},"payload":${options.payloadJson},"id":`;
    this.toTopic = "topic" in options.target;
    ws.on("message", (data: Buffer) => this.onFrame(data));
    this.ticker = setInterval(() => this.pump(), options.tickMs ?? 2);
  }

  static async start(options: WsPublisherOptions): Promise<WsPublisher> {
    const publisher = new WsPublisher(await connectWs(options.wsUrl, options.token), options);
    publisher.pump();
    return publisher;
  }

  get inFlight(): number {
    return this.sentAt.size;
  }

  private pump(): void {
    if (!this.running || this.options.mayPublish?.(this.lastOffset) === false) return;
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
      if (this.toTopic) this.sawOffset(fieldInt(data, "offset"));
      if (this.options.measuring()) this.latency.recordMicros((performance.now() - sentAt) * 1000);
    } else {
      this.errors++;
      this.lastError = data.toString("utf8").slice(0, 300);
    }
    this.pump();
  }

  private sawOffset(offset: number): void {
    if (this.firstOffset < 0 || offset < this.firstOffset) this.firstOffset = offset;
    if (offset > this.lastOffset) this.lastOffset = offset;
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
