import { randomBytes } from "node:crypto";
import type { PublishAttempt } from "./history.ts";
import { emptyHistory, type FaultMark, type History } from "./history.ts";
import { type PublishTarget, publishOnce, runPublisher } from "./publisher.ts";
import { QueueConsumer } from "./queue-consumer.ts";
import { waitUntil } from "./timing.ts";
import { TopicSubscriber } from "./topic-subscriber.ts";

/** The resources a run uses (created beforehand, see planResources). */
export interface WorkloadPlan {
  /** Work queues, consumed by every consumer. */
  queues: string[];
  /** Consumed by exactly one consumer at a time: its order is checked. */
  orderQueue: string;
  topics: string[];
}

export interface WorkloadSize {
  publishers: number;
  consumers: number;
  topicSubscribers: number;
  /** Per publisher. */
  messages: number;
  batchSize: number;
  /** Messages per second per publisher. */
  ratePerSec: number;
  /** Publishers start no new batch after this long. */
  maxDurationMs: number;
  prefetch: number;
  requestTimeoutMs: number;
}

export const defaultSize: WorkloadSize = {
  publishers: 4,
  consumers: 3,
  topicSubscribers: 3,
  messages: 1000,
  batchSize: 5,
  ratePerSec: 50,
  maxDurationMs: 40_000,
  prefetch: 32,
  requestTimeoutMs: 8000,
};

/**
 * The fault suite's workload, bounded in count and time: publishers (REST)
 * and consumers/subscribers (WebSocket) spread over the nodes, all recording
 * into one History for the checker.
 */
export class Workload {
  readonly history: History;
  private readonly consumers: QueueConsumer[];
  private readonly orderConsumer: QueueConsumer;
  private readonly subscribers: TopicSubscriber[];
  private publishing: Promise<void> | null = null;
  private aborted = false;
  private readonly runId = randomBytes(4).toString("hex");

  constructor(
    private readonly token: string,
    private readonly live: () => string[],
    private readonly plan: WorkloadPlan,
    private readonly size: WorkloadSize,
  ) {
    this.history = emptyHistory(plan.orderQueue);
    const common = { token, live, history: this.history };
    this.consumers = Array.from(
      { length: size.consumers },
      (_, index) =>
        new QueueConsumer({
          ...common,
          name: `c${index}`,
          startIndex: index,
          queues: plan.queues,
          prefetch: size.prefetch,
        }),
    );
    this.orderConsumer = new QueueConsumer({
      ...common,
      name: "order",
      startIndex: size.consumers,
      queues: [plan.orderQueue],
      prefetch: size.prefetch,
    });
    this.subscribers = Array.from(
      { length: size.topicSubscribers },
      (_, index) =>
        new TopicSubscriber({ ...common, name: `s${index}`, startIndex: index + 1, topics: plan.topics }),
    );
  }

  /** Connects every consumer and subscriber (subscribed everywhere), then starts the publishers. */
  async start(): Promise<void> {
    const readers = [...this.consumers, this.orderConsumer, ...this.subscribers];
    await Promise.all(readers.map((reader) => reader.start()));
    await waitUntil("every consumer and subscriber to be subscribed", () => readers.every((r) => r.ready), {
      timeoutMs: 30_000,
    });
    const targets: PublishTarget[] = [
      ...this.plan.queues.map((name) => ({ kind: "queue" as const, name })),
      { kind: "queue", name: this.plan.orderQueue },
      ...this.plan.topics.map((name) => ({ kind: "topic" as const, name })),
    ];
    const startedAt = Date.now();
    this.publishing = Promise.all(
      Array.from({ length: this.size.publishers }, (_, index) =>
        runPublisher({
          name: `p${index}`,
          token: this.token,
          live: this.live,
          startIndex: index,
          targets,
          messages: this.size.messages,
          batchSize: this.size.batchSize,
          ratePerSec: this.size.ratePerSec,
          stopAt: startedAt + this.size.maxDurationMs,
          giveUpAt: startedAt + this.size.maxDurationMs + 30_000,
          requestTimeoutMs: this.size.requestTimeoutMs,
          runId: this.runId,
          history: this.history,
          aborted: () => this.aborted,
        }),
      ),
    ).then(() => undefined);
    // Awaited by published(); until then a failing publisher must not count as unhandled.
    this.publishing.catch(() => {});
  }

  mark(fault: Omit<FaultMark, "at">, at = Date.now()): FaultMark {
    const mark = { ...fault, at };
    this.history.faults.push(mark);
    return mark;
  }

  /** One publish by the "probe" publisher to the node at `url`, e.g. one that is paused right now. */
  probe(url: string, target: PublishTarget, seq: number, requestTimeoutMs = 30_000): Promise<PublishAttempt> {
    const context = {
      name: "probe",
      token: this.token,
      runId: this.runId,
      requestTimeoutMs,
      history: this.history,
    };
    return publishOnce(context, url, target, seq);
  }

  acknowledged(): number {
    return this.history.messages.filter((message) => message.ack !== undefined).length;
  }

  /** Resolves when every publisher is done (count reached, or out of time). */
  async published(): Promise<void> {
    if (this.publishing === null) throw new Error("workload not started");
    await this.publishing;
  }

  /** What is still to arrive: acknowledged queue messages not consumed, topic offsets a subscriber lacks. */
  outstanding(): { queueMessages: number; topicOffsets: number } {
    const consumed = new Set(this.history.queueDeliveries.map((d) => `${d.queue}\0${d.id}`));
    let queueMessages = 0;
    const highestAcked = new Map<string, number>();
    for (const message of this.history.messages) {
      if (message.ack === undefined) continue;
      if (message.kind === "queue") {
        if (!consumed.has(`${message.resource}\0${message.ack.position}`)) queueMessages += 1;
      } else {
        const offset = Number(message.ack.position);
        highestAcked.set(message.resource, Math.max(highestAcked.get(message.resource) ?? -1, offset));
      }
    }
    let topicOffsets = 0;
    for (const subscriber of this.subscribers) {
      for (const [topic, highest] of highestAcked) {
        topicOffsets += Math.max(0, highest - subscriber.lastOffset(topic));
      }
    }
    return { queueMessages, topicOffsets };
  }

  /** Waits until every acknowledged message has reached its consumers; returns how long that took. */
  async drain(timeoutMs: number): Promise<number> {
    const started = Date.now();
    await waitUntil(
      "consumers to receive every acknowledged message",
      () => {
        const left = this.outstanding();
        return left.queueMessages === 0 && left.topicOffsets === 0;
      },
      { timeoutMs, intervalMs: 200 },
    ).catch((error: unknown) => {
      this.history.notes.push(`drain incomplete: ${JSON.stringify(this.outstanding())}: ${String(error)}`);
    });
    return Date.now() - started;
  }

  /** Closes every socket; publishers still retrying give up. */
  async stop(): Promise<void> {
    this.aborted = true;
    await Promise.all(
      [...this.consumers, this.orderConsumer, ...this.subscribers].map((reader) => reader.stop()),
    );
  }
}
