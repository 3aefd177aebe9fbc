import type { Member } from "./coordinator.ts";

/**
 * Failover before a dead member's session expires (docs/architecture.md,
 * "Failing over before the session expires"): a member whose peer port
 * refuses connections — nothing listens there, which a paused or
 * partitioned process never causes — is reported by each member that finds
 * it so, and evicted once enough of the others agree. Both coordinators
 * count reports by this rule.
 */

/** Reports needed to evict a member of a cluster of `memberCount` live members: a majority, never fewer than two. */
export function evictionQuorum(memberCount: number): number {
  return Math.max(2, Math.floor(memberCount / 2) + 1);
}

/**
 * Whether `reporterIds` (members that found the suspect's peer port refusing,
 * about its current session) are enough to evict it: only live members other
 * than the suspect count. So a two-member cluster never evicts: it waits for
 * the session to expire.
 */
export function enoughToEvict(
  members: readonly Pick<Member, "id">[],
  suspectId: string,
  reporterIds: Iterable<string>,
): boolean {
  const live = new Set(members.map((member) => member.id));
  if (!live.has(suspectId)) return false;
  let count = 0;
  for (const id of new Set(reporterIds)) if (id !== suspectId && live.has(id)) count += 1;
  return count >= evictionQuorum(members.length);
}
