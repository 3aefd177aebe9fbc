import { AvisoError } from "../../../errors/aviso-error.ts";
import type { AckFrame, NackFrame, UnsubscribeFrame } from "../frames.ts";
import { okFrame } from "../frames.ts";
import { QueueSubscription } from "../queue-subscription.ts";
import type { WsSession } from "../session.ts";

function queueSubscription(session: WsSession, sub: string): QueueSubscription {
  const subscription = session.subscription(sub);
  if (subscription === undefined) {
    throw new AvisoError("UNKNOWN_SUBSCRIPTION", `This socket has no subscription "${sub}".`);
  }
  if (!(subscription instanceof QueueSubscription)) {
    throw new AvisoError(
      "VALIDATION_FAILED",
      "Only queue subscriptions take acks; topic messages need none.",
    );
  }
  return subscription;
}

/** `ack`: the messages are done; they are deleted. Replies only when the frame has an id. */
export async function ackOp(session: WsSession, frame: AckFrame): Promise<void> {
  session.requirePrincipal();
  const result = await queueSubscription(session, frame.sub).ack(frame.ids);
  if (frame.id !== undefined) session.send(okFrame(frame.id, { acked: result.acked, stale: result.stale }));
}

/** `nack`: give the messages back, to be redelivered (after `delayMs`). */
export async function nackOp(session: WsSession, frame: NackFrame): Promise<void> {
  session.requirePrincipal();
  const result = await queueSubscription(session, frame.sub).nack(frame.ids, frame.delayMs ?? 0);
  // Same shape as the REST answer: `acked` counts the deliveries the request settled.
  if (frame.id !== undefined) session.send(okFrame(frame.id, { acked: result.acked, stale: result.stale }));
}

export async function unsubscribeOp(session: WsSession, frame: UnsubscribeFrame): Promise<void> {
  session.requirePrincipal();
  if (!session.removeSubscription(frame.sub)) {
    throw new AvisoError("UNKNOWN_SUBSCRIPTION", `This socket has no subscription "${frame.sub}".`);
  }
  session.send(okFrame(frame.id, { sub: frame.sub }));
}
