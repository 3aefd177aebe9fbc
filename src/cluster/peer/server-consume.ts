import { create } from "@bufbuild/protobuf";
import type { handleBidiStreamingCall, ServerDuplexStream } from "@grpc/grpc-js";
import type { ServingNodes } from "../../app/serving-nodes.ts";
import type { Delivery, QueueConsumer } from "../../broker/queue/queue-ports.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import {
  type ConsumeAck,
  type ConsumeNack,
  type ConsumeRequest,
  type ConsumeResponse,
  ConsumeResponseSchema,
  type ConsumeSettled,
  ConsumeSettledSchema,
} from "./gen/aviso/peer/v1/peer_pb.ts";
import { deliveryToWire, errorToWire } from "./peer-codec.ts";
import { toServiceError } from "./peer-status.ts";
import type { ReportInternal } from "./server-unary.ts";

type Call = ServerDuplexStream<ConsumeRequest, ConsumeResponse>;

/** Serves the Consume stream: one push consumer on the serving node per stream. */
export function consumeHandler(
  servingNodes: ServingNodes,
  reportInternal: ReportInternal,
  openStreams: Set<(reason: AvisoError) => void>,
): handleBidiStreamingCall<ConsumeRequest, ConsumeResponse> {
  return (call) => {
    const session = new ConsumeSession(call, servingNodes, reportInternal);
    const shutdown = (reason: AvisoError) => session.shutdown(reason);
    openStreams.add(shutdown);
    session.listen(() => openStreams.delete(shutdown));
  };
}

/**
 * States: waiting for `start` → starting (serving node registering the consumer) →
 * open → ending (client half-closed: answer the acks already sent, then
 * close) → done. Whatever way the stream finishes, the consumer is closed
 * on the serving node, which puts its un-acked messages back at once.
 */
class ConsumeSession {
  private state: "waiting" | "starting" | "open" | "ending" | "done" = "waiting";
  private consumer: QueueConsumer | null = null;
  /** Deliveries pushed before `started` was written; `started` always goes first. */
  private held: Delivery[][] = [];
  private readonly settling = new Set<Promise<void>>();
  private answers: ConsumeSettled[] = [];
  private onDone: () => void = () => {};
  /** The holder's sockets are busy (ConsumeFlow). */
  private pausedByPeer = false;

  constructor(
    private readonly call: Call,
    private readonly servingNodes: ServingNodes,
    private readonly reportInternal: ReportInternal,
  ) {}

  listen(onDone: () => void): void {
    this.onDone = onDone;
    this.call.on("data", (request: ConsumeRequest) => this.onRequest(request));
    this.call.on("end", () => void this.onHalfClose());
    this.call.on("drain", () => this.consumer?.resume());
    // Cancel, deadline, connection lost: nobody is listening any more.
    this.call.on("cancelled", () => this.abandon());
    this.call.on("error", () => this.abandon());
  }

  private onRequest(request: ConsumeRequest): void {
    const body = request.request;
    switch (body.case) {
      case "start":
        this.start(body.value.queue, body.value.prefetch);
        return;
      case "settles":
        for (const { settle } of body.value.settles) {
          if (settle.case === "ack") this.settle(settle.value, (consumer) => consumer.ack(settle.value.ids));
          else if (settle.case === "nack") {
            this.settle(settle.value, (consumer) => consumer.nack(settle.value.ids, settle.value.delayMs));
          }
        }
        return;
      case "flow":
        this.pausedByPeer = body.value.paused;
        if (!this.pausedByPeer) this.consumer?.resume();
        return;
      case undefined:
        this.fail(new AvisoError("VALIDATION_FAILED", "Empty Consume request."));
        return;
    }
  }

  private start(queue: string, prefetch: number): void {
    if (this.state !== "waiting") {
      this.fail(new AvisoError("VALIDATION_FAILED", "Consume `start` must be sent once, first."));
      return;
    }
    if (prefetch < 1) {
      this.fail(new AvisoError("VALIDATION_FAILED", "prefetch must be at least 1."));
      return;
    }
    this.state = "starting";
    const sink = {
      deliver: (deliveries: Delivery[]) => this.deliver(deliveries),
      // Nothing new while the holder asked for a pause or the stream's buffer is full.
      writable: () => !this.pausedByPeer && !this.call.writableNeedDrain,
      closed: (reason: AvisoError) => this.closedByServingNode(reason),
    };
    this.servingNodes.queues.consume(queue, sink, prefetch).then(
      (consumer) => {
        if (this.state !== "starting") {
          // The stream finished while the serving node was registering us.
          consumer.close();
          if (this.state === "ending") this.finish();
          return;
        }
        this.consumer = consumer;
        this.state = "open";
        this.write(create(ConsumeResponseSchema, { response: { case: "started", value: {} } }));
        for (const deliveries of this.held.splice(0)) this.deliver(deliveries);
      },
      (error: unknown) => this.fail(error),
    );
  }

  private deliver(deliveries: Delivery[]): void {
    if (this.state === "starting") this.held.push(deliveries);
    else if (this.state === "open" || this.state === "ending") {
      this.write(
        create(ConsumeResponseSchema, {
          response: { case: "deliveries", value: { deliveries: deliveries.map(deliveryToWire) } },
        }),
      );
    }
  }

  private settle(
    request: ConsumeAck | ConsumeNack,
    apply: (consumer: QueueConsumer) => Promise<{ acked: number; stale: string[] }>,
  ): void {
    const { requestId, ids } = request;
    if (this.state === "waiting") {
      this.fail(new AvisoError("VALIDATION_FAILED", "Consume `start` must come first."));
      return;
    }
    const consumer = this.consumer;
    // No consumer yet: nothing can have been delivered, so every id is stale.
    const applied = consumer === null ? Promise.resolve({ acked: 0, stale: [...ids] }) : apply(consumer);
    const answered = applied.then(
      (result) => this.answer(create(ConsumeSettledSchema, { requestId, ...result })),
      (error: unknown) => {
        if (!(error instanceof AvisoError)) this.reportInternal("peer consume ack", error);
        this.answer(create(ConsumeSettledSchema, { requestId, error: errorToWire(error) }));
      },
    );
    this.settling.add(answered);
    void answered.finally(() => this.settling.delete(answered));
  }

  /** Answers ready in the same tick (one group commit settles many) go out as one message. */
  private answer(settled: ConsumeSettled): void {
    this.answers.push(settled);
    if (this.answers.length === 1) setImmediate(() => this.flushAnswers());
  }

  private flushAnswers(): void {
    if (this.answers.length === 0) return;
    const results = this.answers.splice(0);
    this.write(create(ConsumeResponseSchema, { response: { case: "settled", value: { results } } }));
  }

  /** The server is closing: the consumer ends here and the peer is told why. */
  shutdown(reason: AvisoError): void {
    if (this.state === "done") return;
    this.flushAnswers();
    this.write(create(ConsumeResponseSchema, { response: { case: "closed", value: errorToWire(reason) } }));
    this.finish();
  }

  private closedByServingNode(reason: AvisoError): void {
    // The serving node already dropped the consumer; nothing to close.
    this.consumer = null;
    this.shutdown(reason);
  }

  private async onHalfClose(): Promise<void> {
    if (this.state === "done") return;
    const starting = this.state === "starting";
    this.state = "ending";
    if (starting) return; // finish() runs once the serving node answers start
    await Promise.allSettled([...this.settling]);
    this.flushAnswers();
    this.finish();
  }

  private finish(): void {
    if (this.abandon()) this.call.end();
  }

  /** Closes the consumer on the serving node, once; false if the session was already done. */
  private abandon(): boolean {
    if (this.state === "done") return false;
    this.state = "done";
    this.consumer?.close();
    this.consumer = null;
    this.held = [];
    this.onDone();
    return true;
  }

  private fail(error: unknown): void {
    if (!(error instanceof AvisoError)) this.reportInternal("peer consume", error);
    if (this.abandon()) this.call.emit("error", toServiceError(error));
  }

  private write(response: ConsumeResponse): void {
    if (this.state === "done" || this.call.cancelled) return;
    this.call.write(response);
  }
}
