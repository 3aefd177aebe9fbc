/**
 * What a fault run records, in the order things happened: every publish
 * attempt and its answer, every queue delivery (and every ack the node
 * confirmed) and every topic message a client received, and the moments faults were injected. The checker
 * (checker.ts) judges a History against the guarantees in docs/architecture.md ("The contract");
 * payloads are `{publisher, seq}` so every delivery can be traced back to
 * the publish it came from.
 */

export type ResourceKind = "queue" | "topic";

/** The payload every workload message carries. */
export interface MessagePayload {
  publisher: string;
  seq: number;
}

/** One message a publisher tried to publish (possibly several attempts). */
export interface PublishedMessage {
  publisher: string;
  seq: number;
  kind: ResourceKind;
  resource: string;
  /** When the first attempt was sent. */
  firstSentAt: number;
  /** Present once a 201 came back: the message is ACKNOWLEDGED. */
  ack?: {
    at: number;
    /** When the attempt that got the 201 was sent. */
    attemptSentAt: number;
    /** Queue message id (queues) or offset (topics), as the 201 named it. */
    position: string;
  };
}

/** One HTTP request of a publisher (a batch of messages to one resource). */
export interface PublishAttempt {
  publisher: string;
  resource: string;
  kind: ResourceKind;
  url: string;
  messages: number;
  sentAt: number;
  endedAt: number;
  /** HTTP status, or 0 when the request failed without one (refused, reset, timed out). */
  status: number;
  /** `error.reason` of a non-2xx answer, or the client-side failure ("timeout", "ECONNREFUSED" …). */
  reason?: string;
}

/** A queue delivery as a consumer received it. */
export interface QueueDeliveryRecord {
  consumer: string;
  queue: string;
  id: string;
  payload: MessagePayload;
  deliveries: number;
  url: string;
  at: number;
}

/** A queue ack the node confirmed (its `ok` counted it as acked): the ack was committed before that reply. */
export interface QueueAckRecord {
  consumer: string;
  queue: string;
  id: string;
  at: number;
}

/** A topic message as a live subscriber received it. */
export interface TopicDeliveryRecord {
  subscriber: string;
  topic: string;
  offset: number;
  payload: MessagePayload;
  url: string;
  at: number;
}

/** A live topic subscriber and the offset it started from (it must see every offset from there on). */
export interface TopicStream {
  subscriber: string;
  topic: string;
  startOffset: number;
}

/** A fault injected at `at`; `queues`/`topics` name the resources it took away (empty = all). */
export interface FaultMark {
  label: string;
  at: number;
  queues: string[];
  topics: string[];
}

export interface History {
  messages: PublishedMessage[];
  attempts: PublishAttempt[];
  queueDeliveries: QueueDeliveryRecord[];
  /** Acks whose `ok` reply counted them; an ack with no reply (the link died) or a stale one is not here. */
  queueAcks: QueueAckRecord[];
  topicDeliveries: TopicDeliveryRecord[];
  topicStreams: TopicStream[];
  faults: FaultMark[];
  /** The queue with exactly one consumer at a time, whose order is checked. */
  orderQueue: string;
  /** Client-side events worth reading in a report (reconnects, ended subscriptions). */
  notes: string[];
}

export function emptyHistory(orderQueue: string): History {
  return {
    messages: [],
    attempts: [],
    queueDeliveries: [],
    queueAcks: [],
    topicDeliveries: [],
    topicStreams: [],
    faults: [],
    orderQueue,
    notes: [],
  };
}

export function messageKey(payload: MessagePayload): string {
  return `${payload.publisher}#${payload.seq}`;
}

/** A received payload; one that is not a workload payload gets a publisher no one is, so it shows as a phantom. */
export function readPayload(value: unknown): MessagePayload {
  const { publisher, seq } =
    typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  if (typeof publisher === "string" && typeof seq === "number") return { publisher, seq };
  return { publisher: `invalid:${JSON.stringify(value)}`, seq: -1 };
}
