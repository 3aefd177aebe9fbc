import { type Static, Type } from "@sinclair/typebox";
import type { ReplayInfo } from "../../broker/topic/topic-fanout.ts";
import type { AvisoError } from "../../errors/aviso-error.ts";

/** Client → server frames of /v1/ws (docs/protocol.md). One JSON object per text frame, field `op`. */

const closed = { additionalProperties: false } as const;
const RequestId = Type.Union([Type.String({ maxLength: 100 }), Type.Integer()], {
  description: "Echoed in the reply.",
});
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Headers = Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.String({ maxLength: 4096 }), {
  maxProperties: 64,
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
      queue: Name,
      prefetch: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    closed,
  ),
  subscribeTopic: Type.Object(
    {
      op: Type.Literal("subscribe"),
      id: RequestId,
      topic: Name,
      pattern: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
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
      delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 43_200_000 })),
    },
    closed,
  ),
  publishQueue: Type.Object(
    {
      op: Type.Literal("publish"),
      id: RequestId,
      queue: Name,
      payload: Type.Unknown(),
      headers: Type.Optional(Headers),
      delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 604_800_000 })),
      idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
    closed,
  ),
  publishTopic: Type.Object(
    {
      op: Type.Literal("publish"),
      id: RequestId,
      topic: Name,
      payload: Type.Unknown(),
      key: Type.Optional(Type.String({ maxLength: 255 })),
      headers: Type.Optional(Headers),
      idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
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
