import type { ClusterServingNodes } from "./cluster-serving-nodes.ts";
import type { Member } from "./coordinator.ts";
import type { Ownership } from "./ownership.ts";
import type { PeerPool } from "./peer-pool.ts";

export interface MembershipParts {
  peers: PeerPool;
  servingNodes: ClusterServingNodes;
  ownership: Ownership;
}

/**
 * What a cluster node does when the member list changes: links to departed
 * members close (their feeds and consumers end and re-route), calls waiting
 * to retry go again at once, and resources that now belong to another member
 * are handed over. `onError` hears a handover that failed.
 */
export function applyMembership(
  members: readonly Member[],
  parts: MembershipParts,
  onError: (error: unknown) => void,
): void {
  parts.peers.sync(members);
  parts.servingNodes.membershipChanged();
  void parts.ownership.rebalance().catch(onError);
}
