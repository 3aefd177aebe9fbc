import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { ack, createQueue, getQueue, publishToQueue, receive } from "../helpers/broker-api.ts";
import { createTestDatabase, dropTestDatabase } from "../helpers/mariadb.ts";
import { samples } from "../helpers/prometheus.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";

const MiB = 1024 * 1024;
const WINDOW_BYTES = 4 * MiB;
const FLOOR_BYTES = 1 * MiB;
/** 64 KB payloads, 20 MiB of them: five times the window. */
const PAD = "x".repeat(64 * 1024 - 64);
const MESSAGES = 320;
const BATCH = 8;
/** What one message holds in memory at most (deliveryBytes: payload, headers, 256). */
const MESSAGE_BYTES = 64 * 1024 + 256;
const METRICS_TOKEN = "backlog-test-metrics-token-0123456789abcdef";
const settings = {
  AVISO_QUEUE_MEMORY_BYTES: String(WINDOW_BYTES),
  AVISO_QUEUE_MEMORY_FLOOR_BYTES: String(FLOOR_BYTES),
  AVISO_METRICS_TOKEN: METRICS_TOKEN,
};

describe.each(storeKinds)("a queue backlog larger than the memory window (%s store)", (kind) => {
  let node: TestNode;
  let alice: Api;
  let scraper: Api;

  beforeAll(async () => {
    node = await startNodeOn(kind, {
      prefix: "backlog",
      env: settings,
    });
    alice = (await newUser(node.url, "alice")).api;
    scraper = new Api(node.url, METRICS_TOKEN);
  });
  afterAll(async () => {
    await node?.close();
  });

  const scrape = async () => {
    const scraped = await scraper.get<string>("/metrics");
    expect(scraped.status).toBe(200);
    return samples(scraped.body);
  };

  it("keeps memory within the window while filling, serves another queue meanwhile, then delivers every message once in order", async () => {
    const backlog = await createQueue(alice);
    const busy = await createQueue(alice);
    // The window plus the busy queue's floor plus one message a queue holding nothing always takes.
    const bound = WINDOW_BYTES + FLOOR_BYTES + MESSAGE_BYTES;
    let peak = 0;
    const sample = async () => {
      const metrics = await scrape();
      const held = metrics.get("aviso_queue_memory_bytes") ?? Number.NaN;
      peak = Math.max(peak, held);
      return metrics;
    };

    for (let first = 0; first < MESSAGES; first += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, i) => ({ payload: { n: first + i, pad: PAD } }));
      await publishToQueue(alice, backlog.name, batch);
      // The other queue's message is in memory at once: delivered without waiting for a read of the store.
      const [id] = await publishToQueue(alice, busy.name, [{ payload: { busy: first } }]);
      const [delivery] = await receive(alice, busy.name, { max: 1, waitMs: 0 });
      expect(delivery?.id).toBe(id);
      await ack(alice, busy.name, [delivery?.receipt as string]);
      const metrics = await sample();
      expect(metrics.get(`aviso_queue_paged{queue="${busy.name}"}`)).toBe(0);
    }
    const filled = await scrape();
    expect(filled.get(`aviso_queue_paged{queue="${backlog.name}"}`)).toBeGreaterThanOrEqual(
      MESSAGES - WINDOW_BYTES / MESSAGE_BYTES,
    );
    expect(filled.get("aviso_queue_paged_bytes")).toBeGreaterThan(3 * WINDOW_BYTES);
    expect((await getQueue(alice, backlog.name)).depth).toBe(MESSAGES);

    const seen: number[] = [];
    // Bounded: each pass takes at least one message unless the queue is empty.
    for (let pass = 0; pass < MESSAGES * 2 && seen.length < MESSAGES; pass += 1) {
      const got = await receive(alice, backlog.name, { max: 16, waitMs: 2000 });
      for (const delivery of got) {
        expect(delivery.deliveries).toBe(1);
        seen.push((delivery.payload as { n: number }).n);
      }
      if (got.length > 0)
        await ack(
          alice,
          backlog.name,
          got.map((delivery) => delivery.receipt),
        );
      if (pass % 4 === 0) await sample();
    }
    expect(seen).toEqual(Array.from({ length: MESSAGES }, (_, i) => i));
    expect(peak).toBeGreaterThan(WINDOW_BYTES / 2);
    expect(peak).toBeLessThanOrEqual(bound);
    expect(await receive(alice, backlog.name, { max: 16, waitMs: 0 })).toEqual([]);
    expect(await getQueue(alice, backlog.name)).toMatchObject({ depth: 0, inFlight: 0 });
    const drained = await scrape();
    expect(drained.get(`aviso_queue_paged{queue="${backlog.name}"}`)).toBe(0);
    expect(drained.get("aviso_queue_paged_bytes")).toBe(0);
    expect(drained.get("aviso_queue_memory_bytes")).toBe(0);
  });

  it("after a restart claims the queue with only its window in memory and drains the rest in order", async () => {
    const dir = await mkdtemp(join(tmpdir(), "aviso-backlog-"));
    const store =
      kind === "sqlite" ? `sqlite:${join(dir, "aviso.db")}` : await createTestDatabase("backlog_restart");
    const env = { ...settings, AVISO_TOKEN_SECRET: "backlog-restart-token-secret-0123456789" };
    let current: TestNode | undefined = await startTestNode({ store, env });
    try {
      const bob = (await newUser(current.url, "bob")).api;
      const queue = await createQueue(bob);
      const count = 160;
      for (let first = 0; first < count; first += BATCH) {
        const batch = Array.from({ length: BATCH }, (_, i) => ({ payload: { n: first + i, pad: PAD } }));
        await publishToQueue(bob, queue.name, batch);
      }
      await current.close();
      current = await startTestNode({ store, env });
      const again = new Api(current.url, bob.token);
      const metrics = new Api(current.url, METRICS_TOKEN);
      const held = async () =>
        samples((await metrics.get<string>("/metrics")).body).get("aviso_queue_memory_bytes") ?? 0;
      const seen: number[] = [];
      let peak = 0;
      for (let pass = 0; pass < count * 2 && seen.length < count; pass += 1) {
        const got = await receive(again, queue.name, { max: 16, waitMs: 2000 });
        peak = Math.max(peak, await held());
        for (const delivery of got) seen.push((delivery.payload as { n: number }).n);
        if (got.length > 0)
          await ack(
            again,
            queue.name,
            got.map((delivery) => delivery.receipt),
          );
      }
      expect(seen).toEqual(Array.from({ length: count }, (_, i) => i));
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(WINDOW_BYTES + MESSAGE_BYTES);
    } finally {
      await current?.close();
      if (kind === "mysql") await dropTestDatabase(store);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
