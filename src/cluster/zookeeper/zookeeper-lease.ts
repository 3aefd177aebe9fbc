import type { ResourceKind } from "../../broker/types.ts";
import { HeldLease } from "../held-lease.ts";

/** A lease backed by the ephemeral node `path`, created by session `sessionId`. */
export class ZooKeeperLease extends HeldLease {
  constructor(
    kind: ResourceKind,
    name: string,
    readonly path: string,
    readonly sessionId: string,
  ) {
    super(kind, name);
  }
}
