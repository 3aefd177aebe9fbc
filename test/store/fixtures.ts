import { randomBytes } from "node:crypto";
import type {
  Binding,
  QueueDefinition,
  QueueMessage,
  TopicDefinition,
  TopicMessage,
} from "../../src/broker/types.ts";
import { newResourceId } from "../../src/shared/resource-id.ts";
import type { Store } from "../../src/store/store.ts";

/** Tests share one database, so every resource gets a name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

export const baseTime = 1_750_000_000_000;

export function queueDefinition(name: string, overrides: Partial<QueueDefinition> = {}): QueueDefinition {
  return {
    id: newResourceId(),
    name,
    creator: "creator_user",
    private: false,
    ackTimeoutMs: 30_000,
    maxDeliveries: null,
    deadLetterQueue: null,
    deadLetterQueueId: null,
    messageTtlMs: null,
    maxLength: null,
    createdAt: baseTime,
    ...overrides,
  };
}

export function topicDefinition(name: string, overrides: Partial<TopicDefinition> = {}): TopicDefinition {
  return {
    id: newResourceId(),
    name,
    creator: "creator_user",
    private: false,
    durable: true,
    retention: { maxAgeMs: null, maxMessages: null },
    createdAt: baseTime,
    ...overrides,
  };
}

export function queueMessage(seq: number, overrides: Partial<QueueMessage> = {}): QueueMessage {
  return {
    seq,
    payload: JSON.stringify({ n: seq }),
    headers: null,
    publishedAt: baseTime + seq,
    availableAt: baseTime + seq,
    expiresAt: null,
    deliveries: 0,
    ...overrides,
  };
}

/** Messages with seqs from..to inclusive. */
export function queueMessages(from: number, to: number): QueueMessage[] {
  const messages: QueueMessage[] = [];
  for (let seq = from; seq <= to; seq++) messages.push(queueMessage(seq));
  return messages;
}

export function topicMessage(offset: number, overrides: Partial<TopicMessage> = {}): TopicMessage {
  return {
    offset,
    key: `orders.eu.${offset}`,
    payload: JSON.stringify({ offset }),
    headers: null,
    publishedAt: baseTime + offset,
    ...overrides,
  };
}

export function topicMessages(from: number, to: number): TopicMessage[] {
  const messages: TopicMessage[] = [];
  for (let offset = from; offset <= to; offset++) messages.push(topicMessage(offset));
  return messages;
}

/** Creates a queue and claims it; returns its name and the owner's epoch. */
export async function ownedQueue(store: Store, prefix = "q"): Promise<{ name: string; epoch: number }> {
  const name = uniqueName(prefix);
  await store.createQueue(queueDefinition(name));
  const claim = await store.claim("queue", name);
  if (claim === undefined) throw new Error(`claim of fresh queue ${name} returned undefined`);
  return { name, epoch: claim.epoch };
}

/** Creates a topic and claims it; returns its name and the owner's epoch. */
export async function ownedTopic(store: Store, prefix = "t"): Promise<{ name: string; epoch: number }> {
  const name = uniqueName(prefix);
  await store.createTopic(topicDefinition(name));
  const claim = await store.claim("topic", name);
  if (claim === undefined) throw new Error(`claim of fresh topic ${name} returned undefined`);
  return { name, epoch: claim.epoch };
}

/** An active binding of `topic` into `queue`; ids default to fresh ones (pass the resources' ids to match them). */
export function bindingOf(topic: string, queue: string, overrides: Partial<Binding> = {}): Binding {
  return {
    topic,
    queue,
    topicId: newResourceId(),
    queueId: newResourceId(),
    pattern: "#",
    nextOffset: 0,
    createdBy: "creator_user",
    createdAt: baseTime,
    state: "active",
    endedReason: null,
    endedAt: null,
    ...overrides,
  };
}
