import type { Pool } from "mysql2/promise";

/**
 * Where MysqlClient gets the pool of the server to talk to: one fixed pool
 * for a single-host URL, or the current primary's pool for a host list
 * (mysql-failover.ts).
 */
export interface PoolSource {
  /** ping() also checks the server still takes writes (a host list must notice a demoted primary). */
  readonly checksWritable: boolean;
  /** The pool to use now; rejects with STORE_UNAVAILABLE when there is none. */
  acquire(action: string): Promise<Pool>;
  /**
   * A call on `pool` failed with `error`. True when `pool` is retired (now
   * or earlier): its failures then mean "unavailable", whatever mysql2 says.
   */
  failed(pool: Pool, error: unknown): boolean;
  close(): Promise<void>;
}

/** A single server: the pool reconnects by itself after the server comes back. */
export function fixedPoolSource(pool: Pool): PoolSource {
  return {
    checksWritable: false,
    acquire: () => Promise.resolve(pool),
    failed: () => false,
    close: () => pool.end(),
  };
}
