import { AvisoError } from "../../errors/aviso-error.ts";
import { type AccessSpec, anyone, anyUser, onResource } from "../access-spec.ts";
import { assertJsonDepth } from "../json-depth.ts";
import { createValidator, type Validator } from "../validation.ts";
import {
  type AckFrame,
  type AuthFrame,
  clientFrameSchemas,
  type NackFrame,
  type PingFrame,
  type PublishQueueFrame,
  type PublishTopicFrame,
  pongFrame,
  type RequestIdValue,
  type SubscribeQueueFrame,
  type SubscribeTopicFrame,
  type UnsubscribeFrame,
} from "./frames.ts";
import { authOp } from "./ops/auth-op.ts";
import { publishQueueOp, publishTopicOp } from "./ops/publish-op.ts";
import { ackOp, nackOp, unsubscribeOp } from "./ops/settle-ops.ts";
import { subscribeQueueOp, subscribeTopicOp } from "./ops/subscribe-op.ts";
import type { WsSession } from "./session.ts";

const validators = {
  auth: createValidator<AuthFrame>(clientFrameSchemas.auth),
  subscribeQueue: createValidator<SubscribeQueueFrame>(clientFrameSchemas.subscribeQueue),
  subscribeTopic: createValidator<SubscribeTopicFrame>(clientFrameSchemas.subscribeTopic),
  unsubscribe: createValidator<UnsubscribeFrame>(clientFrameSchemas.unsubscribe),
  ack: createValidator<AckFrame>(clientFrameSchemas.ack),
  nack: createValidator<NackFrame>(clientFrameSchemas.nack),
  publishQueue: createValidator<PublishQueueFrame>(clientFrameSchemas.publishQueue),
  publishTopic: createValidator<PublishTopicFrame>(clientFrameSchemas.publishTopic),
  ping: createValidator<PingFrame>(clientFrameSchemas.ping),
};

type Handler = (session: WsSession, frame: Record<string, unknown>) => Promise<void> | void;

function op<T>(
  validator: Validator<T>,
  run: (session: WsSession, frame: T) => Promise<void> | void,
): Handler {
  return (session, frame) => run(session, validator.check(frame, "frame"));
}

/** Queue or topic, chosen by which field the frame names. */
function byTarget(queue: Handler, topic: Handler): Handler {
  return (session, frame) => ("topic" in frame && !("queue" in frame) ? topic : queue)(session, frame);
}

/** One WebSocket op: who may send it (per target, for ops that name a queue or a topic) and what it does. */
export interface WsOp {
  /** docs/security.md; the authorization matrix test reads this. */
  access: readonly AccessSpec[];
  handler: Handler;
}

/** Every op a client may send. A socket's own subscriptions (unsubscribe, ack, nack) need only its user. */
export const wsOps: Readonly<Record<string, WsOp>> = {
  auth: { access: [anyone], handler: op(validators.auth, authOp) },
  subscribe: {
    access: [onResource("queue", "consume"), onResource("topic", "consume")],
    handler: byTarget(
      op(validators.subscribeQueue, subscribeQueueOp),
      op(validators.subscribeTopic, subscribeTopicOp),
    ),
  },
  unsubscribe: { access: [anyUser], handler: op(validators.unsubscribe, unsubscribeOp) },
  ack: { access: [anyUser], handler: op(validators.ack, ackOp) },
  nack: { access: [anyUser], handler: op(validators.nack, nackOp) },
  publish: {
    access: [onResource("queue", "publish"), onResource("topic", "publish")],
    handler: byTarget(
      op(validators.publishQueue, publishQueueOp),
      op(validators.publishTopic, publishTopicOp),
    ),
  },
  ping: {
    access: [anyone],
    handler: op(validators.ping, (session, frame) => session.send(pongFrame(frame.id))),
  },
};

/** Parses one text frame and runs its op; every failure becomes an `error` frame and the socket stays open. */
export function dispatchFrame(session: WsSession, text: string): void {
  let frame: unknown;
  try {
    assertJsonDepth(text);
  } catch (error) {
    session.sendError(AvisoError.from(error));
    return;
  }
  try {
    frame = JSON.parse(text);
  } catch {
    session.sendError(new AvisoError("BAD_JSON", "The frame is not valid JSON."));
    return;
  }
  if (typeof frame !== "object" || frame === null || Array.isArray(frame)) {
    session.sendError(new AvisoError("VALIDATION_FAILED", "A frame is a JSON object with an `op` field."));
    return;
  }
  const fields = frame as Record<string, unknown>;
  const context = replyContext(fields);
  const handler =
    typeof fields.op === "string" && Object.hasOwn(wsOps, fields.op) ? wsOps[fields.op]?.handler : undefined;
  if (handler === undefined) {
    const known = Object.keys(wsOps).join(", ");
    session.sendError(
      new AvisoError("UNKNOWN_OP", `Unknown op ${describeOp(fields.op)}; one of ${known}.`),
      context,
    );
    return;
  }
  try {
    const running = handler(session, fields);
    if (running !== undefined)
      running.catch((error: unknown) => session.sendError(AvisoError.from(error), context));
  } catch (error) {
    session.sendError(AvisoError.from(error), context);
  }
}

/** The op as the error message quotes it: short, whatever the client sent. */
function describeOp(op: unknown): string {
  if (typeof op === "string") return JSON.stringify(op.length > 40 ? `${op.slice(0, 40)}…` : op);
  return op === undefined
    ? "(none)"
    : `of type ${op === null ? "null" : Array.isArray(op) ? "array" : typeof op}`;
}

function replyContext(fields: Record<string, unknown>): { id?: RequestIdValue; sub?: string } {
  const context: { id?: RequestIdValue; sub?: string } = {};
  if (typeof fields.id === "string" || (typeof fields.id === "number" && Number.isInteger(fields.id))) {
    context.id = fields.id;
  }
  if (typeof fields.sub === "string") context.sub = fields.sub;
  return context;
}
