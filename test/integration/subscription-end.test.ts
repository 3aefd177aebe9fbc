import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Catalog } from "../../src/app/catalog.ts";
import type { AppContext, Principal } from "../../src/app/context.ts";
import { EngineHost } from "../../src/app/engine-host.ts";
import { createLocalServingNodes } from "../../src/app/local-serving-nodes.ts";
import { createServices, type Services } from "../../src/app/services.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { createLogger } from "../../src/log/logger.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { systemClock } from "../../src/shared/clock.ts";
import { createGroupCommitter } from "../../src/store/group-commit.ts";
import { createSqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/store.ts";
import { eventually } from "../helpers/eventually.ts";

const alice: Principal = { username: "alice", tokenExpiresAt: Number.MAX_SAFE_INTEGER, operator: false };
const bob: Principal = { username: "bob", tokenExpiresAt: Number.MAX_SAFE_INTEGER, operator: false };

/**
 * SubscriptionService.end, the one way an access change ends a durable
 * subscription (docs/security.md S2, S3): the app services over a real SQLite
 * store and a standalone engine host, without the edge (end has no route).
 */
describe("SubscriptionService.end", () => {
  let dir: string;
  let store: Store;
  let host: EngineHost;
  let services: Services;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "aviso-subscription-end-"));
    store = await createSqliteStore({ path: join(dir, "aviso.db") });
    await store.migrate();
    const config = loadConfig({ argv: [], env: { AVISO_DATA_DIR: dir, AVISO_LOG_LEVEL: "silent" } });
    const committer = createGroupCommitter(store);
    host = new EngineHost({
      store,
      committer,
      clock: systemClock,
      settings: {
        idempotencyWindowMs: config.idempotencyWindowMs,
        maxBatchMessages: config.maxBatchMessages,
        topicMemoryMessages: 10_000,
        topicMemoryBytes: config.topicMemoryBytes,
        retentionIntervalMs: 1000,
      },
      servingNodes: () => servingNodes,
      onBackgroundError: () => {},
    });
    const servingNodes = createLocalServingNodes(host);
    const ctx = {
      config,
      store,
      catalog: new Catalog(store, systemClock, 60_000),
      servingNodes,
      clock: systemClock,
      // Listings seal their cursors with a key derived from it (src/app/list-page.ts).
      receiptKey: new Uint8Array(32),
      metrics: createMetrics(),
      log: createLogger(config),
      locate: () => ({ node: "n", httpUrl: "http://n" }),
    } as unknown as AppContext;
    services = createServices(ctx);
  });
  afterEach(async () => {
    host.close(new AvisoError("SHUTTING_DOWN"));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stops copying, lists the binding ended with the reason, and a new bind replaces it", async () => {
    await services.topics.create(alice, { name: "events" });
    await services.bindings.bind(bob, "events", { queue: "copies" });
    await services.topics.publish(alice, "events", [{ payload: 1 }]);
    await eventually(async () => {
      expect((await services.queues.get(bob, "copies")).depth).toBe(1);
    });

    expect(await services.bindings.end("events", "copies", "ACCESS_REVOKED")).toBe(true);
    expect((await services.bindings.list(alice, "events")).items).toMatchObject([
      { queue: "copies", state: "ended", endedReason: "ACCESS_REVOKED", endedAt: expect.any(Number) },
    ]);
    expect(await services.bindings.end("events", "copies", "ACCESS_REVOKED")).toBe(false);
    await services.topics.publish(alice, "events", [{ payload: 2 }]);
    // A witness bound now shows the copy after that publish has run.
    await services.bindings.bind(bob, "events", { queue: "witness" });
    await services.topics.publish(alice, "events", [{ payload: 3 }]);
    await eventually(async () => {
      expect((await services.queues.get(bob, "witness")).depth).toBe(1);
    });
    expect((await services.queues.get(bob, "copies")).depth).toBe(1);

    await services.bindings.bind(bob, "events", { queue: "copies" });
    await services.topics.publish(alice, "events", [{ payload: 4 }]);
    await eventually(async () => {
      expect((await services.queues.get(bob, "copies")).depth).toBe(2);
    });
    expect((await services.bindings.list(alice, "events")).items).toMatchObject([
      { queue: "copies", state: "active", endedReason: null },
      { queue: "witness", state: "active" },
    ]);
  });
});
