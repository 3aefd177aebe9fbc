import { type Static, Type } from "@sinclair/typebox";
import { MAX_KEY_LENGTH } from "../../broker/pattern.ts";
import type { ReplayInfo } from "../../broker/topic/topic-fanout.ts";
import type { AvisoError } from "../../errors/aviso-error.ts";
import { NackBody, NameSchema, QueueMessageBody, TopicMessageBody } from "../schemas.ts";

/**
 * Client → server frames of /v1/ws (docs/protocol.md). One JSON object per
 * text frame, field `op`. Names, messages and bounds are the REST schemas'
 * (src/edge/schemas.ts): a frame adds only its op, request id and addressing.
 */

const closed = { additionalProperties: false } as const;
const RequestId = Type.Union([Type.String({ maxLength: 100 }), Type.Integer()], {
  description: "Echoed in the reply.",
});
const Ids = Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { minItems: 1, maxItems: 10_000 });
const SubId = Type.String({ minLength: 1, maxLength: 100 });

export const clientFrameSchemas = {
  auth: Type.Object(
    { op: Type.Literal("auth"), id: Type.Optional(RequestId), token: Type.String({ minLength: 1 }) },
    closed,
  ),
  subscribeQueue: Type.Object(
    {
      op: Type.Literal("subscribe"),
      id: RequestId,
      queue: NameSchema,
      prefetch: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    closed,
  ),
  subscribeTopic: Type.Object(
    {
      op: Type.Literal("subscribe"),
      id: RequestId,
      topic: NameSchema,
      pattern: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_KEY_LENGTH })),
      from: Type.Optional(
        Type.Union([Type.Literal("latest"), Type.Literal("earliest"), Type.Integer({ minimum: 0 })]),
      ),
    },
    closed,
  ),
  unsubscribe: Type.Object(
    { op: Type.Literal("unsubscribe"), id: Type.Optional(RequestId), sub: SubId },
    closed,
  ),
  ack: Type.Object({ op: Type.Literal("ack"), id: Type.Optional(RequestId), sub: SubId, ids: Ids }, closed),
  nack: Type.Object(
    {
      op: Type.Literal("nack"),
      id: Type.Optional(RequestId),
      sub: SubId,
      ids: Ids,
      delayMs: NackBody.properties.delayMs,
    },
    closed,
  ),
  publishQueue: Type.Object(
    { op: Type.Literal("publish"), id: RequestId, queue: NameSchema, ...QueueMessageBody.properties },
    closed,
  ),
  publishTopic: Type.Object(
    { op: Type.Literal("publish"), id: RequestId, topic: NameSchema, ...TopicMessageBody.properties },
    closed,
  ),
  ping: Type.Object({ op: Type.Literal("ping"), id: Type.Optional(RequestId) }, closed),
};

export type RequestIdValue = Static<typeof RequestId>;
export type AuthFrame = Static<typeof clientFrameSchemas.auth>;
export type SubscribeQueueFrame = Static<typeof clientFrameSchemas.subscribeQueue>;
export type SubscribeTopicFrame = Static<typeof clientFrameSchemas.subscribeTopic>;
export type UnsubscribeFrame = Static<typeof clientFrameSchemas.unsubscribe>;
export type AckFrame = Static<typeof clientFrameSchemas.ack>;
export type NackFrame = Static<typeof clientFrameSchemas.nack>;
export type PublishQueueFrame = Static<typeof clientFrameSchemas.publishQueue>;
export type PublishTopicFrame = Static<typeof clientFrameSchemas.publishTopic>;
export type PingFrame = Static<typeof clientFrameSchemas.ping>;

// Server → client frames. Built as text so payloads are spliced, not re-encoded.

function idField(id: RequestIdValue | undefined): string {
  return id === undefined ? "" : `,"id":${JSON.stringify(id)}`;
}

export function okFrame(id: RequestIdValue | undefined, fields: Record<string, unknown> = {}): string {
  const extra = JSON.stringify(fields).slice(1, -1);
  return `{"op":"ok"${idField(id)}${extra === "" ? "" : `,${extra}`}}`;
}

export function errorFrame(error: AvisoError, context: { id?: RequestIdValue; sub?: string } = {}): string {
  const sub = context.sub === undefined ? "" : `,"sub":${JSON.stringify(context.sub)}`;
  const details = error.details === undefined ? "" : `,"details":${JSON.stringify(error.details)}`;
  const retry = error.retry === "never" ? "" : `,"retry":"${error.retry}"`;
  return (
    `{"op":"error"${idField(context.id)}${sub},"code":"${error.code}","reason":"${error.reason}"` +
    `,"message":${JSON.stringify(error.message)}${retry}${details}}`
  );
}

/** A subscription ended on the server's side (queue or topic deleted, history unreadable); the `sub` is gone. */
export function endedFrame(sub: string, error: AvisoError): string {
  return (
    `{"op":"ended","sub":${JSON.stringify(sub)},"code":"${error.code}","reason":"${error.reason}"` +
    `,"message":${JSON.stringify(error.message)}}`
  );
}

export function pongFrame(id: RequestIdValue | undefined): string {
  return `{"op":"pong"${idField(id)}}`;
}

export function replayedFrame(sub: string, info: ReplayInfo): string {
  return `{"op":"replayed","sub":${JSON.stringify(sub)},"from":${info.from},"to":${info.to},"complete":${info.complete}}`;
}
