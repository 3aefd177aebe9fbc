/**
 * Publisher and consumer halves for the peers (RabbitMQ, NATS), shaped like
 * Aviso's WsPublisher / QueueConsumer so one driver reads them all. A body is
 * `payloadBytes` long and starts with the send time (float64 ms since the
 * epoch), which the consumer reads for end-to-end latency.
 */
import { type AckBatching, BatchAcker } from "../lib/batch-acker.ts";
import { Histogram } from "../lib/histogram.ts";
import type { LoadConsumer, LoadPublisher } from "./workload.ts";

const RETRY_AFTER_ERROR_MS = 100;

const now = () => performance.timeOrigin + performance.now();

/** Keeps `window` publishes in flight; `publishOne` resolves when the broker confirmed. */
export class WindowPublisher implements LoadPublisher {
  oks = 0;
  inFlight = 0;
  errors = 0;
  lastError = "";
  readonly latency = new Histogram();
  private running = true;

  constructor(
    private readonly publishOne: (body: Buffer) => Promise<unknown>,
    private readonly options: {
      window: number;
      payloadBytes: number;
      measuring: () => boolean;
      onClose: () => void;
    },
  ) {
    for (let i = 0; i < options.window; i++) this.send();
  }

  private send(): void {
    if (!this.running) return;
    const body = Buffer.alloc(this.options.payloadBytes, 120);
    const sentAt = now();
    body.writeDoubleLE(sentAt, 0);
    this.inFlight++;
    this.publishOne(body).then(
      () => {
        this.inFlight--;
        this.oks++;
        if (this.options.measuring()) this.latency.recordMicros((now() - sentAt) * 1000);
        this.send();
      },
      (error: unknown) => {
        this.inFlight--;
        this.errors++;
        this.lastError = String(error).slice(0, 300);
        // Not at once: a closed connection rejects synchronously, and an immediate resend would
        // spin on microtasks and starve the event loop (and the cleanup that stops the brokers).
        setTimeout(() => this.send(), RETRY_AFTER_ERROR_MS);
      },
    );
  }

  stop(): void {
    this.running = false;
  }

  close(): void {
    this.stop();
    this.options.onClose();
  }
}

/**
 * A peer's consumer: the client library calls `onDelivery`; `ackBatch` acks
 * a batch the library's way. Batching and counting: bench/lib/batch-acker.ts.
 */
export class PeerConsumer<Handle> extends BatchAcker<Handle> implements LoadConsumer {
  constructor(
    batching: AckBatching,
    private readonly ackBatch: (handles: Handle[]) => void,
    private readonly onClose: () => void,
  ) {
    super(batching);
  }

  onDelivery(body: Uint8Array, redelivered: boolean, handle: Handle): void {
    const sentAtMs =
      this.batching.measuring() && body.length >= 8
        ? Buffer.from(body.buffer, body.byteOffset, 8).readDoubleLE(0)
        : null;
    this.delivered(handle, redelivered, sentAtMs);
  }

  onError(error: unknown): void {
    this.failed(error);
  }

  protected override sendAcks(handles: Handle[]): void {
    try {
      this.ackBatch(handles);
    } catch (error) {
      // A closed channel throws here (amqplib), from a timer: count it, never crash the run.
      this.failed(error);
    }
  }

  close(): void {
    this.stopTimer();
    this.onClose();
  }
}
