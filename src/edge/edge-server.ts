import uWS, { type TemplatedApp, type us_listen_socket } from "uWebSockets.js";
import type { ClusterInfo } from "../app/cluster-info.ts";
import type { Services } from "../app/services.ts";
import type { ServedTopics } from "../app/serving-nodes.ts";
import type { Config } from "../config/schema.ts";
import { WsClose } from "../errors/ws-close.ts";
import type { Logger } from "../log/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Clock } from "../shared/clock.ts";
import { metricsAccess } from "./http/metrics-access.ts";
import { mountRoutes } from "./http/mount-routes.ts";
import type { AnyRoute } from "./http/route.ts";
import { apiKeyRoutes } from "./http/routes/api-key-routes.ts";
import { authRoutes } from "./http/routes/auth-routes.ts";
import { operationRoutes } from "./http/routes/operation-routes.ts";
import { queueRoutes } from "./http/routes/queue-routes.ts";
import { topicRoutes } from "./http/routes/topic-routes.ts";
import { TopicChannels } from "./ws/topic-channels.ts";
import { mountWebSocket } from "./ws/ws-server.ts";

export interface EdgeDeps {
  config: Config;
  services: Services;
  topics: ServedTopics;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  version: string;
  checkReady(): Promise<void>;
  cluster: ClusterInfo;
  isShuttingDown(): boolean;
}

export interface RunningEdge {
  readonly port: number;
  /** Stops accepting connections; open ones keep working. */
  stopAccepting(): void;
  /** Closes every WebSocket with 1001 (going away). */
  closeSockets(): void;
  /** Drops whatever is still open. */
  close(): void;
}

/** REST + WebSocket on one uWS app (SSLApp when TLS is configured), listening on host:port. */
/** Every REST route the node serves: the v1 API, then the operational routes. */
export function routeTable(
  services: Services,
  operations: Omit<Parameters<typeof operationRoutes>[0], "apiRoutes">,
): AnyRoute[] {
  const apiRoutes: AnyRoute[] = [
    ...authRoutes(services),
    ...queueRoutes(services),
    ...topicRoutes(services),
    ...apiKeyRoutes(services),
  ];
  return [...apiRoutes, ...operationRoutes({ ...operations, apiRoutes: () => apiRoutes })];
}

export async function startEdge(deps: EdgeDeps): Promise<RunningEdge> {
  const { config, services, metrics } = deps;
  const app: TemplatedApp =
    config.tlsCert !== undefined && config.tlsKey !== undefined
      ? uWS.SSLApp({ cert_file_name: config.tlsCert, key_file_name: config.tlsKey })
      : uWS.App();
  const channels = new TopicChannels(
    deps.topics,
    {
      publish: (channel, frame) => app.publish(channel, frame, false),
      subscriberCount: (channel) => app.numSubscribers(channel),
    },
    metrics,
    Math.max(1, Math.floor(config.slowConsumerBufferBytes / 2)),
  );
  const websockets = mountWebSocket(app, {
    services,
    channels,
    config,
    clock: deps.clock,
    log: deps.log,
    metrics,
    isShuttingDown: deps.isShuttingDown,
  });
  const routes = routeTable(services, {
    metrics,
    metricsResourceLabels: metricsAccess(config, services.users),
    version: deps.version,
    checkReady: deps.checkReady,
    cluster: deps.cluster,
  });
  mountRoutes(app, routes, {
    config,
    users: services.users,
    log: deps.log,
    metrics,
    isShuttingDown: deps.isShuttingDown,
  });
  const listenSocket = await listen(app, config.host, config.port);
  return {
    port: uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket),
    stopAccepting: () => uWS.us_listen_socket_close(listenSocket),
    closeSockets: () => {
      websockets.stop();
      websockets.closeAll(WsClose.GoingAway, "node shutting down");
    },
    // close() exists at runtime in uWS v20.30 but is missing from its typings: it drops keep-alive sockets.
    close: () => (app as TemplatedApp & { close(): void }).close(),
  };
}

/** uWS's LIBUS_LISTEN_EXCLUSIVE_PORT. */
const EXCLUSIVE_PORT = 1;

function listen(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) => {
    // Exclusive: uWS otherwise shares a port with another process (SO_REUSEPORT), and requests
    // then alternate between two brokers. The (host, port, options, cb) form is missing from uWS's typings.
    const listenExclusive = app.listen as unknown as (
      host: string,
      port: number,
      options: number,
      cb: (socket: us_listen_socket | false) => void,
    ) => void;
    listenExclusive.call(app, host, port, EXCLUSIVE_PORT, (socket) => {
      // uWS does not throw on a busy port: the callback gets false.
      if (socket === false) {
        reject(
          new Error(
            `Cannot listen on ${host}:${port}: the port is in use (another Aviso node?) or not permitted. ` +
              "Stop that process or pick another port: --port <n> (AVISO_PORT).",
          ),
        );
      } else resolve(socket);
    });
  });
}
