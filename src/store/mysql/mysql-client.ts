import mysql, {
  type Pool,
  type PoolConnection,
  type ResultSetHeader,
  type RowDataPacket,
} from "mysql2/promise";
import { AvisoError } from "../../errors/aviso-error.ts";
import type { Reason } from "../../errors/reasons.ts";
import { isDeadlock, isDuplicateKey, toStoreError } from "./mysql-errors.ts";
import type { MysqlTarget } from "./mysql-url.ts";

/** A deadlock rolls the whole transaction back, so it is safe to run again. */
const deadlockAttempts = 3;

/** Creates the pool every MySQL store query goes through. */
export function createMysqlPool(target: MysqlTarget, poolSize: number): Pool {
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
  });
  // Every pooled session reads committed data: fewer gap locks between nodes
  // committing to different queues. Queued before any query of ours.
  // (The core pool's event: mysql2's promise typings claim a promise connection, but it is the callback one.)
  pool.pool.on("connection", (connection) => {
    connection.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", () => {
      // A failure here means the connection is broken; the next query on it reports that.
    });
  });
  return pool;
}

/**
 * The pool seen through the Store contract: every failure leaves as an
 * AvisoError, and a broken connection is dropped instead of reused, which is
 * what lets the pool heal by itself after the server restarts.
 */
export class MysqlClient {
  readonly pool: Pool;
  #closed = false;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  checkOpen(action: string): void {
    // mysql2 reports a closed pool with a bare Error; decide it here instead of parsing its message.
    if (this.#closed) throw new AvisoError("STORE_UNAVAILABLE", `MySQL store is closed (${action})`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end();
  }

  async select<T>(action: string, sql: string, values: unknown[] = []): Promise<T[]> {
    this.checkOpen(action);
    try {
      const [rows] = await this.pool.query<RowDataPacket[]>(sql, values);
      // Row shapes are fixed by our own SELECT column lists.
      return rows as unknown as T[];
    } catch (error) {
      throw toStoreError(error, action);
    }
  }

  /** Runs one statement; a duplicate key becomes `duplicate` when given. */
  async write(action: string, sql: string, values: unknown[], duplicate?: Reason): Promise<ResultSetHeader> {
    this.checkOpen(action);
    try {
      const [result] = await this.pool.query<ResultSetHeader>(sql, values);
      return result;
    } catch (error) {
      if (duplicate !== undefined && isDuplicateKey(error)) {
        throw new AvisoError(duplicate, undefined, { cause: error });
      }
      throw toStoreError(error, action);
    }
  }

  /** Runs `work` (which begins and commits) on one pooled connection, rolling back on failure and retrying deadlocks. */
  async transaction<T>(action: string, work: (connection: PoolConnection) => Promise<T>): Promise<T> {
    this.checkOpen(action);
    for (let attempt = 1; ; attempt++) {
      let connection: PoolConnection;
      try {
        connection = await this.pool.getConnection();
      } catch (error) {
        throw toStoreError(error, action);
      }
      try {
        const result = await work(connection);
        connection.release();
        return result;
      } catch (error) {
        await abandon(connection);
        if (isDeadlock(error) && attempt < deadlockAttempts) continue;
        throw toStoreError(error, action);
      }
    }
  }
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
