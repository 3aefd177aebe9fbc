import type { ClusterInfo } from "./app/cluster-info.ts";
import type { Services } from "./app/services.ts";
import type { ServingNodes } from "./app/serving-nodes.ts";
import type { ClusterRuntime } from "./cluster/cluster-runtime.ts";
import type { Config } from "./config/schema.ts";
import { startEdge } from "./edge/edge-server.ts";
import { AvisoError } from "./errors/aviso-error.ts";
import { logEvents } from "./log/events.ts";
import type { Logger } from "./log/logger.ts";
import { createMetrics } from "./metrics/metrics.ts";
import { buildApp } from "./node/app.ts";
import { buildCoordination } from "./node/coordination.ts";
import { buildEngines } from "./node/engines.ts";
import { Late } from "./node/late.ts";
import { preflight } from "./node/preflight.ts";
import { openStorage, type Storage } from "./node/storage.ts";
import { type Clock, systemClock } from "./shared/clock.ts";

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

/**
 * Builds and starts a node in phases — preflight (identity, refusals) →
 * storage → engines → coordination (cluster or standalone) → app → edge —
 * then joins the cluster and starts the access watches. Each phase gets the
 * slice of the config it reads (src/node/*.ts); the wiring's cycles (engines
 * route through the serving-node routing built after them; the binding watch ends bindings
 * through the services) are closed by the `Late` values below, by name.
 */
export async function startNode(
  config: Config,
  log: Logger,
  clock: Clock = systemClock,
): Promise<RunningNode> {
  const started = clock.now();
  const identity = await preflight(config, log);
  const metrics = createMetrics();
  const runtime = { clock, log, metrics };
  const storage = await openStorage(config, metrics, log, clock);
  try {
    return await startOnStorage(config, identity, storage, runtime, started);
  } catch (error) {
    await storage.close().catch(() => {});
    throw error;
  }
}

async function startOnStorage(
  config: Config,
  identity: { nodeId: string; clustered: boolean },
  storage: Storage,
  runtime: { clock: Clock; log: Logger; metrics: ReturnType<typeof createMetrics> },
  started: number,
): Promise<RunningNode> {
  const { clock, log, metrics } = runtime;
  const { nodeId, clustered } = identity;
  const servingNodes = new Late<ServingNodes>("servingNodes");
  const services = new Late<Services>("services");
  const clusterRuntime = new Late<ClusterRuntime>("cluster");
  const engines = buildEngines(config, storage, runtime, {
    servingNodes,
    services,
    ...(clustered ? { mayOwn: (kind, name) => clusterRuntime.get().mayOwn(kind, name) } : {}),
  });
  const coordination = buildCoordination(config, clustered, { storage, engines }, runtime);
  const { cluster } = coordination;
  const { host } = engines;
  servingNodes.set(coordination.servingNodes);
  if (cluster !== null) clusterRuntime.set(cluster);

  let httpUrl = "";
  const app = await buildApp(config, { storage, engines, coordination }, runtime, (kind, name) => {
    if (cluster === null) return { node: nodeId, httpUrl };
    const serving = cluster.locate(kind, name);
    return { node: serving.id, httpUrl: serving.httpUrl };
  });
  services.set(app.services);
  metrics.setQueueStatsSource(() =>
    [...host.queueEngines].map((engine) => ({ queue: engine.name, ...engine.stats() })),
  );
  metrics.setQueueMemorySource(() => host.queueMemory);

  // Phase 6: the edge — REST and WebSocket on one port.
  const scheme = config.tlsCert === undefined ? "http" : "https";
  const advertiseHost = config.advertiseHost ?? config.host;
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
    services: app.services,
    topics: coordination.servingNodes.topics,
    clock,
    log,
    metrics,
    version: VERSION,
    cluster: cluster?.info() ?? standaloneInfo,
    isShuttingDown: () => shuttingDown,
    checkReady: async () => {
      if (shuttingDown) throw new AvisoError("SHUTTING_DOWN");
      await storage.store.ping();
      if (cluster !== null && !cluster.isReady)
        throw new AvisoError("NOT_READY", "Not connected to ZooKeeper.");
    },
  });
  httpUrl = `${scheme}://${advertiseHost}:${edge.port}`;
  if (cluster !== null) {
    const peerPort = await cluster.listenPeers();
    await cluster.join({ id: nodeId, httpUrl, peerUrl: `${advertiseHost}:${peerPort}` });
  }
  engines.access.start();
  engines.bindingWatch.start();
  logEvents.nodeListening(log, { url: httpUrl });
  logEvents.nodeReady(log, { startupMs: clock.now() - started });

  let closing: Promise<void> | undefined;
  return {
    httpUrl,
    port: edge.port,
    nodeId,
    close() {
      closing ??= (async () => {
        const closeStarted = clock.now();
        shuttingDown = true;
        engines.access.stop();
        engines.bindingWatch.stop();
        edge.stopAccepting();
        edge.closeSockets();
        const shutdownError = new AvisoError("SHUTTING_DOWN");
        // A cluster node hands its resources over (flushing first) so the next serving nodes take over at once.
        const handOver =
          cluster !== null ? cluster.close(shutdownError) : coordination.servingNodes.close(shutdownError);
        await within(config.shutdownTimeoutMs, handOver, () =>
          logEvents.shutdownTimedOut(log, { timeoutMs: config.shutdownTimeoutMs, waitingFor: "handover" }),
        );
        await within(config.shutdownTimeoutMs, storage.drain(), () =>
          logEvents.shutdownTimedOut(log, { timeoutMs: config.shutdownTimeoutMs, waitingFor: "commits" }),
        );
        await storage.close();
        await app.passwords.close();
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
