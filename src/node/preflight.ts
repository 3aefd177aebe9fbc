import { resolveNodeId } from "../cluster/node-id.ts";
import { isLoopback } from "../config/cross-checks.ts";
import type { Config } from "../config/schema.ts";
import { isNativeUws } from "../edge/uws-native.ts";
import { logEvents } from "../log/events.ts";
import type { Logger } from "../log/logger.ts";

export type PreflightSettings = Pick<Config, "zk" | "nodeId" | "dataDir" | "production" | "tlsCert" | "host">;

export interface NodeIdentity {
  readonly nodeId: string;
  readonly clustered: boolean;
}

/** Phase 1: who this node is, and whether it may start here at all. */
export async function preflight(config: PreflightSettings, log: Logger): Promise<NodeIdentity> {
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
  return { nodeId, clustered };
}
