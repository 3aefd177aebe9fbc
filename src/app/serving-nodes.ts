import type {
  AckResult,
  ConsumerSink,
  Delivery,
  QueueConsumer,
  QueuePublishInput,
  QueueStats,
  ReceiveRequest,
} from "../broker/queue/queue-ports.ts";
import type { TopicFeed, TopicPublishInput } from "../broker/topic/topic-ports.ts";
import type { ResourceKind } from "../broker/types.ts";
import type { AvisoError } from "../errors/aviso-error.ts";

/**
 * What any node can ask of the node serving a queue. Standalone, the serving node is always
 * this node; in a cluster the call goes to whichever node serves the queue.
 * Callers have already authorised the request.
 */
export interface ServedQueues {
  publish(queue: string, inputs: QueuePublishInput[]): Promise<string[]>;
  receive(queue: string, request: ReceiveRequest, signal?: AbortSignal): Promise<Delivery[]>;
  ack(queue: string, receipts: string[]): Promise<AckResult>;
  nack(queue: string, receipts: string[], delayMs: number): Promise<AckResult>;
  consume(queue: string, sink: ConsumerSink, prefetch: number): Promise<QueueConsumer>;
  /** Live counters; undefined when no node has the queue loaded (its depth is then read from the store). */
  stats(queue: string): Promise<QueueStats | undefined>;
}

export interface TopicHeadView {
  nextOffset: number;
  firstOffset: number;
}

export interface ServedTopics {
  publish(topic: string, inputs: TopicPublishInput[]): Promise<number[]>;
  /** Offsets as the serving node sees them. */
  head(topic: string): Promise<TopicHeadView>;
  /** The committed log as this node sees it, for fan-out and history. */
  feed(topic: string): Promise<TopicFeed>;
}

export interface ServingNodes {
  queues: ServedQueues;
  topics: ServedTopics;
  /** A resource was deleted or redefined: stop serving it here with `reason`. */
  release(kind: ResourceKind, name: string, reason: AvisoError): void;
  /** A durable subscription was created: the node serving the queue starts copying. */
  bindingCreated(topic: string, queue: string): Promise<void>;
  /** A durable subscription was removed: the node serving the queue stops copying. */
  bindingRemoved(topic: string, queue: string): Promise<void>;
  close(reason: AvisoError): Promise<void>;
}
