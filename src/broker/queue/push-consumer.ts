import type { AckResult, ConsumerSink, QueueConsumer } from "./queue-ports.ts";

/** What a push consumer asks of its queue's engine. */
export interface ConsumerHost {
  ackPushed(consumer: PushConsumer, ids: readonly string[], settle: "ack" | number): Promise<AckResult>;
  resumeConsumer(): void;
  removeConsumer(consumer: PushConsumer): void;
}

/** A push consumer registered with a queue engine: its sink, its prefetch and what it holds. */
export class PushConsumer implements QueueConsumer {
  /** Seqs delivered to it and not yet settled; never more than `prefetch`. */
  readonly inFlight = new Set<number>();
  private closed = false;

  constructor(
    private readonly host: ConsumerHost,
    readonly sink: ConsumerSink,
    readonly prefetch: number,
  ) {}

  /** Has credit and a transport that takes more. */
  get ready(): boolean {
    return this.inFlight.size < this.prefetch && this.sink.writable?.() !== false;
  }

  ack(ids: readonly string[]): Promise<AckResult> {
    return this.host.ackPushed(this, ids, "ack");
  }

  nack(ids: readonly string[], delayMs: number): Promise<AckResult> {
    return this.host.ackPushed(this, ids, delayMs);
  }

  resume(): void {
    if (!this.closed) this.host.resumeConsumer();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.host.removeConsumer(this);
  }
}

/** The push consumers of a queue, served round-robin among those ready for more. */
export class ConsumerRing {
  private readonly consumers: PushConsumer[] = [];
  private next = 0;
  /** Index of the consumer `nextReady` last returned. */
  private offered = 0;

  get size(): number {
    return this.consumers.length;
  }

  add(consumer: PushConsumer): void {
    this.consumers.push(consumer);
  }

  remove(consumer: PushConsumer): void {
    const index = this.consumers.indexOf(consumer);
    if (index >= 0) this.consumers.splice(index, 1);
  }

  removeAll(): PushConsumer[] {
    return this.consumers.splice(0);
  }

  /**
   * The next consumer, after the last one served, that has credit and a
   * writable transport. Its turn is used only once `served` says it got a
   * message: a pass with nothing to deliver must not move the turn on, or
   * one-at-a-time traffic would keep landing on the same consumer.
   */
  nextReady(): PushConsumer | undefined {
    const count = this.consumers.length;
    for (let i = 0; i < count; i += 1) {
      const consumer = this.consumers[(this.next + i) % count] as PushConsumer;
      if (consumer.ready) {
        this.offered = (this.next + i) % count;
        return consumer;
      }
    }
    return undefined;
  }

  /** The consumer `nextReady` just offered got a message: the turn passes to the one after it. */
  served(): void {
    this.next = (this.offered + 1) % this.consumers.length;
  }
}
