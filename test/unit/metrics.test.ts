import { register as globalRegistry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/metrics/metrics.ts";

describe("createMetrics", () => {
  it("renders every Aviso metric and the default process metrics", async () => {
    const metrics = createMetrics();
    metrics.httpRequests.inc({ route: "/v1/queues", status: 201 });
    metrics.messagesPublished.inc({ kind: "topic" }, 3);
    metrics.publishLatencySeconds.observe({ kind: "queue" }, 0.002);
    const text = await metrics.scrape({ resourceLabels: true });
    for (const name of [
      "aviso_ws_connections",
      "aviso_http_requests_total",
      "aviso_messages_published_total",
      "aviso_messages_delivered_total",
      "aviso_messages_acked_total",
      "aviso_dead_letters_lost_total",
      "aviso_messages_dropped_total",
      "aviso_queue_depth",
      "aviso_queue_in_flight",
      "aviso_publish_latency_seconds",
      "aviso_store_batch_ops",
      "aviso_store_batch_messages",
      "aviso_store_commit_seconds",
      "process_cpu_user_seconds_total",
      "nodejs_eventloop_lag_seconds",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toContain('aviso_http_requests_total{route="/v1/queues",status="201"} 1');
    expect(text).toContain('aviso_messages_published_total{kind="topic"} 3');
    expect(text).toContain('aviso_publish_latency_seconds_bucket{le="0.0025",kind="queue"} 1');
    expect(text).toContain('aviso_publish_latency_seconds_bucket{le="0.001",kind="queue"} 0');
  });

  it("reads queue gauges from the registered source at scrape time, dropping vanished queues", async () => {
    const metrics = createMetrics();
    let queues = [
      { queue: "orders", depth: 5, inFlight: 2, paged: 3 },
      { queue: "emails", depth: 0, inFlight: 1, paged: 0 },
    ];
    metrics.setQueueStatsSource(() => queues);
    let text = await metrics.scrape({ resourceLabels: true });
    expect(text).toContain('aviso_queue_depth{queue="orders"} 5');
    expect(text).toContain('aviso_queue_in_flight{queue="orders"} 2');
    expect(text).toContain('aviso_queue_in_flight{queue="emails"} 1');
    expect(text).toContain('aviso_queue_paged{queue="orders"} 3');
    queues = [{ queue: "emails", depth: 7, inFlight: 0, paged: 0 }];
    text = await metrics.scrape({ resourceLabels: true });
    expect(text).not.toContain('queue="orders"');
    expect(text).toContain('aviso_queue_depth{queue="emails"} 7');
  });

  it("sums queue gauges without their queue label for a scrape that may not see resource names (S7)", async () => {
    const metrics = createMetrics();
    metrics.setQueueStatsSource(() => [
      { queue: "orders", depth: 5, inFlight: 2, paged: 4 },
      { queue: "emails", depth: 1, inFlight: 1, paged: 1 },
    ]);
    const text = await metrics.scrape({ resourceLabels: false });
    expect(text).not.toContain("queue=");
    expect(text).not.toContain("orders");
    expect(text).toMatch(/^aviso_queue_depth 6$/m);
    expect(text).toMatch(/^aviso_queue_in_flight 3$/m);
    expect(text).toMatch(/^aviso_queue_paged 5$/m);
    expect(text).toContain("# TYPE aviso_messages_acked_total counter");
  });

  it("reads the node's queue memory totals at scrape time", async () => {
    const metrics = createMetrics();
    const totals = { heldBytes: 2048, heldMessages: 2, pagedBytes: 0 };
    metrics.setQueueMemorySource(() => totals);
    totals.pagedBytes = 4096;
    const text = await metrics.scrape({ resourceLabels: false });
    expect(text).toMatch(/^aviso_queue_memory_bytes 2048$/m);
    expect(text).toMatch(/^aviso_queue_memory_messages 2$/m);
    expect(text).toMatch(/^aviso_queue_paged_bytes 4096$/m);
  });

  it("uses its own registry, so two nodes in one process do not clash", async () => {
    const first = createMetrics();
    const second = createMetrics();
    first.messagesAcked.inc(2);
    expect(await second.registry.metrics()).toContain("aviso_messages_acked_total 0");
    expect(await globalRegistry.metrics()).not.toContain("aviso_");
  });
});
