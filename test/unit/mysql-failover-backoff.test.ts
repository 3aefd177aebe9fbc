import type { Pool } from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { createFailoverPoolSource } from "../../src/store/mysql/mysql-failover.ts";
import type { HostState } from "../../src/store/mysql/mysql-probe.ts";
import { parseMysqlUrl } from "../../src/store/mysql/mysql-url.ts";

/** A host list whose servers are all read-only until `promote()`; probes counted, time set by hand. */
function readOnlyCluster(timings: { minRetryMs: number; maxRetryMs: number; probeTimeoutMs: number }) {
  let now = 1_000;
  let writable = false;
  const probeTimeouts: number[] = [];
  const source = createFailoverPoolSource(parseMysqlUrl("mysql://u:p@a:3306,b:3306/db"), {
    poolSize: 1,
    ...timings,
    createPool: () => ({ end: async () => {} }) as unknown as Pool,
    probe: async (_target, timeoutMs): Promise<HostState> => {
      probeTimeouts.push(timeoutMs);
      return writable ? { kind: "writable" } : { kind: "read-only" };
    },
    now: () => now,
  });
  return {
    source,
    probes: () => probeTimeouts.length,
    probeTimeouts,
    advance: (ms: number) => {
      now += ms;
    },
    promote: () => {
      writable = true;
    },
  };
}

async function searched(cluster: ReturnType<typeof readOnlyCluster>): Promise<boolean> {
  const before = cluster.probes();
  await cluster.source.acquire("test").catch(() => {});
  return cluster.probes() > before;
}

describe("MySQL host list: the search for a writable server follows the storeFailover* timings", () => {
  it("waits minRetryMs after a failed search, doubles the wait per failure, caps it at maxRetryMs", async () => {
    const cluster = readOnlyCluster({ minRetryMs: 50, maxRetryMs: 120, probeTimeoutMs: 777 });
    expect(await searched(cluster)).toBe(true);
    cluster.advance(49);
    expect(await searched(cluster)).toBe(false);
    cluster.advance(1);
    expect(await searched(cluster)).toBe(true); // waited 50
    cluster.advance(99);
    expect(await searched(cluster)).toBe(false);
    cluster.advance(1);
    expect(await searched(cluster)).toBe(true); // waited 100
    cluster.advance(119);
    expect(await searched(cluster)).toBe(false);
    cluster.advance(1);
    expect(await searched(cluster)).toBe(true); // 200, capped at 120
    cluster.advance(120);
    expect(await searched(cluster)).toBe(true); // still capped
    expect(new Set(cluster.probeTimeouts)).toEqual(new Set([777]));
  });

  it("takes the promoted server at the next search", async () => {
    const cluster = readOnlyCluster({ minRetryMs: 50, maxRetryMs: 120, probeTimeoutMs: 500 });
    await searched(cluster);
    cluster.advance(50);
    cluster.promote();
    await expect(cluster.source.acquire("test")).resolves.toBeDefined();
  });
});
