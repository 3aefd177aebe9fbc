import { createLocalOwners } from "../app/local-owners.ts";
import type { Owners } from "../app/owners.ts";
import { ClusterRuntime, type ClusterSettings } from "../cluster/cluster-runtime.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../shared/clock.ts";
import type { Engines } from "./engines.ts";
import type { Storage } from "./storage.ts";

export interface Coordination {
  /** The cluster member; null on a standalone node. */
  readonly cluster: ClusterRuntime | null;
  /** Where each call on a queue or topic goes: the node owning it (this one when standalone). */
  readonly owners: Owners;
}

/**
 * Phase 4: how this node shares the work. A cluster member routes calls to
 * the owning node over gRPC and holds ZooKeeper leases (joined once the edge
 * listens, so its member record carries its URLs); a standalone node owns
 * everything.
 */
export function buildCoordination(
  config: ClusterSettings,
  clustered: boolean,
  parts: { storage: Storage; engines: Engines },
  runtime: { clock: Clock; log: Logger },
): Coordination {
  const { host, catalog, userDirectory } = parts.engines;
  if (!clustered) return { cluster: null, owners: createLocalOwners(host) };
  const cluster = new ClusterRuntime({
    config,
    host,
    committer: parts.storage.committer,
    catalog,
    userDirectory,
    clock: runtime.clock,
    log: runtime.log,
  });
  return { cluster, owners: cluster.owners };
}
