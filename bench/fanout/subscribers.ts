/**
 * A group of topic subscribers held by one process: N WebSockets, each
 * subscribed to the topic from "latest". Per socket it tracks the first and
 * last offset seen and every gap or out-of-order offset (the loss check); for
 * the whole group it counts deliveries and latencies (publishedAt → received)
 * that fall inside the measured window, given as absolute epoch ms so several
 * processes agree on it without messaging at the edges.
 */
import { inBatches } from "../lib/bounded.ts";
import { Histogram, type HistogramData } from "../lib/histogram.ts";
import { connectWs, fieldInt, isOp, OP_MESSAGE, request, type WebSocket } from "../lib/ws.ts";

export interface GroupSettings {
  wsUrl: string;
  token: string;
  topic: string;
  count: number;
  /** Index of this group's first socket (request ids stay unique across processes). */
  firstIndex: number;
  /** Sockets being opened at once. */
  connectConcurrency: number;
}

/** What a group reports at the end; summable across groups. */
export interface GroupResult {
  sockets: number;
  received: number;
  receivedInWindow: number;
  latency: HistogramData;
  /** Sockets that missed an offset of [firstOffset, lastOffset] or saw one out of order. */
  incompleteSockets: number;
  gaps: number;
  outOfOrder: number;
  closedSockets: number;
  closeCodes: Record<string, number>;
  errorFrames: number;
}

class Subscriber {
  first = -1;
  last = -1;
  gaps = 0;
  outOfOrder = 0;
  closeCode: number | null = null;

  constructor(readonly ws: WebSocket) {}

  saw(offset: number): void {
    if (this.first < 0) this.first = offset;
    else if (offset !== this.last + 1) {
      if (offset > this.last) this.gaps += offset - this.last - 1;
      else this.outOfOrder++;
    }
    if (offset > this.last) this.last = offset;
  }
}

const nowEpochMs = () => performance.timeOrigin + performance.now();

export class SubscriberGroup {
  private readonly subscribers: Subscriber[] = [];
  private readonly latency = new Histogram();
  private received = 0;
  private receivedInWindow = 0;
  private errorFrames = 0;
  private windowStart = Number.POSITIVE_INFINITY;
  private windowEnd = Number.POSITIVE_INFINITY;

  constructor(private readonly settings: GroupSettings) {}

  async connect(): Promise<void> {
    const { wsUrl, token, topic, firstIndex, connectConcurrency } = this.settings;
    await inBatches(this.settings.count, connectConcurrency, async (i) => {
      const ws = await connectWs(wsUrl, token);
      const subscriber = new Subscriber(ws);
      ws.on("message", (data: Buffer) => this.onFrame(subscriber, data));
      ws.on("close", (code) => {
        subscriber.closeCode = code;
      });
      await request(ws, { op: "subscribe", id: `fan-${firstIndex + i}`, topic });
      this.subscribers.push(subscriber);
    });
  }

  setWindow(startEpochMs: number, endEpochMs: number): void {
    this.windowStart = startEpochMs;
    this.windowEnd = endEpochMs;
  }

  /** The lowest last-offset over open sockets (-1 before any message): how far the slowest one got. */
  slowestOffset(): number {
    let slowest = Number.POSITIVE_INFINITY;
    for (const subscriber of this.subscribers) {
      if (subscriber.closeCode === null && subscriber.last < slowest) slowest = subscriber.last;
    }
    return slowest === Number.POSITIVE_INFINITY ? -1 : slowest;
  }

  /** Sockets closed by the server or the network (not by us). */
  closedCount(): number {
    return this.subscribers.filter((s) => s.closeCode !== null).length;
  }

  private onFrame(subscriber: Subscriber, data: Buffer): void {
    if (!isOp(data, OP_MESSAGE)) {
      if (data.includes('"op":"error"')) this.errorFrames++;
      return;
    }
    const offset = fieldInt(data, "offset");
    subscriber.saw(offset);
    this.received++;
    const now = nowEpochMs();
    if (now >= this.windowStart && now < this.windowEnd) {
      this.receivedInWindow++;
      this.latency.recordMillis(now - fieldInt(data, "publishedAt", true));
    }
  }

  /** The loss check against the offsets the publisher had acknowledged, then the totals. */
  result(firstOffset: number, lastOffset: number): GroupResult {
    const closeCodes: Record<string, number> = {};
    let incompleteSockets = 0;
    let gaps = 0;
    let outOfOrder = 0;
    for (const s of this.subscribers) {
      gaps += s.gaps;
      outOfOrder += s.outOfOrder;
      if (s.closeCode !== null) closeCodes[s.closeCode] = (closeCodes[s.closeCode] ?? 0) + 1;
      const complete = s.first === firstOffset && s.last >= lastOffset && s.gaps === 0 && s.outOfOrder === 0;
      if (!complete) incompleteSockets++;
    }
    return {
      sockets: this.subscribers.length,
      received: this.received,
      receivedInWindow: this.receivedInWindow,
      latency: this.latency.toData(),
      incompleteSockets,
      gaps,
      outOfOrder,
      closedSockets: this.closedCount(),
      closeCodes,
      errorFrames: this.errorFrames,
    };
  }

  close(): void {
    for (const subscriber of this.subscribers) {
      subscriber.closeCode ??= 1000;
      subscriber.ws.terminate();
    }
  }
}
