import { isAbsolute, join } from "node:path";
import type { MysqlFailoverTimings } from "./mysql/mysql-failover.ts";
import { createMysqlStore } from "./mysql/mysql-store.ts";
import { createSqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./store.ts";

/**
 * Where the store lives, decided from the configured URL:
 * `sqlite:` (→ <dataDir>/aviso.db), `sqlite:/abs/file.db`, `sqlite:relative.db`
 * (relative to dataDir), or `mysql://user:password@host:port/database`.
 */
export function resolveStoreUrl(
  url: string,
  dataDir: string,
): { kind: "sqlite"; path: string } | { kind: "mysql"; url: string } {
  if (url.startsWith("mysql://")) return { kind: "mysql", url };
  if (url.startsWith("sqlite:")) {
    // Accept sqlite:///abs/path too, the spelling URL-minded users reach for.
    const rest = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (rest === "") return { kind: "sqlite", path: join(dataDir, "aviso.db") };
    return { kind: "sqlite", path: isAbsolute(rest) ? rest : join(dataDir, rest) };
  }
  throw new Error(
    `Unsupported store URL "${redact(url)}": use sqlite: (embedded, under the data directory), ` +
      "sqlite:/path/to/file.db, or mysql://user:password@host:port/database",
  );
}

/** Opens the configured store and brings its schema up to date. */
export async function openStore(
  url: string,
  dataDir: string,
  options: {
    sqliteBusyTimeoutMs?: number;
    sqliteCommitThread?: boolean;
    mysqlIdleTransactionTimeoutSec?: number;
    /** With a host list only (MysqlStoreOptions.queryTimeoutMs). */
    mysqlQueryTimeoutMs?: number;
    /** MysqlStoreOptions.preparedInserts. */
    mysqlPreparedInserts?: boolean;
    /** MysqlStoreOptions.commitThread. */
    mysqlCommitThread?: boolean;
    /** With a host list only (MysqlStoreOptions.failover). */
    mysqlFailover?: MysqlFailoverTimings;
  } = {},
): Promise<Store> {
  const target = resolveStoreUrl(url, dataDir);
  const store =
    target.kind === "sqlite"
      ? await createSqliteStore({
          path: target.path,
          commitThread: options.sqliteCommitThread ?? true,
          ...(options.sqliteBusyTimeoutMs === undefined
            ? {}
            : { busyTimeoutMs: options.sqliteBusyTimeoutMs }),
        })
      : await createMysqlStore({
          url: target.url,
          session: { idleTransactionTimeoutSec: options.mysqlIdleTransactionTimeoutSec ?? 0 },
          preparedInserts: options.mysqlPreparedInserts ?? true,
          commitThread: options.mysqlCommitThread ?? true,
          ...(options.mysqlFailover === undefined ? {} : { failover: options.mysqlFailover }),
          ...(options.mysqlQueryTimeoutMs === undefined
            ? {}
            : { queryTimeoutMs: options.mysqlQueryTimeoutMs }),
        });
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** Never echo a password from a mistyped URL into logs. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@");
}
