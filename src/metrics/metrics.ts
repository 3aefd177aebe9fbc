import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export type MessageKind = "queue" | "topic";

export interface QueueStats {
  queue: string;
  depth: number;
  inFlight: number;
  /** Messages kept in the store only until the queue reads them back (part of depth). */
  paged: number;
}

/** The node's queue messages in memory and paged, over every queue (QueueMemory). */
export interface QueueMemoryTotals {
  heldBytes: number;
  heldMessages: number;
  pagedBytes: number;
}

/**
 * The node's metrics: its own registries (never prom-client's global) plus
 * typed handles. Per-resource series (labelled by queue name) live apart, so
 * a scrape that may not see resource names gets the same metrics summed over
 * every resource instead (S7).
 */
export interface Metrics {
  /** Every metric without a per-resource label. */
  readonly registry: Registry;
  /** The Prometheus text of a scrape: per-resource series, or the same summed without their resource label. */
  scrape(options: { resourceLabels: boolean }): Promise<string>;
  readonly wsConnections: Gauge;
  /** `route` is the route template (`/v1/queues/{name}`), never the raw path, to bound cardinality. */
  readonly httpRequests: Counter<"route" | "status">;
  readonly messagesPublished: Counter<"kind">;
  readonly messagesDelivered: Counter<"kind">;
  readonly messagesAcked: Counter;
  /** Dead letters dropped: `reason` is "missing" (no queue with the target's id) or "denied" (may not publish). */
  readonly deadLettersLost: Counter<"reason">;
  /** Messages dropped by a queue without a dead-letter queue: `cause` is "max_deliveries" or "expired". */
  readonly messagesDropped: Counter<"cause">;
  readonly publishLatencySeconds: Histogram<"kind">;
  readonly storeBatchOps: Histogram;
  readonly storeBatchMessages: Histogram;
  readonly storeCommitSeconds: Histogram;
  /** Where the queue gauges read from at scrape time; the broker registers it once it runs. */
  setQueueStatsSource(source: () => Iterable<QueueStats>): void;
  /** Where the node's queue memory gauges read from at scrape time. */
  setQueueMemorySource(source: () => QueueMemoryTotals): void;
}

/** From half a millisecond (a batched commit on a fast disk) to a second (something is wrong). */
const latencyBucketsSeconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const batchSizeBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const labelled = new Registry();
  const summed = new Registry();
  let queueStats: () => Iterable<QueueStats> = () => [];
  let queueMemory: () => QueueMemoryTotals = () => ({ heldBytes: 0, heldMessages: 0, pagedBytes: 0 });

  // Queue gauges are computed at scrape time and reset first, so deleted queues drop out.
  const queueGauge = (name: string, help: string, pick: (stats: QueueStats) => number) => {
    new Gauge({
      name,
      help,
      labelNames: ["queue"] as const,
      registers: [labelled],
      collect() {
        this.reset();
        for (const stats of queueStats()) this.set({ queue: stats.queue }, pick(stats));
      },
    });
    new Gauge({
      name,
      help: `${help} Summed over every queue.`,
      registers: [summed],
      collect() {
        let total = 0;
        for (const stats of queueStats()) total += pick(stats);
        this.set(total);
      },
    });
  };
  queueGauge(
    "aviso_queue_depth",
    "Messages ready, delayed or paged in the queue, not in flight.",
    (stats) => stats.depth,
  );
  queueGauge("aviso_queue_in_flight", "Messages delivered and awaiting ack.", (stats) => stats.inFlight);
  queueGauge(
    "aviso_queue_paged",
    "Messages of the queue kept in the store only until it reads them back (part of depth).",
    (stats) => stats.paged,
  );
  const memoryGauge = (name: string, help: string, pick: (totals: QueueMemoryTotals) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(pick(queueMemory()));
      },
    });
  memoryGauge(
    "aviso_queue_memory_bytes",
    "Bytes (payload, headers and 256 each) of queue messages this node holds in memory, over every queue it serves (bounded by queueMemoryBytes).",
    (totals) => totals.heldBytes,
  );
  memoryGauge(
    "aviso_queue_memory_messages",
    "Queue messages this node holds in memory, over every queue it serves.",
    (totals) => totals.heldMessages,
  );
  memoryGauge(
    "aviso_queue_paged_bytes",
    "Bytes of queue messages kept in the store only until their queue reads them back (estimated for a queue just claimed).",
    (totals) => totals.pagedBytes,
  );

  collectDefaultMetrics({ register: registry });

  return {
    registry,
    async scrape({ resourceLabels }) {
      const [shared, perResource] = await Promise.all([
        registry.metrics(),
        (resourceLabels ? labelled : summed).metrics(),
      ]);
      return `${shared}${shared.endsWith("\n") ? "" : "\n"}${perResource}`;
    },
    wsConnections: new Gauge({
      name: "aviso_ws_connections",
      help: "Open WebSocket connections.",
      registers,
    }),
    httpRequests: new Counter({
      name: "aviso_http_requests_total",
      help: "HTTP requests answered, by route template and status.",
      labelNames: ["route", "status"] as const,
      registers,
    }),
    messagesPublished: new Counter({
      name: "aviso_messages_published_total",
      help: "Messages committed by publishes.",
      labelNames: ["kind"] as const,
      registers,
    }),
    messagesDelivered: new Counter({
      name: "aviso_messages_delivered_total",
      help: "Messages delivered to subscribers or receivers (redeliveries included).",
      labelNames: ["kind"] as const,
      registers,
    }),
    messagesAcked: new Counter({
      name: "aviso_messages_acked_total",
      help: "Queue messages acked.",
      registers,
    }),
    deadLettersLost: new Counter({
      name: "aviso_dead_letters_lost_total",
      help: "Dead letters dropped because the dead-letter queue is gone (missing) or may not be published to (denied).",
      labelNames: ["reason"] as const,
      registers,
    }),
    messagesDropped: new Counter({
      name: "aviso_messages_dropped_total",
      help: "Queue messages dropped because they reached maxDeliveries or expired and their queue has no dead-letter queue.",
      labelNames: ["cause"] as const,
      registers,
    }),
    publishLatencySeconds: new Histogram({
      name: "aviso_publish_latency_seconds",
      help: "Time from a publish request (a REST request, or one turn's publishes of a WebSocket to one queue or topic) to its answer, commit included.",
      labelNames: ["kind"] as const,
      buckets: latencyBucketsSeconds,
      registers,
    }),
    storeBatchOps: new Histogram({
      name: "aviso_store_batch_ops",
      help: "Operations (publishes, acks, …) grouped into one store transaction.",
      buckets: batchSizeBuckets,
      registers,
    }),
    storeBatchMessages: new Histogram({
      name: "aviso_store_batch_messages",
      help: "Messages written in one store transaction.",
      buckets: batchSizeBuckets,
      registers,
    }),
    storeCommitSeconds: new Histogram({
      name: "aviso_store_commit_seconds",
      help: "Time one store transaction takes to commit.",
      buckets: latencyBucketsSeconds,
      registers,
    }),
    setQueueStatsSource(source) {
      queueStats = source;
    },
    setQueueMemorySource(source) {
      queueMemory = source;
    },
  };
}
