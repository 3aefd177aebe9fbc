import { create } from "@bufbuild/protobuf";
import type { ServedQueues, ServedTopics } from "../../app/serving-nodes.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import {
  NotifyRequestSchema,
  type PublishResult,
  ReceiveRequestSchema,
  ResourceKind,
  SettleAction,
  SettleRequestSchema,
  StatsRequestSchema,
  TopicHeadRequestSchema,
} from "./gen/aviso/peer/v1/peer_pb.ts";
import { PeerChannel, type PeerChannelOptions } from "./peer-channel.ts";
import {
  deliveryFromWire,
  errorFromWire,
  errorToWire,
  kindToWire,
  queueInputToWire,
  topicInputToWire,
} from "./peer-codec.ts";
import type { PeerEvent } from "./peer-types.ts";
import { PublishBatcher } from "./publish-batcher.ts";
import { PublishStream } from "./publish-stream.ts";
import { consumeRemote } from "./remote-consumer.ts";
import { openRemoteFeed, type RemoteTopicFeed } from "./remote-topic-feed.ts";

export type PeerClientOptions = PeerChannelOptions;

export interface RemoteServedTopics extends ServedTopics {
  /**
   * Streams the topic's committed log from the node serving it. Without `fromOffset`,
   * live from the serving node's head; with it, history from there, then live — how
   * a holder resumes on a new serving node without a gap: pass the old feed's
   * nextOffset().
   */
  feed(topic: string, fromOffset?: number): Promise<RemoteTopicFeed>;
}

/** The serving side of another node, reached over the peer link. */
export interface PeerClient {
  readonly peerUrl: string;
  readonly queues: ServedQueues;
  readonly topics: RemoteServedTopics;
  notify(event: PeerEvent): Promise<void>;
  /**
   * Cuts every call to the peer. Open feeds and consumers end with `reason`
   * (their listeners and sinks are told), pending calls fail with it.
   */
  close(reason?: AvisoError): void;
}

/**
 * Creates the client for one peer. Errors the serving node reports come back as the
 * same AvisoError (reason, message, details); link failures (peer down,
 * reset, deadline, refused secret) as OWNER_UNAVAILABLE.
 */
export function createPeerClient(options: PeerClientOptions): PeerClient {
  const channel = new PeerChannel(options);
  const publishStream = new PublishStream(channel);
  const batcher = new PublishBatcher(
    (entries) => publishStream.send(entries),
    () => channel.closedReason,
  );

  const queues: ServedQueues = {
    async publish(queue, inputs) {
      const result = await batcher.publish(ResourceKind.QUEUE, queue, inputs.map(queueInputToWire));
      return publishedIds(result);
    },
    async receive(queue, request, signal) {
      try {
        const response = await channel.unary(
          "receive",
          create(ReceiveRequestSchema, {
            queue,
            max: request.max,
            waitMs: request.waitMs,
            ackTimeoutMs: request.ackTimeoutMs,
            maxBytes: request.maxBytes,
          }),
          { extraMs: request.waitMs, signal },
        );
        return response.deliveries.map(deliveryFromWire);
      } catch (error) {
        // As on the serving node: a receive whose caller gave up answers nothing.
        if (signal?.aborted === true) return [];
        throw error;
      }
    },
    async ack(queue, receipts) {
      const response = await channel.unary(
        "settle",
        create(SettleRequestSchema, { queue, receipts, action: SettleAction.ACK }),
      );
      return { acked: response.acked, stale: response.stale };
    },
    async nack(queue, receipts, delayMs) {
      const response = await channel.unary(
        "settle",
        create(SettleRequestSchema, { queue, receipts, action: SettleAction.NACK, delayMs }),
      );
      return { acked: response.acked, stale: response.stale };
    },
    consume: (queue, sink, prefetch) => {
      const closed = channel.closedReason;
      return closed === null ? consumeRemote(channel, queue, sink, prefetch) : Promise.reject(closed);
    },
    async stats(queue) {
      const response = await channel.unary("stats", create(StatsRequestSchema, { queue }));
      if (response.stats === undefined) return undefined;
      const { depth, ready, delayed, inFlight, consumers } = response.stats;
      return { depth, ready, delayed, inFlight, consumers };
    },
  };

  const topics: RemoteServedTopics = {
    async publish(topic, inputs) {
      const result = await batcher.publish(ResourceKind.TOPIC, topic, inputs.map(topicInputToWire));
      return publishedOffsets(result);
    },
    async head(topic) {
      const response = await channel.unary("topicHead", create(TopicHeadRequestSchema, { topic }));
      return { nextOffset: Number(response.nextOffset), firstOffset: Number(response.firstOffset) };
    },
    feed(topic, fromOffset) {
      const closed = channel.closedReason;
      return closed === null ? openRemoteFeed(channel, topic, fromOffset) : Promise.reject(closed);
    },
  };

  return {
    peerUrl: options.peerUrl,
    queues,
    topics,
    async notify(event) {
      await channel.unary("notify", notifyRequest(event));
    },
    close(reason) {
      if (channel.closedReason === null) batcher.failPending(channel.close(reason));
    },
  };
}

function publishedIds(result: PublishResult): string[] {
  if (result.outcome.case === "ids") return result.outcome.value.ids;
  throw failure(result, "ids");
}

function publishedOffsets(result: PublishResult): number[] {
  if (result.outcome.case === "offsets") return result.outcome.value.offsets.map(Number);
  throw failure(result, "offsets");
}

function failure(result: PublishResult, expected: string): AvisoError {
  const body = result.outcome;
  if (body.case === "error") return errorFromWire(body.value);
  return new AvisoError(
    "INTERNAL",
    `PublishBatch answered ${body.case ?? "nothing"} where ${expected} were due.`,
  );
}

function notifyRequest(event: PeerEvent) {
  switch (event.type) {
    case "changed":
      return create(NotifyRequestSchema, {
        event: { case: "changed", value: { kind: kindToWire(event.kind), name: event.name } },
      });
    case "userRevoked":
      return create(NotifyRequestSchema, {
        event: { case: "userRevoked", value: { username: event.username } },
      });
    case "bindingCreated":
      return create(NotifyRequestSchema, {
        event: { case: "bindingCreated", value: { topic: event.topic, queue: event.queue } },
      });
    case "bindingRemoved":
      return create(NotifyRequestSchema, {
        event: { case: "bindingRemoved", value: { topic: event.topic, queue: event.queue } },
      });
    case "release":
      return create(NotifyRequestSchema, {
        event: {
          case: "release",
          value: { kind: kindToWire(event.kind), name: event.name, reason: errorToWire(event.reason) },
        },
      });
  }
}
