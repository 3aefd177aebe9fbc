import type { Principal } from "../../app/context.ts";
import type { AckResult, ConsumerSink, Delivery, QueueConsumer } from "../../broker/queue/queue-ports.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { deliveryFields } from "../wire.ts";
import { endedFrame } from "./frames.ts";
import type { SessionSubscription, WsSession } from "./session.ts";

const REATTACH_DELAY_MS = 250;
const REATTACH_GIVE_UP_MS = 60_000;

/**
 * A push subscription to a queue on one socket. Deliveries become
 * `message` frames; the client acks by id. Until the `ok` reply is sent,
 * deliveries wait, so the client always learns the subscription id first.
 */
export class QueueSubscription implements SessionSubscription {
  readonly kind = "queue";
  private consumer: QueueConsumer | null = null;
  private announced = false;
  private held: Delivery[] = [];
  /** Frames delivered by the engine that wait for the socket to drain (bounded by prefetch). */
  private outbox: string[] = [];
  private closing = false;
  /** Which attach() the current consumer came from; deliveries of earlier ones are stale. */
  private attachment = 0;
  private readonly prefix: string;
  private readonly stopDrainListener: () => void;

  constructor(
    private readonly session: WsSession,
    readonly id: string,
    readonly queue: string,
    private readonly prefetch: number,
    private readonly principal: Principal,
  ) {
    this.prefix = `{"op":"message","sub":${JSON.stringify(id)},"queue":${JSON.stringify(queue)},`;
    this.stopDrainListener = session.onDrain(() => this.flush(true));
  }

  async attach(): Promise<void> {
    const attachment = ++this.attachment;
    // Each attachment has its own sink: once it is closed or replaced, what its engine or peer
    // stream still sends (a stale serving node's frames flushed late, after a pause) is dropped.
    // Those messages are the stale node's in-flight deliveries; the current one redelivers them.
    const current = () => attachment === this.attachment;
    const sink: ConsumerSink = {
      deliver: (deliveries) => {
        if (current()) this.deliver(deliveries);
      },
      writable: () => this.writable(),
      closed: (reason) => {
        if (current()) this.closed(reason);
      },
    };
    const consumer = await this.session.deps.services.queues.consume(
      this.principal,
      this.queue,
      sink,
      this.prefetch,
    );
    if (this.closing || !current()) {
      consumer.close();
      return;
    }
    this.consumer = consumer;
  }

  /** The ok reply went out: release what arrived meanwhile. */
  announce(): void {
    this.announced = true;
    const held = this.held;
    this.held = [];
    if (held.length > 0) this.deliver(held);
  }

  deliver(deliveries: Delivery[]): void {
    if (this.closing) return;
    if (!this.announced) {
      this.held.push(...deliveries);
      return;
    }
    this.outbox.push(...deliveries.map((delivery) => `${this.prefix}${deliveryFields(delivery)}}`));
    this.flush(false);
  }

  /** The engine gives this consumer nothing new while earlier deliveries still wait for the socket. */
  writable(): boolean {
    return this.outbox.length === 0 && this.session.writable;
  }

  /** Sends what the socket takes; after a drain, asks the engine for more once all is out. */
  private flush(drained: boolean): void {
    if (this.closing) return;
    if (this.outbox.length > 0) {
      const sent = this.session.sendWhileWritable(this.outbox);
      this.outbox = sent === this.outbox.length ? [] : this.outbox.slice(sent);
    }
    if (drained && this.writable()) this.consumer?.resume();
  }

  closed(reason: AvisoError): void {
    if (this.closing) return;
    this.consumer = null;
    this.attachment += 1;
    // A transient failure (the serving node moved, the store blinked): the queue still exists, attach again.
    if (reason.retry !== "never") {
      void this.reattach(this.session.deps.clock.now() + REATTACH_GIVE_UP_MS, reason);
      return;
    }
    this.end(reason);
  }

  ack(ids: readonly string[]): Promise<AckResult> {
    return this.requireConsumer().ack(ids);
  }

  nack(ids: readonly string[], delayMs: number): Promise<AckResult> {
    return this.requireConsumer().nack(ids, delayMs);
  }

  close(): void {
    this.closing = true;
    this.outbox = [];
    this.stopDrainListener();
    this.consumer?.close();
    this.consumer = null;
  }

  private requireConsumer(): QueueConsumer {
    if (this.consumer === null) {
      throw new AvisoError(
        "OWNER_UNAVAILABLE",
        "The subscription is re-attaching to the node serving the queue; retry.",
      );
    }
    return this.consumer;
  }

  private end(reason: AvisoError): void {
    this.closing = true;
    this.outbox = [];
    this.stopDrainListener();
    this.session.forgetSubscription(this.id);
    this.session.send(endedFrame(this.id, reason));
  }

  /** The serving node went away: attach to the new one; its un-acked messages are redelivered (at-least-once). */
  private async reattach(giveUpAt: number, lastReason: AvisoError): Promise<void> {
    const { clock } = this.session.deps;
    let reason = lastReason;
    while (!this.closing && this.session.isOpen && clock.now() < giveUpAt) {
      await new Promise<void>((resolve) => clock.setTimer(REATTACH_DELAY_MS, resolve));
      if (this.closing) return;
      try {
        await this.attach();
        return;
      } catch (error) {
        reason = AvisoError.from(error);
        if (reason.retry === "never") break;
      }
    }
    if (!this.closing) this.end(reason);
  }
}
