import type { SubscribeQueueFrame, SubscribeTopicFrame } from "../frames.ts";
import { okFrame } from "../frames.ts";
import { QueueSubscription } from "../queue-subscription.ts";
import type { WsSession } from "../session.ts";
import { TopicSubscription } from "../topic-subscription.ts";

/** Default un-acked deliveries per queue subscription when the client names none. */
export const DEFAULT_PREFETCH = 100;

/** `subscribe` to a queue: push with at most `prefetch` un-acked deliveries. */
export async function subscribeQueueOp(session: WsSession, frame: SubscribeQueueFrame): Promise<void> {
  const principal = session.requirePrincipal();
  session.assertRoomForSubscription();
  const subscription = new QueueSubscription(
    session,
    session.newQueueSubscriptionId(),
    frame.queue,
    frame.prefetch ?? DEFAULT_PREFETCH,
    principal,
  );
  session.addSubscription(subscription);
  try {
    await subscription.attach();
  } catch (error) {
    session.forgetSubscription(subscription.id);
    subscription.close();
    throw error;
  }
  session.send(okFrame(frame.id, { sub: subscription.id }));
  subscription.announce();
}

/** `subscribe` to a topic: optional replay from an offset, then live, with no gap between them. */
export async function subscribeTopicOp(session: WsSession, frame: SubscribeTopicFrame): Promise<void> {
  const principal = session.requirePrincipal();
  session.assertRoomForSubscription();
  // The ok frame is sent inside the join (TopicSubscription.joined), before any message.
  const subscription = new TopicSubscription(session, frame.topic, frame.id);
  await session.deps.services.topics.subscribeLive(
    principal,
    {
      topic: frame.topic,
      ...(frame.pattern === undefined ? {} : { pattern: frame.pattern }),
      ...(frame.from === undefined ? {} : { from: frame.from }),
    },
    subscription,
  );
}
