import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import type { AckResult, ConsumerSink, QueueConsumer } from "../../broker/queue/queue-ports.ts";
import type { AvisoError } from "../../errors/aviso-error.ts";
import {
  type ConsumeRequest,
  ConsumeRequestSchema,
  type ConsumeResponse,
  type ConsumeSettled,
  type ConsumeSettleSchema,
} from "./gen/aviso/peer/v1/peer_pb.ts";
import type { PeerChannel } from "./peer-channel.ts";
import { deliveryFromWire, errorFromWire } from "./peer-codec.ts";
import { peerUnavailable } from "./peer-status.ts";

/** How long close() waits for the serving node to answer acks sent before it, then cuts the stream. */
const CLOSE_GRACE_MS = 5000;

type Call = ClientDuplexStream<ConsumeRequest, ConsumeResponse>;
type RequestBody = MessageInitShape<typeof ConsumeRequestSchema>["request"];
type SettleBody = MessageInitShape<typeof ConsumeSettleSchema>["settle"];

/** Opens a Consume stream and resolves once the serving node registered the consumer. */
export function consumeRemote(
  channel: PeerChannel,
  queue: string,
  sink: ConsumerSink,
  prefetch: number,
): Promise<QueueConsumer> {
  return new Promise((resolve, reject) => {
    new RemoteConsumer(channel, channel.bidi("consume"), sink, prefetch, resolve, reject).start(queue);
  });
}

/**
 * A push consumer whose engine lives on another node. States: starting →
 * open → closing (we called close(): acks already sent are still answered)
 * → closed. The sink hears `closed` only when the serving node or the link ended
 * it, never after our own close(), as with a local consumer.
 */
class RemoteConsumer implements QueueConsumer {
  private state: "starting" | "open" | "closing" | "closed" = "starting";
  private nextRequestId = 1;
  private readonly settles = new Map<
    number,
    { resolve(result: AckResult): void; reject(error: unknown): void }
  >();
  /** Why the serving node or the link ended the stream; acks after that fail with it. */
  private endedWith: AvisoError | null = null;
  private graceTimer: NodeJS.Timeout | undefined;
  /** We told the serving node to hold deliveries because the sink was busy. */
  private paused = false;
  private unregister: () => void = () => {};
  private outbox: Array<{ settle: SettleBody }> = [];

  constructor(
    private readonly channel: PeerChannel,
    private readonly call: Call,
    private readonly sink: ConsumerSink,
    readonly prefetch: number,
    private readonly started: (consumer: QueueConsumer) => void,
    private readonly failedToStart: (error: AvisoError) => void,
  ) {}

  start(queue: string): void {
    this.unregister = this.channel.registerStream((reason) => this.finish(reason));
    this.call.on("data", (response: ConsumeResponse) => this.onResponse(response));
    this.call.on("error", (error: ServiceError) => this.finish(this.channel.toError(error)));
    // A clean end without `closed` (we half-closed, or the serving node ended it without saying why).
    this.call.on("end", () => this.finish(peerUnavailable(this.channel.peerUrl, "consume stream ended")));
    this.send({ case: "start", value: { queue, prefetch: this.prefetch } });
  }

  ack(ids: readonly string[]): Promise<AckResult> {
    return this.settle(ids, (requestId) => ({ case: "ack", value: { requestId, ids: [...ids] } }));
  }

  nack(ids: readonly string[], delayMs: number): Promise<AckResult> {
    return this.settle(ids, (requestId) => ({ case: "nack", value: { requestId, ids: [...ids], delayMs } }));
  }

  /** The sink drained: let the serving node deliver again. */
  resume(): void {
    if (this.state !== "open" || !this.paused) return;
    this.paused = false;
    this.send({ case: "flow", value: { paused: false } });
  }

  /** Half-closes: the serving node answers the acks already sent, closes the consumer (un-acked messages go back) and ends. */
  close(): void {
    if (this.state !== "open") return;
    this.state = "closing";
    this.flushSettles();
    this.call.end();
    this.graceTimer = setTimeout(() => this.call.cancel(), CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  private settle(ids: readonly string[], request: (requestId: number) => SettleBody): Promise<AckResult> {
    if (this.endedWith !== null) return Promise.reject(this.endedWith);
    // After our own close() the consumer holds nothing any more: every id is stale, as on a local consumer.
    if (this.state !== "open") return Promise.resolve({ acked: 0, stale: [...ids] });
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      this.settles.set(requestId, { resolve, reject });
      this.outbox.push({ settle: request(requestId) });
      if (this.outbox.length === 1) setImmediate(() => this.flushSettles());
    });
  }

  /**
   * The acks and nacks of one loop turn go as one stream message: grpc-js
   * sends and calls back per message, which caps one stream at a few
   * thousand messages/s (bench/peer-link.ts), while a message of many acks
   * costs little more than one.
   */
  private flushSettles(): void {
    if (this.outbox.length === 0 || this.state === "closed") return;
    const settles = this.outbox.splice(0);
    this.send({ case: "settles", value: { settles } });
  }

  private onResponse(response: ConsumeResponse): void {
    const body = response.response;
    switch (body.case) {
      case "started":
        if (this.state === "starting") {
          this.state = "open";
          this.started(this);
        }
        return;
      case "deliveries":
        // After close() deliveries are dropped: the serving node puts them back when it closes the consumer.
        if (this.state !== "open") return;
        this.sink.deliver(body.value.deliveries.map(deliveryFromWire));
        // Carry the sink's backpressure to the serving node, as a local engine would see it.
        if (!this.paused && this.sink.writable?.() === false) {
          this.paused = true;
          this.send({ case: "flow", value: { paused: true } });
        }
        return;
      case "settled":
        for (const settled of body.value.results) this.onSettled(settled);
        return;
      case "closed":
        this.finish(errorFromWire(body.value));
        return;
      case undefined:
        return;
    }
  }

  private onSettled(settled: ConsumeSettled): void {
    const waiter = this.settles.get(settled.requestId);
    if (waiter === undefined) return;
    this.settles.delete(settled.requestId);
    if (settled.error !== undefined) waiter.reject(errorFromWire(settled.error));
    else waiter.resolve({ acked: settled.acked, stale: settled.stale });
  }

  /** The stream is over; `reason` says why unless we closed it ourselves. */
  private finish(reason: AvisoError): void {
    if (this.state === "closed") return;
    const previous = this.state;
    this.state = "closed";
    this.unregister();
    clearTimeout(this.graceTimer);
    for (const waiter of this.settles.values()) waiter.reject(reason);
    this.settles.clear();
    this.outbox = [];
    if (previous === "closing") return;
    this.endedWith = reason;
    if (previous === "starting") this.failedToStart(reason);
    else this.sink.closed(reason);
    // The serving node may still think the stream is open (e.g. it sent `closed` and we never half-closed).
    this.call.cancel();
  }

  private send(request: RequestBody): void {
    if (this.call.writable) this.call.write(create(ConsumeRequestSchema, { request }));
  }
}
