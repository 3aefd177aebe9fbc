import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.ts";
import { createLogger } from "../../src/log/logger.ts";
import { startNode } from "../../src/node.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function takenPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("startup in phases", () => {
  it("a start that fails after the store opened closes it and frees the data directory", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "aviso-phases-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const port = await takenPort();
    const config = loadConfig({
      argv: [],
      env: { AVISO_PORT: String(port), AVISO_DATA_DIR: dataDir, AVISO_LOG_LEVEL: "silent" },
    });
    await expect(startNode(config, createLogger(config))).rejects.toThrow();
    // The storage phase had locked the directory and opened the SQLite file; the failed edge phase undid both.
    expect(existsSync(join(dataDir, "aviso.db"))).toBe(true);
    expect(existsSync(join(dataDir, "aviso.lock"))).toBe(false);
  });

  it("reads its tunables from the config: a node starts with every one of them changed", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "aviso-phases-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const config = loadConfig({
      argv: [],
      env: {
        AVISO_PORT: "0",
        AVISO_DATA_DIR: dataDir,
        AVISO_LOG_LEVEL: "silent",
        AVISO_SQLITE_BUSY_TIMEOUT_MS: "1000",
        AVISO_STORE_BATCH_MAX_MESSAGES: "500",
        AVISO_USER_CACHE_MS: "1000",
        AVISO_PASSWORD_THREADS: "1",
        AVISO_IDEMPOTENCY_PURGE_MS: "5000",
        AVISO_CATALOG_CACHE_MS: "1000",
        AVISO_TOPIC_MEMORY_MESSAGES: "10",
        AVISO_TOPIC_RETENTION_INTERVAL_MS: "100",
      },
    });
    const node = await startNode(config, createLogger(config));
    cleanups.push(() => node.close());
    const health = await fetch(`${node.httpUrl}/readyz`);
    expect(health.status).toBe(200);
  });
});
