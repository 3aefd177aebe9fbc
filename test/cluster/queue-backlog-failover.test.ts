import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser } from "../helpers/api.ts";
import type { Delivery } from "../helpers/broker-api.ts";
import { createQueue, publishToQueue } from "../helpers/broker-api.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { createTestDatabase } from "../helpers/mariadb.ts";
import { samples } from "../helpers/prometheus.ts";

// A backlog larger than the owner's memory window, drained across the death of its owner: the
// node that takes over claims the queue with only its window in memory (src/app/engine-host.ts)
// and reads the rest from the store in order; nothing acked comes back, nothing is lost.

const MiB = 1024 * 1024;
const WINDOW_BYTES = 2 * MiB;
const FLOOR_BYTES = 256 * 1024;
const PAD = "x".repeat(64 * 1024 - 64);
const MESSAGES = 160;
const BATCH = 8;
const MESSAGE_BYTES = 64 * 1024 + 256;
const METRICS_TOKEN = "backlog-failover-metrics-token-0123456789";
const NODES = [0, 1, 2];

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    store: await createTestDatabase("cluster_backlog_failover"),
    env: {
      AVISO_QUEUE_MEMORY_BYTES: String(WINDOW_BYTES),
      AVISO_QUEUE_MEMORY_FLOOR_BYTES: String(FLOOR_BYTES),
      AVISO_METRICS_TOKEN: METRICS_TOKEN,
    },
  });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

async function ownerIndex(api: Api, queue: string): Promise<number> {
  const lookup = await api.get<{ httpUrl: string }>(`/v1/queues/${queue}/lookup`);
  expect(lookup.status).toBe(200);
  const index = NODES.findIndex((i) => cluster.nodes[i]?.url === lookup.body.httpUrl);
  expect(index).toBeGreaterThanOrEqual(0);
  return index;
}

async function metricsOf(index: number): Promise<Map<string, number>> {
  const scraped = await new Api(cluster.node(index).url, METRICS_TOKEN).get<string>("/metrics");
  expect(scraped.status).toBe(200);
  return samples(scraped.body);
}

describe("a queue backlog larger than memory across a failover", () => {
  it("drains every message once, in order, when the serving node dies in the middle", {
    timeout: 240_000,
  }, async () => {
    const { api } = await newUser(cluster.node(0).url, "backlog");
    const queue = (await createQueue(api)).name;
    const owner = await ownerIndex(api, queue);
    const survivor = NODES.find((i) => i !== owner) as number;
    const via = new Api(cluster.node(survivor).url, api.token);
    for (let first = 0; first < MESSAGES; first += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, i) => ({ payload: { n: first + i, pad: PAD } }));
      await publishToQueue(via, queue, batch);
    }
    const filled = await metricsOf(owner);
    expect(filled.get(`aviso_queue_paged{queue="${queue}"}`)).toBeGreaterThanOrEqual(
      MESSAGES - WINDOW_BYTES / MESSAGE_BYTES,
    );
    expect(filled.get("aviso_queue_memory_bytes")).toBeLessThanOrEqual(WINDOW_BYTES + MESSAGE_BYTES);

    const seen: Delivery[] = [];
    let newOwner: number | undefined;
    let peakAfter = 0;
    const deadline = Date.now() + 120_000;
    // Bounded in passes and time; a pass that meets the move (OWNER_UNAVAILABLE, FENCED) retries.
    for (let pass = 0; pass < MESSAGES * 20 && seen.length < MESSAGES && Date.now() < deadline; pass += 1) {
      if (seen.length >= MESSAGES / 2 && cluster.nodes[owner] !== undefined) await cluster.kill(owner);
      const received = await via.post<{ messages: Delivery[] }>(`/v1/queues/${queue}/receive`, {
        max: 16,
        waitMs: 1000,
      });
      if (received.status !== 200) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      const got = received.body.messages;
      if (got.length === 0) continue;
      const acked = await via.post<{ acked: number }>(`/v1/queues/${queue}/ack`, {
        receipts: got.map((delivery) => delivery.receipt),
      });
      // Only acked deliveries count: an unacked one comes back, and must.
      if (acked.status !== 200 || acked.body.acked !== got.length) continue;
      seen.push(...got);
      if (cluster.nodes[owner] === undefined) {
        newOwner ??= await ownerIndex(via, queue);
        peakAfter = Math.max(peakAfter, (await metricsOf(newOwner)).get("aviso_queue_memory_bytes") ?? 0);
      }
    }
    expect(seen.map((delivery) => (delivery.payload as { n: number }).n)).toEqual(
      Array.from({ length: MESSAGES }, (_, i) => i),
    );
    expect(seen.every((delivery) => delivery.deliveries === 1)).toBe(true);
    expect(newOwner).not.toBe(owner);
    expect(peakAfter).toBeGreaterThan(0);
    expect(peakAfter).toBeLessThanOrEqual(WINDOW_BYTES + MESSAGE_BYTES);
  });
});
