import { create } from "@bufbuild/protobuf";
import type { Delivery as DomainDelivery, QueuePublishInput } from "../../broker/queue/queue-ports.ts";
import type { TopicPublishInput } from "../../broker/topic/topic-ports.ts";
import type { ResourceKind as DomainKind, TopicMessage as DomainTopicMessage } from "../../broker/types.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { type Reason, reasons } from "../../errors/reasons.ts";
import {
  type Delivery,
  DeliverySchema,
  type PeerError,
  PeerErrorSchema,
  type PublishInput,
  PublishInputSchema,
  ResourceKind,
  type TopicMessage,
  TopicMessageSchema,
} from "./gen/aviso/peer/v1/peer_pb.ts";

/**
 * Domain values ⇄ peer messages. JSON text passes through untouched; int64
 * fields are bigint in protobuf-es and numbers in the domain (Aviso's offsets
 * and times stay below 2^53).
 */

export function kindToWire(kind: DomainKind): ResourceKind {
  return kind === "queue" ? ResourceKind.QUEUE : ResourceKind.TOPIC;
}

export function kindFromWire(kind: ResourceKind): DomainKind | undefined {
  if (kind === ResourceKind.QUEUE) return "queue";
  if (kind === ResourceKind.TOPIC) return "topic";
  return undefined;
}

export function queueInputToWire(input: QueuePublishInput): PublishInput {
  return create(PublishInputSchema, {
    payloadJson: input.payload,
    headersJson: input.headers ?? undefined,
    delayMs: input.delayMs,
    idempotencyKey: input.idempotencyKey,
    publisher: input.publisher,
  });
}

export function topicInputToWire(input: TopicPublishInput): PublishInput {
  return create(PublishInputSchema, {
    payloadJson: input.payload,
    headersJson: input.headers ?? undefined,
    key: input.key,
    idempotencyKey: input.idempotencyKey,
  });
}

export function queueInputFromWire(input: PublishInput): QueuePublishInput {
  const result: QueuePublishInput = {
    payload: input.payloadJson,
    headers: input.headersJson ?? null,
    delayMs: input.delayMs,
  };
  if (input.idempotencyKey !== undefined) result.idempotencyKey = input.idempotencyKey;
  if (input.publisher !== undefined) result.publisher = input.publisher;
  return result;
}

export function topicInputFromWire(input: PublishInput): TopicPublishInput {
  const result: TopicPublishInput = {
    key: input.key,
    payload: input.payloadJson,
    headers: input.headersJson ?? null,
  };
  if (input.idempotencyKey !== undefined) result.idempotencyKey = input.idempotencyKey;
  return result;
}

export function deliveryToWire(delivery: DomainDelivery): Delivery {
  return create(DeliverySchema, {
    id: delivery.id,
    payloadJson: delivery.payload,
    headersJson: delivery.headers ?? undefined,
    publishedAt: BigInt(delivery.publishedAt),
    deliveries: delivery.deliveries,
    receipt: delivery.receipt,
  });
}

export function deliveryFromWire(delivery: Delivery): DomainDelivery {
  return {
    id: delivery.id,
    payload: delivery.payloadJson,
    headers: delivery.headersJson ?? null,
    publishedAt: Number(delivery.publishedAt),
    deliveries: delivery.deliveries,
    receipt: delivery.receipt,
  };
}

export function topicMessageToWire(message: DomainTopicMessage): TopicMessage {
  return create(TopicMessageSchema, {
    offset: BigInt(message.offset),
    key: message.key,
    payloadJson: message.payload,
    headersJson: message.headers ?? undefined,
    publishedAt: BigInt(message.publishedAt),
  });
}

export function topicMessageFromWire(message: TopicMessage): DomainTopicMessage {
  return {
    offset: Number(message.offset),
    key: message.key,
    payload: message.payloadJson,
    headers: message.headersJson ?? null,
    publishedAt: Number(message.publishedAt),
  };
}

export function isReason(value: string): value is Reason {
  return Object.hasOwn(reasons, value);
}

export function errorToWire(thrown: unknown): PeerError {
  const error = AvisoError.from(thrown);
  return create(PeerErrorSchema, {
    reason: error.reason,
    message: error.message,
    detailsJson: error.details === undefined ? undefined : JSON.stringify(error.details),
  });
}

/** A reason this node does not know (a newer peer) still fails, as INTERNAL with the text kept. */
export function errorFromWire(error: PeerError | undefined): AvisoError {
  if (error === undefined) return new AvisoError("INTERNAL", "The peer sent an error without a reason.");
  return avisoErrorOf(error.reason, error.message, error.detailsJson);
}

export function avisoErrorOf(reason: string, message: string, detailsJson: string | undefined): AvisoError {
  if (!isReason(reason)) return new AvisoError("INTERNAL", `${reason}: ${message}`);
  return new AvisoError(reason, message, { details: parseDetails(detailsJson) });
}

function parseDetails(json: string | undefined): Record<string, unknown> | undefined {
  if (json === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(json);
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Splits messages into runs of at most `maxBytes` of payload, headers and
 * key (a bigger message goes alone), so no reply or stream message nears the
 * transport's size limit whatever the configured payload limit.
 */
export function chunksByBytes<M extends { payload: string; headers: string | null; key: string }>(
  messages: readonly M[],
  maxBytes: number,
): M[][] {
  const chunks: M[][] = [];
  let chunk: M[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = message.payload.length + (message.headers?.length ?? 0) + message.key.length;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(message);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
