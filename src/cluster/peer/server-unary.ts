import { create } from "@bufbuild/protobuf";
import type { handleUnaryCall, ServerUnaryCall } from "@grpc/grpc-js";
import type { ServingNodes } from "../../app/serving-nodes.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import {
  NotifyResponseSchema,
  PublishBatchResponseSchema,
  type PublishEntry,
  type PublishResult,
  PublishResultSchema,
  ReadTopicResponseSchema,
  ReceiveResponseSchema,
  ResourceKind,
  SettleAction,
  SettleResponseSchema,
  StatsResponseSchema,
  TopicHeadResponseSchema,
} from "./gen/aviso/peer/v1/peer_pb.ts";
import {
  avisoErrorOf,
  chunksByBytes,
  deliveryToWire,
  errorToWire,
  kindFromWire,
  queueInputFromWire,
  topicInputFromWire,
  topicMessageToWire,
} from "./peer-codec.ts";
import { MAX_REPLY_BYTES, type RequestOf, type ResponseOf, type UnaryPeerMethod } from "./peer-definition.ts";
import { toServiceError } from "./peer-status.ts";
import type { PeerEvent, PeerHandler } from "./peer-types.ts";

/** Most topic messages one ReadTopic answers, whatever the caller asks: keeps replies far below the message size limit. */
const MAX_READ_LIMIT = 10_000;

export type UnaryHandlers = { [M in UnaryPeerMethod]: handleUnaryCall<RequestOf<M>, ResponseOf<M>> };

/** Reports failures that are not a deliberate AvisoError (bugs, broken stores) to the log. */
export type ReportInternal = (context: string, error: unknown) => void;

export function unaryHandlers(handler: PeerHandler, reportInternal: ReportInternal): UnaryHandlers {
  const { servingNodes } = handler;
  const unary =
    <M extends UnaryPeerMethod>(
      name: M,
      run: (
        request: RequestOf<M>,
        call: ServerUnaryCall<RequestOf<M>, ResponseOf<M>>,
      ) => Promise<ResponseOf<M>>,
    ): handleUnaryCall<RequestOf<M>, ResponseOf<M>> =>
    (call, callback) => {
      run(call.request, call).then(
        (response) => callback(null, response),
        (error: unknown) => {
          if (!(error instanceof AvisoError) || error.reason === "INTERNAL")
            reportInternal(`peer ${name}`, error);
          callback(toServiceError(error));
        },
      );
    };

  return {
    publishBatch: unary("publishBatch", async (request) => {
      // Every entry's publish starts in this tick and in request order, so
      // per-destination order survives the trip (see PublishBatcher).
      const results = request.entries.map((entry) => publishEntry(servingNodes, entry));
      return create(PublishBatchResponseSchema, { results: await Promise.all(results) });
    }),

    receive: unary("receive", async (request, call) => {
      // A cancelled call (client gone, deadline) stops the wait on the serving node.
      const abort = new AbortController();
      const onCancelled = () => abort.abort();
      call.once("cancelled", onCancelled);
      try {
        const deliveries = await servingNodes.queues.receive(
          request.queue,
          {
            max: request.max,
            waitMs: request.waitMs,
            ackTimeoutMs: request.ackTimeoutMs,
            ...(request.maxBytes === undefined ? {} : { maxBytes: request.maxBytes }),
          },
          abort.signal,
        );
        return create(ReceiveResponseSchema, { deliveries: deliveries.map(deliveryToWire) });
      } finally {
        call.off("cancelled", onCancelled);
      }
    }),

    settle: unary("settle", async (request) => {
      let result: { acked: number; stale: string[] };
      if (request.action === SettleAction.ACK) {
        result = await servingNodes.queues.ack(request.queue, request.receipts);
      } else if (request.action === SettleAction.NACK) {
        result = await servingNodes.queues.nack(request.queue, request.receipts, request.delayMs);
      } else {
        throw new AvisoError("VALIDATION_FAILED", "Settle needs action ACK or NACK.");
      }
      return create(SettleResponseSchema, result);
    }),

    stats: unary("stats", async (request) => {
      const stats = await servingNodes.queues.stats(request.queue);
      return create(StatsResponseSchema, { stats });
    }),

    topicHead: unary("topicHead", async (request) => {
      const head = await servingNodes.topics.head(request.topic);
      return create(TopicHeadResponseSchema, {
        nextOffset: BigInt(head.nextOffset),
        firstOffset: BigInt(head.firstOffset),
      });
    }),

    readTopic: unary("readTopic", async (request) => {
      const feed = await servingNodes.topics.feed(request.topic);
      const messages = await feed.read(Number(request.fromOffset), Math.min(request.limit, MAX_READ_LIMIT));
      // A short page is fine: readers go on from the last offset they got.
      const page = chunksByBytes(messages, MAX_REPLY_BYTES)[0] ?? [];
      return create(ReadTopicResponseSchema, { messages: page.map(topicMessageToWire) });
    }),

    notify: unary("notify", async (request) => {
      await handler.notify(peerEventFromWire(request));
      return create(NotifyResponseSchema);
    }),
  };
}

/** Starts one entry's publish now; its failure comes back inside the result, never as a rejection. */
export function publishEntry(servingNodes: ServingNodes, entry: PublishEntry): Promise<PublishResult> {
  const failed = (error: unknown): PublishResult =>
    create(PublishResultSchema, { outcome: { case: "error", value: errorToWire(error) } });
  try {
    if (entry.kind === ResourceKind.QUEUE) {
      return servingNodes.queues
        .publish(entry.name, entry.inputs.map(queueInputFromWire))
        .then((ids) => create(PublishResultSchema, { outcome: { case: "ids", value: { ids } } }), failed);
    }
    if (entry.kind === ResourceKind.TOPIC) {
      return servingNodes.topics.publish(entry.name, entry.inputs.map(topicInputFromWire)).then(
        (offsets) =>
          create(PublishResultSchema, {
            outcome: { case: "offsets", value: { offsets: offsets.map((offset) => BigInt(offset)) } },
          }),
        failed,
      );
    }
    return Promise.resolve(
      failed(new AvisoError("VALIDATION_FAILED", "A publish entry needs kind QUEUE or TOPIC.")),
    );
  } catch (error) {
    return Promise.resolve(failed(error));
  }
}

function peerEventFromWire(request: RequestOf<"notify">): PeerEvent {
  const event = request.event;
  switch (event.case) {
    case "changed": {
      const kind = kindFromWire(event.value.kind);
      if (kind === undefined) break;
      return { type: "changed", kind, name: event.value.name };
    }
    case "userRevoked":
      return { type: "userRevoked", username: event.value.username };
    case "bindingCreated":
      return { type: "bindingCreated", topic: event.value.topic, queue: event.value.queue };
    case "bindingRemoved":
      return { type: "bindingRemoved", topic: event.value.topic, queue: event.value.queue };
    case "release": {
      const kind = kindFromWire(event.value.kind);
      if (kind === undefined) break;
      const reason = event.value.reason;
      return {
        type: "release",
        kind,
        name: event.value.name,
        reason:
          reason === undefined
            ? new AvisoError("OWNER_UNAVAILABLE", `The ${kind} moved.`)
            : avisoErrorOf(reason.reason, reason.message, reason.detailsJson),
      };
    }
    case undefined:
      break;
  }
  throw new AvisoError("VALIDATION_FAILED", "Notify carries no event this node understands.");
}
