import type { ConsumerSink, Delivery } from "../../src/broker/queue/queue-ports.ts";
import type { AvisoError } from "../../src/errors/aviso-error.ts";

/** A push consumer's transport that keeps what it was given, and why it was closed. */
export class RecordingSink implements ConsumerSink {
  readonly received: Delivery[] = [];
  closedWith: AvisoError | null = null;
  deliver(deliveries: Delivery[]): void {
    this.received.push(...deliveries);
  }
  closed(reason: AvisoError): void {
    this.closedWith = reason;
  }
}
