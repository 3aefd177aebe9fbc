import { createLocalServingNodes } from "../app/local-serving-nodes.ts";
import type { ServingNodes } from "../app/serving-nodes.ts";
import { ClusterRuntime, type ClusterSettings } from "../cluster/cluster-runtime.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../shared/clock.ts";
import type { Engines } from "./engines.ts";
import type { Storage } from "./storage.ts";

export interface Coordination {
  /** The cluster member; null on a standalone node. */
  readonly cluster: ClusterRuntime | null;
  /** Where each call on a queue or topic goes: the node serving it (this one when standalone). */
  readonly servingNodes: ServingNodes;
}

/**
 * Phase 4: how this node shares the work. A cluster member routes calls to
 * the serving node over gRPC and holds ZooKeeper leases (joined once the edge
 * listens, so its member record carries its URLs); a standalone node serves
 * everything.
 */
export function buildCoordination(
  config: ClusterSettings,
  clustered: boolean,
  parts: { storage: Storage; engines: Engines },
  runtime: { clock: Clock; log: Logger },
): Coordination {
  const { host, catalog, userDirectory } = parts.engines;
  if (!clustered) return { cluster: null, servingNodes: createLocalServingNodes(host) };
  const cluster = new ClusterRuntime({
    config,
    host,
    committer: parts.storage.committer,
    catalog,
    userDirectory,
    clock: runtime.clock,
    log: runtime.log,
  });
  return { cluster, servingNodes: cluster.servingNodes };
}
