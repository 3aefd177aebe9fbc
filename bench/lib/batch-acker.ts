/**
 * The consumer half every queue bench shares: counts deliveries, records
 * end-to-end latency while measuring, and acks in batches — every `ackBatch`
 * deliveries or `ackEveryMs` after the first unacked one, whichever comes
 * first. Subclasses say how a batch is acked (Aviso: one ack frame of ids;
 * RabbitMQ: ack up to the last tag; NATS: one ack per message).
 */
import { Histogram } from "./histogram.ts";

export interface AckBatching {
  ackBatch: number;
  ackEveryMs: number;
  /** True while the measured window is open: only then are latencies recorded. */
  measuring: () => boolean;
}

export abstract class BatchAcker<Handle> {
  received = 0;
  acked = 0;
  redelivered = 0;
  errors = 0;
  lastError = "";
  readonly endToEnd = new Histogram();
  private pending: Handle[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(protected readonly batching: AckBatching) {}

  /** Sends the acks of `handles` (in delivery order). */
  protected abstract sendAcks(handles: Handle[]): void;

  /** False holds acks back (e.g. before the subscription's id is known). */
  protected readyToAck(): boolean {
    return true;
  }

  /** One delivery; `sentAtMs` (ms since the epoch) is read only while measuring, else null. */
  protected delivered(handle: Handle, redelivered: boolean, sentAtMs: number | null): void {
    this.received++;
    if (redelivered) this.redelivered++;
    if (sentAtMs !== null) this.endToEnd.recordMillis(performance.timeOrigin + performance.now() - sentAtMs);
    this.pending.push(handle);
    if (this.pending.length >= this.batching.ackBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.batching.ackEveryMs);
  }

  protected failed(error: unknown): void {
    this.errors++;
    this.lastError = String(error).slice(0, 300);
  }

  /** Sends the pending acks now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || !this.readyToAck()) return;
    const handles = this.pending;
    this.pending = [];
    this.sendAcks(handles);
    this.acked += handles.length;
  }

  protected stopTimer(): void {
    clearTimeout(this.timer);
  }
}
