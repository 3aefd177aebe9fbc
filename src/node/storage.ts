import type { Config } from "../config/schema.ts";
import { logEvents } from "../log/events.ts";
import type { Logger } from "../log/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Clock } from "../shared/clock.ts";
import { createGroupCommitter, type GroupCommitter } from "../store/group-commit.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";
import { lockDataDir } from "./data-dir-lock.ts";

export type StorageSettings = Pick<
  Config,
  | "store"
  | "dataDir"
  | "sqliteBusyTimeoutMs"
  | "sqliteCommitThread"
  | "storeCommitLanes"
  | "storeCommitPipeline"
  | "storePreparedInserts"
  | "storeCommitThread"
  | "storeIdleTransactionTimeoutSec"
  | "storeQueryTimeoutMs"
  | "storeFailoverProbeTimeoutMs"
  | "storeFailoverMinRetryMs"
  | "storeFailoverMaxRetryMs"
  | "storeBatchMaxMessages"
  | "idempotencyPurgeMs"
>;

export interface Storage {
  readonly store: Store;
  readonly committer: GroupCommitter;
  /** Refuses new writes (SHUTTING_DOWN) and commits what is queued; the store stays open. */
  drain(): Promise<void>;
  /** Closes the store and releases the data directory (after drain). */
  close(): Promise<void>;
}

/**
 * Phase 2: the data directory (one node per directory), the store with its
 * schema migrated, the group committer in front of it, and the purge of
 * expired idempotency records.
 */
export async function openStorage(
  config: StorageSettings,
  metrics: Metrics,
  log: Logger,
  clock: Clock,
): Promise<Storage> {
  const dataDirLock = lockDataDir(config.dataDir);
  let store: Store;
  try {
    store = await openStore(config.store, config.dataDir, {
      sqliteBusyTimeoutMs: config.sqliteBusyTimeoutMs,
      sqliteCommitThread: config.sqliteCommitThread,
      mysqlIdleTransactionTimeoutSec: config.storeIdleTransactionTimeoutSec,
      mysqlQueryTimeoutMs: config.storeQueryTimeoutMs,
      mysqlPreparedInserts: config.storePreparedInserts,
      mysqlCommitThread: config.storeCommitThread,
      mysqlFailover: {
        probeTimeoutMs: config.storeFailoverProbeTimeoutMs,
        minRetryMs: config.storeFailoverMinRetryMs,
        maxRetryMs: config.storeFailoverMaxRetryMs,
      },
    });
  } catch (error) {
    dataDirLock.release();
    throw error;
  }
  logEvents.storeConnected(log, { store: store.kind });
  const committer = createGroupCommitter(store, {
    maxBatchMessages: config.storeBatchMaxMessages,
    // better-sqlite3 commits synchronously: lanes would only take turns.
    lanes: store.kind === "mysql" ? config.storeCommitLanes : 1,
    pipeline: store.kind === "mysql" ? config.storeCommitPipeline : 1,
    onBatch: (batch) => {
      metrics.storeBatchOps.observe(batch.ops);
      metrics.storeBatchMessages.observe(batch.rows);
      metrics.storeCommitSeconds.observe(batch.durationMs / 1000);
    },
  });
  const purgeTimer = setInterval(() => {
    store.purgeIdempotency(clock.now()).catch((err: unknown) => logEvents.storeUnavailable(log, { err }));
  }, config.idempotencyPurgeMs);
  purgeTimer.unref();
  return {
    store,
    committer,
    drain: () => committer.close(),
    async close() {
      clearInterval(purgeTimer);
      await store.close();
      dataDirLock.release();
    },
  };
}
