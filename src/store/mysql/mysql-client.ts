import mysql, {
  format,
  type Pool,
  type PoolConnection,
  type ResultSetHeader,
  type RowDataPacket,
  type SqlValue,
} from "mysql2/promise";
import { AvisoError } from "../../errors/aviso-error.ts";
import type { Reason } from "../../errors/reasons.ts";
import { isDeadlock, isDuplicateKey, isQueryTimeout, queryTimeout, toStoreError } from "./mysql-errors.ts";
import { detectFenceMode } from "./mysql-fence-mode.ts";
import type { PoolSource } from "./mysql-pool-source.ts";
import { errorLabel } from "./mysql-probe.ts";
import type { MysqlTarget } from "./mysql-url.ts";

/**
 * A deadlock rolls the whole transaction back, so it is safe to run again;
 * on Galera it is also how a failed certification (a conflicting write
 * committed on another node first) is reported. Nothing of it was
 * committed, so nothing was acknowledged: the batch runs again, re-reading
 * its epochs. With one commit in flight per lane it runs before the next
 * one starts; with a commit pipeline it may land after a later batch of the
 * same queue, which is why commits only ever raise heads, cursors and
 * delivery counts (GREATEST, mysql-commit.ts) and answers stay in order.
 */
const deadlockAttempts = 4;
/** Pause before a retry, times the attempt, plus jitter: two nodes retrying at once would collide again. */
const deadlockBackoffMs = 5;

/** Settings every pooled session gets. */
export interface MysqlSessionOptions {
  /**
   * MariaDB ends a transaction that sends nothing for this long, releasing
   * its row locks: a serving node frozen mid-commit (SIGSTOP, a VM stall) must not
   * hold a queue's row until innodb_lock_wait_timeout (50 s) while its
   * successor waits to claim it. Aviso's transactions never idle between
   * statements for more than a round trip. 0: off. MySQL has no equivalent.
   */
  idleTransactionTimeoutSec?: number;
}

/** mysql2's queryFormat: format(sql, values) as mysql2 would, but no scan when there are no values. */
export function formatUnlessNoValues(
  this: { config: { stringifyObjects?: boolean; timezone?: string } },
  sql: string,
  values: unknown,
): string {
  if (values === undefined || (Array.isArray(values) && values.length === 0)) return sql;
  return format(sql, values as SqlValue[], this.config.stringifyObjects, this.config.timezone);
}

/** Creates the pool every MySQL store query goes through. */
export function createMysqlPool(
  target: MysqlTarget,
  poolSize: number,
  session: MysqlSessionOptions = {},
): Pool {
  const idleSec = Math.trunc(session.idleTransactionTimeoutSec ?? 0);
  const pool = mysql.createPool({
    ...target,
    connectionLimit: poolSize,
    maxIdle: poolSize,
    waitForConnections: true,
    queueLimit: 0,
    connectTimeout: 5000,
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    charset: "utf8mb4_unicode_ci",
    // commit() sends its statements in one round trip; every value goes through format() escaping.
    multipleStatements: true,
    // No call-site stack captured per query (mysql2's default): it cost ~3–5 % of a serving node's CPU
    // under load, and our errors carry the action they failed in instead.
    trace: false,
    // mysql2 runs every query text through format(), which scans all of it for "?" even with no
    // values: ~3 % of a serving node's CPU on a commit's ~300 KB of already-formatted text.
    // Text with no values goes out as is; with values, format() as before.
    queryFormat: formatUnlessNoValues,
  });
  // Every pooled session reads committed data: fewer gap locks between nodes
  // committing to different queues. Queued before any query of ours.
  // (The core pool's event: mysql2's promise typings claim a promise connection, but it is the callback one.)
  pool.pool.on("connection", (connection) => {
    connection.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", () => {
      // A failure here means the connection is broken; the next query on it reports that.
    });
    // Galera: reads (and START TRANSACTION) wait until this node applied every
    // write committed anywhere in the cluster before they began, so a new serving node
    // loading a queue sees all its predecessor committed, whichever node that
    // was. Inert on a server without Galera. MariaDB-only syntax, as an
    // executable comment: MySQL sees an empty statement and refuses it, harmlessly.
    connection.query("/*M!100400 SET SESSION wsrep_sync_wait = 1 */", () => {});
    if (idleSec > 0)
      connection.query(`/*M!100300 SET SESSION idle_transaction_timeout = ${idleSec} */`, () => {});
    // Galera or one server: decides the commit fence this connection uses (mysql-commit.ts).
    detectFenceMode(connection);
  });
  return pool;
}

export interface MysqlClientOptions {
  /** Hears of each transaction run again after a deadlock or failed certification. */
  onDeadlockRetry?: (action: string, attempt: number) => void;
  /**
   * Longest a query, or one attempt of a transaction, may wait for the
   * server's answer (migrations excepted); unset: no limit. For a host list:
   * a frozen server keeps its sockets open, so only a deadline tells the
   * source to move on. Past it the call fails with STORE_UNAVAILABLE — never
   * a success, although the server may still commit what it was sent (see
   * docs/architecture.md "A frozen Galera node") — its connection is
   * destroyed, not reused, and the source is told (a lost primary).
   */
  queryTimeoutMs?: number;
}

/**
 * The pool seen through the Store contract: every failure leaves as an
 * AvisoError, and a broken connection is dropped instead of reused, which is
 * what lets the pool heal by itself after the server restarts. With a host
 * list the pool is the current primary's, and failures are reported back to
 * the source so it can move to another server.
 */
export class MysqlClient {
  readonly #source: PoolSource;
  #closed = false;

  readonly #onDeadlockRetry: ((action: string, attempt: number) => void) | undefined;
  readonly #queryTimeoutMs: number | undefined;

  constructor(source: PoolSource, options: MysqlClientOptions = {}) {
    this.#source = source;
    this.#onDeadlockRetry = options.onDeadlockRetry;
    this.#queryTimeoutMs = options.queryTimeoutMs;
  }

  checkOpen(action: string): void {
    // mysql2 reports a closed pool with a bare Error; decide it here instead of parsing its message.
    if (this.#closed) throw new AvisoError("STORE_UNAVAILABLE", `MySQL store is closed (${action})`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#source.close();
  }

  /** Runs `work` on the current pool; its failures become AvisoErrors (`duplicate` for a duplicate key, when given). */
  async withPool<T>(action: string, work: (pool: Pool) => Promise<T>, duplicate?: Reason): Promise<T> {
    this.checkOpen(action);
    const pool = await this.#source.acquire(action);
    try {
      return await work(pool);
    } catch (error) {
      if (duplicate !== undefined && isDuplicateKey(error)) {
        throw new AvisoError(duplicate, undefined, { cause: error });
      }
      throw this.#failure(pool, error, action);
    }
  }

  select<T>(action: string, sql: string, values: unknown[] = []): Promise<T[]> {
    return this.withPool(action, async (pool) => {
      const [rows] = await this.#bounded(action, pool.query<RowDataPacket[]>(sql, values));
      // Row shapes are fixed by our own SELECT column lists.
      return rows as unknown as T[];
    });
  }

  /** Runs one statement; a duplicate key becomes `duplicate` when given. */
  write(action: string, sql: string, values: unknown[], duplicate?: Reason): Promise<ResultSetHeader> {
    return this.withPool(
      action,
      async (pool) => {
        const [result] = await this.#bounded(action, pool.query<ResultSetHeader>(sql, values));
        return result;
      },
      duplicate,
    );
  }

  /** A round trip; with a host list also a check that the server still takes writes (for /readyz). */
  ping(): Promise<void> {
    if (!this.#source.checksWritable) return this.select("ping", "SELECT 1").then(() => undefined);
    return this.withPool("ping", async (pool) => {
      const [rows] = await this.#bounded(
        "ping",
        pool.query<RowDataPacket[]>("SELECT @@global.read_only AS read_only"),
      );
      if (Number(rows[0]?.read_only ?? 1) !== 0) throw readOnlyAnswer();
    });
  }

  /** Runs `work` (which begins and commits) on one pooled connection, rolling back on failure and retrying deadlocks. */
  async transaction<T>(action: string, work: (connection: PoolConnection) => Promise<T>): Promise<T> {
    this.checkOpen(action);
    for (let attempt = 1; ; attempt++) {
      const pool = await this.#source.acquire(action);
      // One deadline for the attempt, the wait for a pooled connection included: on a
      // frozen server every pooled connection may be stuck, and the queue for one never moves.
      let connection: PoolConnection | undefined;
      let expired = false;
      const attemptWork = async () => {
        const taken = await pool.getConnection();
        if (expired) {
          taken.destroy();
          throw queryTimeout(action, this.#queryTimeoutMs ?? 0);
        }
        connection = taken;
        return work(taken);
      };
      try {
        const result = await this.#bounded(action, attemptWork(), () => {
          expired = true;
          connection?.destroy();
        });
        connection?.release();
        return result;
      } catch (error) {
        const taken = connection as PoolConnection | undefined;
        if (taken === undefined) throw this.#failure(pool, error, action);
        // Timed out: the connection is destroyed already (a ROLLBACK would queue behind the stuck query).
        if (!isQueryTimeout(error)) await abandon(taken);
        if (isDeadlock(error) && attempt < deadlockAttempts) {
          this.#onDeadlockRetry?.(action, attempt);
          await new Promise((resolve) =>
            setTimeout(resolve, deadlockBackoffMs * attempt * (1 + Math.random())),
          );
          continue;
        }
        throw this.#failure(pool, error, action);
      }
    }
  }

  /**
   * `work`, failing with a query timeout once queryTimeoutMs has passed
   * (after `onExpiry`, which drops the connection `work` is stuck on).
   * A late answer of `work` is ignored.
   */
  #bounded<T>(action: string, work: Promise<T>, onExpiry?: () => void): Promise<T> {
    const timeoutMs = this.#queryTimeoutMs;
    if (timeoutMs === undefined) return work;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onExpiry?.();
        reject(queryTimeout(action, timeoutMs));
      }, timeoutMs);
    });
    work.catch(() => undefined);
    return Promise.race([work, expired]).finally(() => clearTimeout(timer));
  }

  #failure(pool: Pool, error: unknown, action: string): AvisoError {
    if (error instanceof AvisoError) return error;
    if (this.#source.failed(pool, error)) {
      // Whatever mysql2 said ("Pool is closed", a connection ended under a query), the server is gone for us.
      return new AvisoError(
        "STORE_UNAVAILABLE",
        `MySQL primary lost during ${action} (${errorLabel(error)})`,
        {
          cause: error,
        },
      );
    }
    return toStoreError(error, action);
  }
}

/** What a read-only server would answer a write with: the ping reports it the same way. */
function readOnlyAnswer(): Error {
  return Object.assign(new Error("The server is read-only"), { code: "ER_READ_ONLY_MODE", errno: 1836 });
}

/** Rolls back and returns the connection, or drops it if it is broken. */
async function abandon(connection: PoolConnection): Promise<void> {
  try {
    await connection.query("ROLLBACK");
    connection.release();
  } catch {
    connection.destroy();
  }
}
