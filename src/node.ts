import uWS, { type TemplatedApp, type us_listen_socket } from "uWebSockets.js";
import { Catalog } from "./app/catalog.ts";
import type { AppContext } from "./app/context.ts";
import { EngineHost } from "./app/engine-host.ts";
import { createLocalOwners } from "./app/local-owners.ts";
import { createServices } from "./app/services.ts";
import { createLoginLimiter } from "./auth/login-limiter.ts";
import { createPasswordPool } from "./auth/password-pool.ts";
import { createTokenService } from "./auth/tokens.ts";
import { type Clock, systemClock } from "./broker/clock.ts";
import type { Config } from "./config/schema.ts";
import { resolveTokenSecret } from "./config/token-secret.ts";
import { mountRoutes } from "./edge/http/mount-routes.ts";
import type { AnyRoute } from "./edge/http/route.ts";
import { authRoutes } from "./edge/http/routes/auth-routes.ts";
import { operationRoutes } from "./edge/http/routes/operation-routes.ts";
import { queueRoutes } from "./edge/http/routes/queue-routes.ts";
import { topicRoutes } from "./edge/http/routes/topic-routes.ts";
import { isNativeUws } from "./edge/uws-native.ts";
import { TopicFanouts } from "./edge/ws/topic-fanouts.ts";
import { mountWebSocket } from "./edge/ws/ws-server.ts";
import { AvisoError } from "./errors/aviso-error.ts";
import { WsClose } from "./errors/ws-close.ts";
import { logEvents } from "./log/events.ts";
import type { Logger } from "./log/logger.ts";
import { createMetrics } from "./metrics/metrics.ts";
import { createGroupCommitter } from "./store/group-commit.ts";
import { openStore } from "./store/open-store.ts";

export const VERSION = "0.1.0";

export interface RunningNode {
  /** Base URL of the REST API, e.g. http://127.0.0.1:8080 (the WebSocket is at /v1/ws). */
  readonly httpUrl: string;
  readonly port: number;
  /** Graceful: refuse new work, flush commits, close sockets with 1001, close the store. */
  close(): Promise<void>;
}

/** How often expired idempotency records are deleted from the store. */
const IDEMPOTENCY_PURGE_MS = 60_000;
/** bcrypt workers: logins never block the event loop; two keep up with a login burst on two cores. */
const PASSWORD_THREADS = 2;
/** Definitions cached per node; changes made here invalidate at once. */
const CATALOG_TTL_MS = 5_000;

/** Builds and starts a standalone node: store, engines, REST and WebSocket on one port. */
export async function startNode(
  config: Config,
  log: Logger,
  clock: Clock = systemClock,
): Promise<RunningNode> {
  const started = clock.now();
  logEvents.nodeStarting(log, { nodeId: config.nodeId ?? "standalone", mode: "standalone", config: {} });
  if (!isNativeUws()) {
    if (config.production)
      throw new Error("uWebSockets.js native binary did not load; refusing in production mode.");
    logEvents.uwsFallback(log);
  }
  const metrics = createMetrics();
  const store = await openStore(config.store, config.dataDir);
  logEvents.storeConnected(log, { store: store.kind });
  const committer = createGroupCommitter(store, {
    maxBatchMessages: 10_000,
    onBatch: (batch) => {
      metrics.storeBatchOps.observe(batch.ops);
      metrics.storeBatchMessages.observe(batch.rows);
      metrics.storeCommitSeconds.observe(batch.durationMs / 1000);
    },
  });
  const tokens = createTokenService({
    secret: await resolveTokenSecret(config),
    ttlMs: config.tokenTtlMs,
    clock,
  });
  const catalog = new Catalog(store, clock, CATALOG_TTL_MS);
  const passwords = createPasswordPool(PASSWORD_THREADS);
  const host: EngineHost = new EngineHost({
    store,
    committer,
    clock,
    settings: {
      idempotencyWindowMs: config.idempotencyWindowMs,
      maxBatchMessages: config.maxBatchMessages,
      topicMemoryMessages: 10_000,
      retentionIntervalMs: 1000,
    },
    owners: () => owners,
    onBackgroundError: (context, err) => logEvents.unexpectedError(log, { context, err }),
  });
  const owners = createLocalOwners(host);
  const ctx: AppContext = {
    config,
    store,
    catalog,
    owners,
    clock,
    tokens,
    passwords,
    loginLimiter: createLoginLimiter({
      maxFailures: config.loginMaxFailures,
      windowMs: config.loginWindowMs,
      clock,
    }),
    metrics,
    log,
  };
  const services = createServices(ctx);
  metrics.setQueueStatsSource(() =>
    [...host.queueEngines].map((engine) => ({ queue: engine.name, ...engine.stats() })),
  );

  let shuttingDown = false;
  const app: TemplatedApp =
    config.tlsCert !== undefined && config.tlsKey !== undefined
      ? uWS.SSLApp({ cert_file_name: config.tlsCert, key_file_name: config.tlsKey })
      : uWS.App();
  const fanouts = new TopicFanouts(
    owners.topics,
    {
      publish: (channel, frame) => app.publish(channel, frame, false),
      subscriberCount: (channel) => app.numSubscribers(channel),
    },
    metrics,
    Math.max(1, Math.floor(config.slowConsumerBufferBytes / 2)),
  );
  const websockets = mountWebSocket(app, {
    services,
    fanouts,
    config,
    clock,
    log,
    metrics,
    isShuttingDown: () => shuttingDown,
  });
  const scheme = config.tlsCert === undefined ? "http" : "https";
  let port = config.port;
  const apiRoutes: AnyRoute[] = [...authRoutes(services), ...queueRoutes(services), ...topicRoutes(services)];
  const routes = [
    ...apiRoutes,
    ...operationRoutes({
      metrics,
      version: VERSION,
      apiRoutes: () => apiRoutes,
      checkReady: async () => {
        if (shuttingDown) throw new AvisoError("SHUTTING_DOWN");
        await store.ping();
      },
      cluster: {
        mode: "standalone",
        get self() {
          return {
            id: config.nodeId ?? "standalone",
            httpUrl: `${scheme}://${config.host}:${port}`,
            peerUrl: "",
          };
        },
        members() {
          return [this.self];
        },
        owned: () => ({
          queues: [...host.queueEngines].map((engine) => engine.name),
          topics: host.topicNames,
        }),
      },
    }),
  ];
  mountRoutes(app, routes, {
    config,
    users: services.users,
    log,
    metrics,
    isShuttingDown: () => shuttingDown,
  });

  const listenSocket = await listen(app, config.host, config.port);
  port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  const httpUrl = `${scheme}://${config.host}:${port}`;
  logEvents.nodeListening(log, { url: httpUrl });
  logEvents.nodeReady(log, { startupMs: clock.now() - started });

  const purgeTimer = setInterval(() => {
    store.purgeIdempotency(clock.now()).catch((err: unknown) => logEvents.storeUnavailable(log, { err }));
  }, IDEMPOTENCY_PURGE_MS);
  purgeTimer.unref();

  let closing: Promise<void> | undefined;
  return {
    httpUrl,
    port,
    close() {
      closing ??= (async () => {
        const closeStarted = clock.now();
        shuttingDown = true;
        clearInterval(purgeTimer);
        uWS.us_listen_socket_close(listenSocket);
        websockets.stop();
        websockets.closeAll(WsClose.GoingAway, "node shutting down");
        const shutdownError = new AvisoError("SHUTTING_DOWN");
        await withTimeout(committer.close(), config.shutdownTimeoutMs, () =>
          logEvents.shutdownTimedOut(log, { timeoutMs: config.shutdownTimeoutMs, pending: 1 }),
        );
        await owners.close(shutdownError);
        await store.close();
        await passwords.close();
        // close() exists at runtime in uWS v20.30 but is missing from its typings: it drops keep-alive sockets.
        (app as TemplatedApp & { close(): void }).close();
        logEvents.shutdownComplete(log, { durationMs: clock.now() - closeStarted });
      })();
      return closing;
    },
  };
}

function listen(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      // uWS does not throw on a busy port: the callback gets false.
      if (socket === false) reject(new Error(`Cannot listen on ${host}:${port} (in use or not permitted).`));
      else resolve(socket);
    });
  });
}

async function withTimeout(work: Promise<void>, timeoutMs: number, onTimeout: () => void): Promise<void> {
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
