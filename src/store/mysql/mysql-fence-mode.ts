import type { PoolConnection } from "mysql2/promise";

/**
 * Which commit fence a pooled connection may use (mysql-commit.ts): "shared"
 * only once the server answered that it is not a Galera node; a Galera node,
 * and any connection whose answer has not arrived, gets "exclusive".
 */
const sharedFenceServers = new WeakSet<object>();

/** The raw (callback) connection mysql2 hands to the pool's "connection" event. */
interface RawConnection {
  query(sql: string, callback: (error: unknown, rows: unknown) => void): unknown;
}

/** Asks the server behind a new pooled connection whether it runs Galera (wsrep_on). */
export function detectFenceMode(connection: RawConnection): void {
  connection.query("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'", (error, rows) => {
    if (error !== null && error !== undefined) return;
    const value = (rows as { Value?: unknown }[])[0]?.Value;
    // MySQL has no such variable; MariaDB without Galera answers OFF.
    if (value === undefined || String(value).toUpperCase() === "OFF") sharedFenceServers.add(connection);
  });
}

export function fenceModeOf(connection: PoolConnection): "shared" | "exclusive" {
  return sharedFenceServers.has(connection.connection) ? "shared" : "exclusive";
}
