import type { Pool } from "mysql2/promise";
import { AvisoError } from "../../errors/aviso-error.ts";
import { isPrimaryLost, isQueryTimeout } from "./mysql-errors.ts";
import type { PoolSource } from "./mysql-pool-source.ts";
import { describeHost, errorLabel, type HostState, probeHost } from "./mysql-probe.ts";
import { hostLabel, type MysqlHost, type MysqlTarget, type MysqlUrl, targetOf } from "./mysql-url.ts";

/** How a host list looks for its writable server (the storeFailover* settings). */
export interface MysqlFailoverTimings {
  /** Longest one probe (connect + one query) may take. Default 2 s. */
  probeTimeoutMs?: number;
  /** Wait after a search found no writable server; doubles per failed search up to maxRetryMs. Default 100 ms. */
  minRetryMs?: number;
  /** Default 1 s: a promoted replica is found at most this long after it takes writes (plus one probe). */
  maxRetryMs?: number;
}

export interface FailoverOptions extends MysqlFailoverTimings {
  poolSize: number;
  createPool: (target: MysqlTarget, poolSize: number) => Pool;
  probe?: (target: MysqlTarget, timeoutMs: number) => Promise<HostState>;
  now?: () => number;
}

/**
 * A host list (`mysql://u:p@primary,replica/db`): the store writes to the
 * first host that answers and is not read-only. When that server goes away
 * or turns read-only, its pool is dropped and the next call searches the
 * list again, in order. Searches are spaced by a capped exponential backoff;
 * between them every call fails at once with STORE_UNAVAILABLE (naming what
 * each host was found to be), so nothing hangs while no primary exists, and
 * the store carries on by itself once a replica is promoted. The database
 * replicates; this only finds the server that currently takes writes.
 *
 * A server dropped because a call to it timed out (frozen: its sockets stay
 * open, its probe would only time out too) is tried last from then on (the
 * most recently timed-out last of all), and a search takes the first
 * writable host of that order as soon as every host before it has answered,
 * without waiting for the frozen one's probe. Every broker sees the same
 * freeze, so they still agree on one node; and one more timeout elsewhere
 * does not send a broker back to wait on the frozen node's probe.
 */
export function createFailoverPoolSource(url: MysqlUrl, options: FailoverOptions): PoolSource {
  return new FailoverPoolSource(url, options);
}

class FailoverPoolSource implements PoolSource {
  readonly checksWritable = true;
  readonly #url: MysqlUrl;
  readonly #options: FailoverOptions;
  readonly #now: () => number;
  #current: { pool: Pool; host: MysqlHost } | undefined;
  /** Hosts dropped for a timeout, the most recent last: searched after the others, in this order. */
  #stalled: MysqlHost[] = [];
  #search: Promise<Pool> | undefined;
  readonly #retired = new WeakSet<Pool>();
  #failedSearches = 0;
  #retryAt = 0;
  #lastProblem = "not connected yet";
  #closed = false;

  constructor(url: MysqlUrl, options: FailoverOptions) {
    this.#url = url;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  acquire(action: string): Promise<Pool> {
    if (this.#closed)
      return Promise.reject(new AvisoError("STORE_UNAVAILABLE", `MySQL store is closed (${action})`));
    if (this.#current !== undefined) return Promise.resolve(this.#current.pool);
    // Calls during a search share it: it is bounded by one probe timeout.
    if (this.#search !== undefined) return this.#search;
    const waitMs = this.#retryAt - this.#now();
    if (waitMs > 0) {
      return Promise.reject(
        new AvisoError(
          "STORE_UNAVAILABLE",
          `No writable MySQL server for ${action}: ${this.#lastProblem}; next search in ${waitMs} ms`,
        ),
      );
    }
    const search = this.#findPrimary(action);
    this.#search = search;
    const clear = () => {
      if (this.#search === search) this.#search = undefined;
    };
    search.then(clear, clear);
    return search;
  }

  failed(pool: Pool, error: unknown): boolean {
    if (this.#retired.has(pool)) return true;
    const current = this.#current;
    if (current === undefined || current.pool !== pool || !isPrimaryLost(error)) return false;
    if (isQueryTimeout(error))
      this.#stalled = [...this.#stalled.filter((host) => !sameHost(host, current.host)), current.host];
    this.#retire(`${hostLabel(current.host)} stopped taking writes (${errorLabel(error)})`);
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const current = this.#current;
    this.#current = undefined;
    if (current !== undefined) {
      this.#retired.add(current.pool);
      await current.pool.end();
    }
  }

  async #findPrimary(action: string): Promise<Pool> {
    const timeoutMs = this.#options.probeTimeoutMs ?? 2000;
    const probe = this.#options.probe ?? probeHost;
    const stalled = this.#stalled;
    const order = [
      ...this.#url.hosts.filter((host) => !stalled.some((other) => sameHost(host, other))),
      ...stalled,
    ];
    const targets = order.map((host) => targetOf(this.#url, host));
    // All at once, then the first writable in that order: one probe timeout, not one per host.
    const probes = targets.map((target) => probe(target, timeoutMs));
    const states: HostState[] = [];
    let target: MysqlTarget | undefined;
    for (const [index, pending] of probes.entries()) {
      const state = await pending;
      states.push(state);
      if (state.kind === "writable") {
        target = targets[index];
        break;
      }
    }
    if (this.#closed) throw new AvisoError("STORE_UNAVAILABLE", `MySQL store is closed (${action})`);
    if (target === undefined) {
      this.#failedSearches++;
      const minMs = this.#options.minRetryMs ?? 100;
      const maxMs = this.#options.maxRetryMs ?? 1000;
      this.#retryAt = this.#now() + Math.min(maxMs, minMs * 2 ** (this.#failedSearches - 1));
      this.#lastProblem = targets.map((t, i) => describeHost(t, states[i] as HostState)).join(", ");
      throw new AvisoError(
        "STORE_UNAVAILABLE",
        `No writable MySQL server for ${action}: ${this.#lastProblem}`,
      );
    }
    const pool = this.#options.createPool(target, this.#options.poolSize);
    this.#current = { pool, host: { host: target.host, port: target.port } };
    this.#failedSearches = 0;
    this.#retryAt = 0;
    return pool;
  }

  #retire(problem: string): void {
    const current = this.#current;
    if (current === undefined) return;
    this.#current = undefined;
    this.#retired.add(current.pool);
    this.#lastProblem = problem;
    // Search again at the next call: a connection blip may find the same server back at once.
    this.#failedSearches = 0;
    this.#retryAt = 0;
    // Not awaited: connections to a dead server may take their time to notice.
    current.pool.end().catch(() => undefined);
  }
}

function sameHost(a: MysqlHost, b: MysqlHost): boolean {
  return a.host === b.host && a.port === b.port;
}
