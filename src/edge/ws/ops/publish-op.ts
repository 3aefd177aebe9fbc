import type { QueuePublishInput } from "../../../broker/queue/queue-ports.ts";
import type { TopicPublishInput } from "../../../broker/topic/topic-ports.ts";
import type { PublishQueueFrame, PublishTopicFrame } from "../frames.ts";
import type { PublishTarget } from "../publish-batches.ts";
import type { WsSession } from "../session.ts";

const queueTarget: PublishTarget<QueuePublishInput, string> = {
  kind: "queue",
  publish: (services, principal, name, inputs) => services.queues.publishPrepared(principal, name, inputs),
  ok: (messageId) => ({ messageId }),
};

const topicTarget: PublishTarget<TopicPublishInput, number> = {
  kind: "topic",
  publish: (services, principal, name, inputs) => services.topics.publishPrepared(principal, name, inputs),
  ok: (offset) => ({ offset }),
};

/**
 * `publish` to a queue: the message is checked now (a refusal answers this
 * frame alone), then published with the socket's other publishes of this
 * turn (publish-batches.ts) and answered with its id once committed. The
 * frame is the message: only its message fields are read.
 */
export function publishQueueOp(session: WsSession, frame: PublishQueueFrame): void {
  const principal = session.requirePrincipal();
  const input = session.deps.services.queues.prepare(principal, frame);
  session.publishes.add(queueTarget, principal, frame.queue, input, frame.id);
}

/** `publish` to a topic, as publishQueueOp; answered with the offset once committed. */
export function publishTopicOp(session: WsSession, frame: PublishTopicFrame): void {
  const principal = session.requirePrincipal();
  const input = session.deps.services.topics.prepare(principal, frame);
  session.publishes.add(topicTarget, principal, frame.topic, input, frame.id);
}
