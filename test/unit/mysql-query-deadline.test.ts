import type { Pool, PoolConnection } from "mysql2/promise";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { MysqlClient } from "../../src/store/mysql/mysql-client.ts";
import { isPrimaryLost, isQueryTimeout } from "../../src/store/mysql/mysql-errors.ts";
import { createFailoverPoolSource } from "../../src/store/mysql/mysql-failover.ts";
import type { PoolSource } from "../../src/store/mysql/mysql-pool-source.ts";
import type { HostState } from "../../src/store/mysql/mysql-probe.ts";
import { parseMysqlUrl } from "../../src/store/mysql/mysql-url.ts";

/** A server that took the connection and went silent (SIGSTOP): no query is ever answered. */
function frozenPool() {
  const sent: string[] = [];
  let destroyed = 0;
  let released = 0;
  const never = (sql: string) => {
    sent.push(sql);
    return new Promise<never>(() => {});
  };
  const connection = {
    query: never,
    release: () => {
      released++;
    },
    destroy: () => {
      destroyed++;
    },
  };
  const pool = {
    query: never,
    getConnection: async () => connection as unknown as PoolConnection,
  };
  return {
    pool: pool as unknown as Pool,
    sent,
    destroyed: () => destroyed,
    released: () => released,
  };
}

/** A PoolSource handing out one pool and recording what it is told. */
function recordingSource(pool: Pool) {
  const failures: unknown[] = [];
  const source: PoolSource = {
    checksWritable: true,
    acquire: async () => pool,
    failed: (_pool, error) => {
      failures.push(error);
      return true;
    },
    close: async () => {},
  };
  return { source, failures };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("MysqlClient with a query deadline (a frozen server)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fails a transaction stuck on a silent server with STORE_UNAVAILABLE, destroys its connection without a ROLLBACK, and tells the source", async () => {
    const frozen = frozenPool();
    const { source, failures } = recordingSource(frozen.pool);
    const client = new MysqlClient(source, { queryTimeoutMs: 3000 });
    const outcome = rejection(
      client.transaction("commit", async (connection) => {
        await connection.query("START TRANSACTION");
        return "committed";
      }),
    );
    await vi.advanceTimersByTimeAsync(2999);
    expect(failures).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(AvisoError);
    expect((error as AvisoError).reason).toBe("STORE_UNAVAILABLE");
    expect(frozen.destroyed()).toBe(1);
    expect(frozen.released()).toBe(0);
    expect(frozen.sent).toEqual(["START TRANSACTION"]);
    expect(failures).toHaveLength(1);
    expect(isQueryTimeout(failures[0])).toBe(true);
    expect(isPrimaryLost(failures[0])).toBe(true);
  });

  it("bounds the wait for a pooled connection too (every one may be stuck on the frozen server)", async () => {
    const frozen = frozenPool();
    const late = { destroy: vi.fn(), release: vi.fn() };
    let hand: (connection: unknown) => void = () => {};
    const pool = {
      getConnection: () =>
        new Promise((resolve) => {
          hand = resolve;
        }),
    } as unknown as Pool;
    const { source, failures } = recordingSource(pool);
    const client = new MysqlClient(source, { queryTimeoutMs: 3000 });
    const outcome = rejection(client.transaction("commit", async () => "committed"));
    await vi.advanceTimersByTimeAsync(3000);
    expect(((await outcome) as AvisoError).reason).toBe("STORE_UNAVAILABLE");
    expect(failures.map(isQueryTimeout)).toEqual([true]);
    // A connection handed over after the deadline is nobody's: dropped, never used or pooled again.
    hand(late);
    await vi.advanceTimersByTimeAsync(0);
    expect(late.destroy).toHaveBeenCalledTimes(1);
    expect(late.release).not.toHaveBeenCalled();
    expect(frozen.sent).toEqual([]);
  });

  it("fails a single query stuck on a silent server with STORE_UNAVAILABLE and tells the source", async () => {
    const frozen = frozenPool();
    const { source, failures } = recordingSource(frozen.pool);
    const client = new MysqlClient(source, { queryTimeoutMs: 500 });
    const outcome = rejection(client.select("loadQueue", "SELECT 1"));
    await vi.advanceTimersByTimeAsync(500);
    const error = await outcome;
    expect((error as AvisoError).reason).toBe("STORE_UNAVAILABLE");
    expect(failures.map(isQueryTimeout)).toEqual([true]);
  });

  it("without a deadline keeps waiting (one host: the group committer's timeout bounds a commit)", async () => {
    const frozen = frozenPool();
    const { source, failures } = recordingSource(frozen.pool);
    const client = new MysqlClient(source);
    let settled = false;
    void client.select("loadQueue", "SELECT 1").finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(settled).toBe(false);
    expect(failures).toEqual([]);
  });
});

describe("failover pool source: a host dropped for a timeout", () => {
  const url = parseMysqlUrl("mysql://u:p@db0:3306,db1:3306,db2:3306/aviso");

  function source(states: Record<string, () => Promise<HostState>>) {
    const probed: string[] = [];
    const created: string[] = [];
    const pools = new Map<string, Pool>();
    const failover = createFailoverPoolSource(url, {
      poolSize: 1,
      createPool: (target) => {
        created.push(target.host);
        const pool = { end: async () => {} } as unknown as Pool;
        pools.set(target.host, pool);
        return pool;
      },
      probe: (target) => {
        probed.push(target.host);
        const state = states[target.host];
        return state === undefined ? Promise.resolve({ kind: "writable" }) : state();
      },
    });
    return { failover, probed, created, pools };
  }

  it("is tried last in the next search, which does not wait for its probe", async () => {
    let frozen = false;
    const { failover, created, pools } = source({
      // Frozen: its probe never answers.
      db0: () => (frozen ? new Promise<never>(() => {}) : Promise.resolve({ kind: "writable" })),
    });
    const first = await failover.acquire("commit");
    expect(created).toEqual(["db0"]);
    frozen = true;
    const timedOut = Object.assign(new Error("no answer"), { code: "PROTOCOL_SEQUENCE_TIMEOUT" });
    expect(failover.failed(first, timedOut)).toBe(true);
    const next = await failover.acquire("commit");
    expect(created).toEqual(["db0", "db1"]);
    expect(next).toBe(pools.get("db1"));
  });

  it("keeps list order after a host lost for another reason (a reset connection)", async () => {
    let down = false;
    const { failover, created } = source({
      db0: () =>
        Promise.resolve(down ? { kind: "unreachable", error: new Error("refused") } : { kind: "writable" }),
    });
    const first = await failover.acquire("commit");
    down = true;
    expect(failover.failed(first, Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toBe(true);
    down = false;
    await failover.acquire("commit");
    // Back at once, and first in the list again: every broker converges on the same node.
    expect(created).toEqual(["db0", "db0"]);
  });

  it("stays behind the others: a later timeout elsewhere does not send the store back to it first", async () => {
    const { failover, created, probed } = source({});
    const timedOut = () => Object.assign(new Error("no answer"), { code: "PROTOCOL_SEQUENCE_TIMEOUT" });
    const first = await failover.acquire("commit");
    failover.failed(first, timedOut());
    const second = await failover.acquire("commit");
    failover.failed(second, timedOut());
    const third = await failover.acquire("commit");
    failover.failed(third, Object.assign(new Error("gone"), { code: "ECONNRESET" }));
    await failover.acquire("commit");
    // db0 froze, then db1: db2 first, then db0, then db1 (the most recent timeout last).
    expect(created).toEqual(["db0", "db1", "db2", "db2"]);
    expect(probed.slice(-3)).toEqual(["db2", "db0", "db1"]);
  });
});
