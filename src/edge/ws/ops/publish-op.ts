import type { QueueMessageInput } from "../../../app/queues.ts";
import type { TopicMessageInput } from "../../../app/topics.ts";
import type { PublishQueueFrame, PublishTopicFrame } from "../frames.ts";
import type { PublishTarget } from "../publish-batches.ts";
import type { WsSession } from "../session.ts";

const queueTarget: PublishTarget<QueueMessageInput, string> = {
  kind: "queue",
  publish: (services, principal, name, messages) => services.queues.publish(principal, name, messages),
  ok: (messageId) => ({ messageId }),
};

const topicTarget: PublishTarget<TopicMessageInput, number> = {
  kind: "topic",
  publish: (services, principal, name, messages) => services.topics.publish(principal, name, messages),
  ok: (offset) => ({ offset }),
};

/** `publish` to a queue: answered with the message id once committed; a turn's go as one batch (publish-batches.ts). */
export function publishQueueOp(session: WsSession, frame: PublishQueueFrame): void {
  // The frame is the message: the service reads only the message's fields of it.
  session.publishes.add(queueTarget, session.requirePrincipal(), frame.queue, frame, frame.id);
}

/** `publish` to a topic: answered with the offset once committed; a turn's go as one batch (publish-batches.ts). */
export function publishTopicOp(session: WsSession, frame: PublishTopicFrame): void {
  // The frame is the message: the service reads only the message's fields of it.
  session.publishes.add(topicTarget, session.requirePrincipal(), frame.topic, frame, frame.id);
}
