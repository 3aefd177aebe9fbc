import { AvisoError } from "../../errors/aviso-error.ts";

/*
 * mysql2 failures classified by errno (server errors) and code (client and
 * socket errors), never by message text. Server errnos:
 * https://mariadb.com/kb/en/mariadb-error-codes/
 */

interface DriverError {
  code?: unknown;
  errno?: unknown;
  fatal?: unknown;
}

function driverError(error: unknown): DriverError | undefined {
  return typeof error === "object" && error !== null ? (error as DriverError) : undefined;
}

const ER_DUP_ENTRY = 1062;
const ER_DUP_ENTRY_WITH_KEY_NAME = 1586;
/** Also how Galera reports a transaction that failed certification or was aborted by a replicated one. */
export const ER_LOCK_DEADLOCK = 1213;
/** Galera: "WSREP has not yet prepared node for application use" — the node is not in a primary component, or not synced. */
const ER_UNKNOWN_COM_ERROR = 1047;

/** A PRIMARY KEY or UNIQUE constraint rejected the row. */
export function isDuplicateKey(error: unknown): boolean {
  const errno = driverError(error)?.errno;
  return errno === ER_DUP_ENTRY || errno === ER_DUP_ENTRY_WITH_KEY_NAME;
}

export function isDeadlock(error: unknown): boolean {
  return driverError(error)?.errno === ER_LOCK_DEADLOCK;
}

/** mysql2's code for a query that got no answer in time; also what MysqlClient's own deadline reports. */
const QUERY_TIMEOUT = "PROTOCOL_SEQUENCE_TIMEOUT";

/**
 * The error a store call that outlived its deadline fails with: the server
 * kept the connection open but did not answer (frozen, or cut off behind a
 * silent network). Classified as unavailable and as a lost primary.
 */
export function queryTimeout(action: string, timeoutMs: number): Error {
  return Object.assign(new Error(`no answer to ${action} within ${timeoutMs} ms`), { code: QUERY_TIMEOUT });
}

export function isQueryTimeout(error: unknown): boolean {
  return driverError(error)?.code === QUERY_TIMEOUT;
}

// Socket-level and driver-protocol failures: the connection is gone.
const unavailableCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOENT",
  "PROTOCOL_CONNECTION_LOST",
  QUERY_TIMEOUT,
  "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR",
  "PROTOCOL_ENQUEUE_AFTER_QUIT",
]);

// Server answers that mean "not now", not "your request is wrong": retrying
// later (or against the new primary) can succeed, and nothing was committed.
const unavailableErrnos = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  ER_UNKNOWN_COM_ERROR,
  1044, // ER_DBACCESS_DENIED_ERROR
  1045, // ER_ACCESS_DENIED_ERROR
  1049, // ER_BAD_DB_ERROR
  1053, // ER_SERVER_SHUTDOWN
  // ER_ERROR_DURING_COMMIT: on Galera, "… provider status: Not connected to Primary Component"
  // (the node lost the primary component mid-statement; nothing was committed).
  1180,
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1205, // ER_LOCK_WAIT_TIMEOUT
  ER_LOCK_DEADLOCK,
  1290, // ER_OPTION_PREVENTS_STATEMENT: --read-only (a replica, or a primary mid-failover)
  1317, // ER_QUERY_INTERRUPTED: killed by a shutdown
  1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
  1836, // ER_READ_ONLY_MODE
  1927, // ER_CONNECTION_KILLED (MariaDB)
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  3101, // ER_TRANSACTION_ROLLBACK_DURING_COMMIT (MySQL Group Replication conflict: rolled back)
  4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
]);

// Answers after which this server is no primary to write to: it refuses
// writes (read-only: a replica, or a primary being demoted) or went away.
const lostPrimaryErrnos = new Set([
  ER_UNKNOWN_COM_ERROR,
  1053, // ER_SERVER_SHUTDOWN
  1290, // ER_OPTION_PREVENTS_STATEMENT (--read-only)
  1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
  1836, // ER_READ_ONLY_MODE
  1927, // ER_CONNECTION_KILLED
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
]);

/**
 * True when the server a failure came from should no longer be written to:
 * the connection is gone or the server is read-only. Not for busy answers
 * (too many connections, lock wait timeouts), which say nothing about it.
 */
export function isPrimaryLost(error: unknown): boolean {
  const e = driverError(error);
  if (e === undefined) return false;
  if (e.fatal === true) return true;
  if (typeof e.code === "string" && unavailableCodes.has(e.code)) return true;
  return typeof e.errno === "number" && lostPrimaryErrnos.has(e.errno);
}

/** True when the failure says the database cannot be reached or used right now. */
export function isUnavailable(error: unknown): boolean {
  const e = driverError(error);
  if (e === undefined) return false;
  if (e.fatal === true) return true;
  if (typeof e.code === "string" && unavailableCodes.has(e.code)) return true;
  return typeof e.errno === "number" && unavailableErrnos.has(e.errno);
}

/** Normalises a failure of `action` into the AvisoError the Store contract promises. */
export function toStoreError(error: unknown, action: string): AvisoError {
  if (error instanceof AvisoError) return error;
  if (isUnavailable(error)) {
    return new AvisoError("STORE_UNAVAILABLE", `MySQL store unavailable during ${action}`, { cause: error });
  }
  return new AvisoError("INTERNAL", `MySQL store failed during ${action}`, { cause: error });
}
