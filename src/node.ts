import { AccessWatch } from "./app/access-watch.ts";
import { BindingWatch } from "./app/binding-watch.ts";
import { Catalog } from "./app/catalog.ts";
import type { ClusterInfo } from "./app/cluster-info.ts";
import type { AppContext } from "./app/context.ts";
import { createCredentials } from "./app/credentials.ts";
import { EngineHost } from "./app/engine-host.ts";
import { createLocalOwners } from "./app/local-owners.ts";
import type { Owners } from "./app/owners.ts";
import { deriveReceiptKey } from "./app/receipts.ts";
import { createServices } from "./app/services.ts";
import { UserDirectory } from "./app/user-directory.ts";
import { createLoginLimiter } from "./auth/login-limiter.ts";
import { createPasswordPool } from "./auth/password-pool.ts";
import { createRegistrationLimiter } from "./auth/registration-limiter.ts";
import { createTokenService } from "./auth/tokens.ts";
import { ClusterRuntime } from "./cluster/cluster-runtime.ts";
import { resolveNodeId } from "./cluster/node-id.ts";
import { isLoopback } from "./config/cross-checks.ts";
import type { Config } from "./config/schema.ts";
import { resolveTokenSecret } from "./config/token-secret.ts";
import { startEdge } from "./edge/edge-server.ts";
import { isNativeUws } from "./edge/uws-native.ts";
import { AvisoError } from "./errors/aviso-error.ts";
import { logEvents } from "./log/events.ts";
import type { Logger } from "./log/logger.ts";
import { createMetrics } from "./metrics/metrics.ts";
import { lockDataDir } from "./node/data-dir-lock.ts";
import { type Clock, systemClock } from "./shared/clock.ts";
import { createGroupCommitter } from "./store/group-commit.ts";
import { openStore } from "./store/open-store.ts";

export const VERSION = "0.1.0";

export interface RunningNode {
  /** Base URL of the REST API, e.g. http://127.0.0.1:8080 (the WebSocket is at /v1/ws). */
  readonly httpUrl: string;
  readonly port: number;
  /** This node's id (cluster member id; "standalone" alone). */
  readonly nodeId: string;
  /** Graceful: refuse new work, hand over owned resources (cluster), flush commits, close sockets with 1001. */
  close(): Promise<void>;
}

/** How often expired idempotency records are deleted from the store. */
const IDEMPOTENCY_PURGE_MS = 60_000;
/** bcrypt workers: logins never block the event loop; two keep up with a login burst on two cores. */
const PASSWORD_THREADS = 2;
/** Definitions cached per node; changes made here invalidate at once (and are broadcast in a cluster). */
const CATALOG_TTL_MS = 5_000;
/** Users' token versions cached per node, like definitions: revocations invalidate at once and are broadcast (docs/security.md S9). */
const USER_CACHE_TTL_MS = 5_000;
const HOUR_MS = 3_600_000;

/**
 * Builds and starts a node: store, engines, REST and WebSocket on one port —
 * standalone, or a cluster member when `zk` is configured (then it also
 * serves peers over gRPC and owns a share of the resources).
 */
export async function startNode(
  config: Config,
  log: Logger,
  clock: Clock = systemClock,
): Promise<RunningNode> {
  const started = clock.now();
  const clustered = config.zk !== undefined;
  const nodeId = clustered ? await resolveNodeId(config) : (config.nodeId ?? "standalone");
  logEvents.nodeStarting(log, { nodeId, mode: clustered ? "cluster" : "standalone" });
  if (!isNativeUws()) {
    if (config.production)
      throw new Error("uWebSockets.js native binary did not load; refusing in production mode.");
    logEvents.uwsFallback(log);
  }
  if (config.tlsCert === undefined && !isLoopback(config.host))
    logEvents.plaintextBind(log, { host: config.host });
  const metrics = createMetrics();
  const dataDirLock = lockDataDir(config.dataDir);
  let store: Awaited<ReturnType<typeof openStore>>;
  try {
    store = await openStore(config.store, config.dataDir);
  } catch (error) {
    dataDirLock.release();
    throw error;
  }
  logEvents.storeConnected(log, { store: store.kind });
  const committer = createGroupCommitter(store, {
    maxBatchMessages: 10_000,
    onBatch: (batch) => {
      metrics.storeBatchOps.observe(batch.ops);
      metrics.storeBatchMessages.observe(batch.rows);
      metrics.storeCommitSeconds.observe(batch.durationMs / 1000);
    },
  });
  const catalog = new Catalog(store, clock, CATALOG_TTL_MS);
  const access = new AccessWatch(catalog, clock, log, config.accessRecheckMs);
  const userDirectory = new UserDirectory(store, clock, USER_CACHE_TTL_MS);
  // Durable subscriptions copied here (on their queues' owner) end once their access goes (S2, S3).
  const bindingWatch = new BindingWatch({
    catalog,
    users: userDirectory,
    store,
    clock,
    log,
    recheckMs: config.accessRecheckMs,
    copying: () => host.copying,
    end: async ({ topic, queue }) => {
      await services.subscriptions.end(topic, queue, "ACCESS_REVOKED");
    },
  });
  const passwords = createPasswordPool(PASSWORD_THREADS);
  let cluster: ClusterRuntime | null = null;
  const host: EngineHost = new EngineHost({
    store,
    committer,
    clock,
    settings: {
      idempotencyWindowMs: config.idempotencyWindowMs,
      maxStoredBytesPerUser: config.maxStoredBytesPerUser,
      maxBatchMessages: config.maxBatchMessages,
      topicMemoryMessages: 10_000,
      retentionIntervalMs: 1000,
    },
    owners: () => owners,
    onBackgroundError: (context, err) => logEvents.unexpectedError(log, { context, err }),
    onFenced: (kind, name, epoch) => logEvents.fenced(log, { kind, name, epoch }),
    onDeadLettersLost: (queue, count, why) => {
      metrics.deadLettersLost.inc({ reason: why }, count);
      logEvents.deadLettersLost(log, { queue, count, why });
    },
    onDropped: (queue, count, cause) => {
      metrics.messagesDropped.inc({ cause }, count);
      logEvents.messagesDropped(log, { queue, count, cause });
    },
    mayCopy: (pump) => bindingWatch.mayCopy(pump),
    ...(clustered ? { mayOwn: (kind, name) => cluster?.mayOwn(kind, name) === true } : {}),
  });
  if (clustered)
    cluster = new ClusterRuntime({ config, host, committer, catalog, userDirectory, clock, log });
  const owners: Owners = cluster?.owners ?? createLocalOwners(host);
  const tokenSecret = await resolveTokenSecret(config, (path) => logEvents.tokenSecretCreated(log, { path }));
  const ctx: AppContext = {
    config,
    store,
    catalog,
    access,
    owners,
    clock,
    tokens: createTokenService({ secret: tokenSecret, ttlMs: config.tokenTtlMs, clock }),
    receiptKey: deriveReceiptKey(tokenSecret),
    credentials: createCredentials(config, store, clock),
    passwords,
    loginLimiter: createLoginLimiter({
      maxFailures: config.loginMaxFailures,
      windowMs: config.loginWindowMs,
      clock,
    }),
    registrationLimiter: createRegistrationLimiter({
      limit: config.registrationsPerAddressPerHour,
      windowMs: HOUR_MS,
      clock,
    }),
    userDirectory,
    metrics,
    log,
    locate: (kind, name) => {
      if (cluster === null) return { node: nodeId, httpUrl };
      const owner = cluster.locate(kind, name);
      return { node: owner.id, httpUrl: owner.httpUrl };
    },
  };
  const services = createServices(ctx);
  metrics.setQueueStatsSource(() =>
    [...host.queueEngines].map((engine) => ({ queue: engine.name, ...engine.stats() })),
  );

  const scheme = config.tlsCert === undefined ? "http" : "https";
  const advertiseHost = config.advertiseHost ?? config.host;
  let httpUrl = "";
  let shuttingDown = false;
  const standaloneInfo: ClusterInfo = {
    mode: "standalone",
    get self() {
      return { id: nodeId, httpUrl, peerUrl: "" };
    },
    members() {
      return [this.self];
    },
    owned: () => ({ queues: [...host.queueEngines].map((engine) => engine.name), topics: host.topicNames }),
  };
  const edge = await startEdge({
    config,
    services,
    topics: owners.topics,
    clock,
    log,
    metrics,
    version: VERSION,
    cluster: cluster?.info() ?? standaloneInfo,
    isShuttingDown: () => shuttingDown,
    checkReady: async () => {
      if (shuttingDown) throw new AvisoError("SHUTTING_DOWN");
      await store.ping();
      if (cluster !== null && !cluster.isReady)
        throw new AvisoError("NOT_READY", "Not connected to ZooKeeper.");
    },
  });
  httpUrl = `${scheme}://${advertiseHost}:${edge.port}`;
  if (cluster !== null) {
    const peerPort = await cluster.listenPeers();
    await cluster.join({ id: nodeId, httpUrl, peerUrl: `${advertiseHost}:${peerPort}` });
  }
  access.start();
  bindingWatch.start();
  logEvents.nodeListening(log, { url: httpUrl });
  logEvents.nodeReady(log, { startupMs: clock.now() - started });

  const purgeTimer = setInterval(() => {
    store.purgeIdempotency(clock.now()).catch((err: unknown) => logEvents.storeUnavailable(log, { err }));
  }, IDEMPOTENCY_PURGE_MS);
  purgeTimer.unref();

  let closing: Promise<void> | undefined;
  return {
    httpUrl,
    port: edge.port,
    nodeId,
    close() {
      closing ??= (async () => {
        const closeStarted = clock.now();
        shuttingDown = true;
        clearInterval(purgeTimer);
        access.stop();
        bindingWatch.stop();
        edge.stopAccepting();
        edge.closeSockets();
        const shutdownError = new AvisoError("SHUTTING_DOWN");
        // A cluster node hands its resources over (flushing first) so the next owners take over at once.
        const handOver = cluster !== null ? cluster.close(shutdownError) : owners.close(shutdownError);
        await within(config.shutdownTimeoutMs, handOver, () =>
          logEvents.shutdownTimedOut(log, { timeoutMs: config.shutdownTimeoutMs, waitingFor: "handover" }),
        );
        await within(config.shutdownTimeoutMs, committer.close(), () =>
          logEvents.shutdownTimedOut(log, { timeoutMs: config.shutdownTimeoutMs, waitingFor: "commits" }),
        );
        await store.close();
        dataDirLock.release();
        await passwords.close();
        edge.close();
        logEvents.shutdownComplete(log, { durationMs: clock.now() - closeStarted });
      })();
      return closing;
    },
  };
}

async function within(timeoutMs: number, work: Promise<void>, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, timeoutMs);
  });
  await Promise.race([work, timeout]);
  clearTimeout(timer);
}
