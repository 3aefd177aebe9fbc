import WebSocket from "ws";
import { pause, waitUntil } from "./timing.ts";

const PUBLISH_EVERY_MS = 20;
const REQUEST_TIMEOUT_MS = 10_000;

interface Delivery {
  id: string;
  at: number;
  /** Seen before, or delivered more than once: only a new owner sends these after a kill. */
  redelivery: boolean;
}

/**
 * Steady traffic on one queue through one node (which is never the one
 * stopped): a REST publisher sending one keyed message every 20 ms, retrying
 * the same key until a 201, and a WebSocket consumer that acks. Measures,
 * from a moment `at`, the first 201 of a publish sent after it and the first
 * delivery only a new owner can have made (see bench/failover.ts).
 */
export class FailoverProbe {
  private ws: WebSocket | null = null;
  private stopped = false;
  private publishing: Promise<void> = Promise.resolve();
  private readonly deliveries: Delivery[] = [];
  private readonly seen = new Set<string>();
  /** id → when the request that got its 201 was sent, and when the 201 came. */
  private readonly acked = new Map<string, { sentAt: number; ackAt: number }>();

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly queue: string,
  ) {}

  async start(): Promise<void> {
    const ws = new WebSocket(`${this.url.replace(/^http/, "ws")}/v1/ws`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as {
        op: string;
        id?: string;
        sub?: string;
        deliveries?: number;
      };
      if (frame.op !== "message" || frame.id === undefined) return;
      this.deliveries.push({
        id: frame.id,
        at: Date.now(),
        redelivery: this.seen.has(frame.id) || (frame.deliveries ?? 1) > 1,
      });
      this.seen.add(frame.id);
      ws.send(JSON.stringify({ op: "ack", id: `a${frame.id}`, sub: frame.sub, ids: [frame.id] }));
    });
    ws.send(JSON.stringify({ op: "subscribe", id: "s", queue: this.queue, prefetch: 32 }));
    this.publishing = this.publishLoop();
  }

  deliveredCount(): number {
    return this.deliveries.length;
  }

  /** Waits for the first delivery by the new owner after `at`; also gives the first 201 sent after it. */
  async newOwnerTimes(
    at: number,
    timeoutMs: number,
  ): Promise<{ firstDeliveryMs: number; firstPublishMs: number }> {
    return waitUntil(
      "a delivery by the new owner",
      () => {
        const delivery = this.deliveries.find(
          (d) => d.at >= at && (d.redelivery || this.sentAfter(d.id, at)),
        );
        const publish = [...this.acked.values()]
          .filter((a) => a.sentAt >= at)
          .sort((a, b) => a.ackAt - b.ackAt)[0];
        if (delivery === undefined || publish === undefined) return undefined;
        return { firstDeliveryMs: delivery.at - at, firstPublishMs: publish.ackAt - at };
      },
      { timeoutMs, intervalMs: 20 },
    );
  }

  /**
   * The longest spells within [fromMs, toMs] with no 201 and with no
   * delivery: how long the probe's client stood still (its own 20 ms pace
   * included). Measured from fromMs, so a pause that began there counts whole.
   */
  stalls(fromMs: number, toMs: number): { publishStallMs: number; deliveryStallMs: number } {
    const longest = (times: number[]) => {
      const inside = [fromMs, ...times.filter((at) => at > fromMs && at <= toMs).sort((x, y) => x - y), toMs];
      let gap = 0;
      for (let index = 1; index < inside.length; index += 1)
        gap = Math.max(gap, (inside[index] as number) - (inside[index - 1] as number));
      return gap;
    };
    return {
      publishStallMs: longest([...this.acked.values()].map((ack) => ack.ackAt)),
      deliveryStallMs: longest(this.deliveries.map((delivery) => delivery.at)),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.publishing;
    this.ws?.terminate();
  }

  private sentAfter(id: string, at: number): boolean {
    const ack = this.acked.get(id);
    return ack !== undefined && ack.sentAt >= at;
  }

  private async publishLoop(): Promise<void> {
    for (let seq = 0; !this.stopped; seq += 1) {
      const key = `${this.queue}:${seq}`;
      while (!this.stopped) {
        const sentAt = Date.now();
        const id = await this.publish(key).catch(() => undefined);
        if (id !== undefined) {
          this.acked.set(id, { sentAt, ackAt: Date.now() });
          break;
        }
        await pause(PUBLISH_EVERY_MS);
      }
      await pause(PUBLISH_EVERY_MS);
    }
  }

  private async publish(key: string): Promise<string | undefined> {
    const response = await fetch(`${this.url}/v1/queues/${this.queue}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: { key }, idempotencyKey: key }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = (await response.json()) as { ids?: string[] };
    return response.status === 201 ? body.ids?.[0] : undefined;
  }
}
