import type { PublishQueueFrame, PublishTopicFrame } from "../frames.ts";
import { okFrame } from "../frames.ts";
import type { WsSession } from "../session.ts";

/** `publish` to a queue: answered with the message id once committed. */
export async function publishQueueOp(session: WsSession, frame: PublishQueueFrame): Promise<void> {
  const principal = session.requirePrincipal();
  const { queue, id, op: _op, ...message } = frame;
  const [messageId] = await session.deps.services.queues.publish(principal, queue, [message]);
  session.send(okFrame(id, { messageId }));
}

/** `publish` to a topic: answered with the offset once committed. */
export async function publishTopicOp(session: WsSession, frame: PublishTopicFrame): Promise<void> {
  const principal = session.requirePrincipal();
  const { topic, id, op: _op, ...message } = frame;
  const [offset] = await session.deps.services.topics.publish(principal, topic, [message]);
  session.send(okFrame(id, { offset }));
}
