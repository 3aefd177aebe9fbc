import { AccessWatch } from "../app/access-watch.ts";
import { BindingWatch } from "../app/binding-watch.ts";
import { Catalog } from "../app/catalog.ts";
import { EngineHost } from "../app/engine-host.ts";
import type { Services } from "../app/services.ts";
import type { ServingNodes } from "../app/serving-nodes.ts";
import { UserDirectory } from "../app/user-directory.ts";
import type { ResourceKind } from "../broker/types.ts";
import type { Config } from "../config/schema.ts";
import { logEvents } from "../log/events.ts";
import type { Logger } from "../log/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Clock } from "../shared/clock.ts";
import type { Late } from "./late.ts";
import type { Storage } from "./storage.ts";

export type EngineSettings = Pick<
  Config,
  | "idempotencyWindowMs"
  | "maxStoredBytesPerUser"
  | "maxBatchMessages"
  | "topicMemoryMessages"
  | "topicMemoryBytes"
  | "queueMemoryBytes"
  | "queueMemoryFloorBytes"
  | "topicRetentionIntervalMs"
  | "catalogCacheMs"
  | "userCacheMs"
  | "accessRecheckMs"
>;

/** What the engines need from phases built after them. */
export interface EngineWiring {
  /** Where dead letters and binding copies go: this node's engines, or the cluster's routing to serving nodes. */
  servingNodes: Late<ServingNodes>;
  /** Ends a binding whose access is gone (BindingService.end). */
  services: Late<Services>;
  /** Whether this node holds a resource's lease; absent on a standalone node, which serves everything. */
  mayOwn?: (kind: ResourceKind, name: string) => boolean;
}

export interface Engines {
  readonly catalog: Catalog;
  readonly userDirectory: UserDirectory;
  readonly access: AccessWatch;
  readonly bindingWatch: BindingWatch;
  readonly host: EngineHost;
}

/**
 * Phase 3: the caches of definitions and users, the watches that end access
 * once it is withdrawn (docs/security.md S2), and the host of the queue and
 * topic engines this node serves.
 */
export function buildEngines(
  config: EngineSettings,
  storage: Storage,
  runtime: { clock: Clock; log: Logger; metrics: Metrics },
  wiring: EngineWiring,
): Engines {
  const { clock, log, metrics } = runtime;
  const { store, committer } = storage;
  const catalog = new Catalog(store, clock, config.catalogCacheMs);
  const access = new AccessWatch(catalog, clock, log, config.accessRecheckMs);
  const userDirectory = new UserDirectory(store, clock, config.userCacheMs);
  const host: EngineHost = new EngineHost({
    store,
    committer,
    clock,
    settings: {
      idempotencyWindowMs: config.idempotencyWindowMs,
      maxStoredBytesPerUser: config.maxStoredBytesPerUser,
      maxBatchMessages: config.maxBatchMessages,
      topicMemoryMessages: config.topicMemoryMessages,
      topicMemoryBytes: config.topicMemoryBytes,
      queueMemoryBytes: config.queueMemoryBytes,
      queueMemoryFloorBytes: config.queueMemoryFloorBytes,
      retentionIntervalMs: config.topicRetentionIntervalMs,
    },
    servingNodes: () => wiring.servingNodes.get(),
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
    ...(wiring.mayOwn === undefined ? {} : { mayOwn: wiring.mayOwn }),
  });
  // Durable subscriptions copied here (on the node serving their queue) end once their access goes (S2, S3).
  const bindingWatch: BindingWatch = new BindingWatch({
    catalog,
    users: userDirectory,
    store,
    clock,
    log,
    recheckMs: config.accessRecheckMs,
    copying: () => host.copying,
    end: async ({ topic, queue }) => {
      await wiring.services.get().bindings.end(topic, queue, "ACCESS_REVOKED");
    },
  });
  return { catalog, userDirectory, access, bindingWatch, host };
}
