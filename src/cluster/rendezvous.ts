import type { ResourceKind } from "../broker/types.ts";

/**
 * Rendezvous (highest-random-weight) hashing: every member scores every
 * resource and the highest score owns it. When a member joins it takes over
 * only the resources it now scores highest on (~1/N of them); when one leaves
 * only its own resources move. Every node computes the same answer from the
 * same member list, with no coordination.
 */

/**
 * 53-bit string hash (the cyrb53 construction: two 32-bit multiply-xorshift
 * lanes mixed at the end). Fast, no crypto, and well spread even for inputs
 * that differ in one character, which FNV-1a alone is not.
 */
export function hash53(text: string): number {
  let lane1 = 0xdeadbeef;
  let lane2 = 0x41c6ce57;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    lane1 = Math.imul(lane1 ^ code, 2654435761);
    lane2 = Math.imul(lane2 ^ code, 1597334677);
  }
  lane1 = Math.imul(lane1 ^ (lane1 >>> 16), 2246822507);
  lane1 ^= Math.imul(lane2 ^ (lane2 >>> 13), 3266489909);
  lane2 = Math.imul(lane2 ^ (lane2 >>> 16), 2246822507);
  lane2 ^= Math.imul(lane1 ^ (lane1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & lane2) + (lane1 >>> 0);
}

/** A member's weight for one resource; NUL separators keep ("a.b","c") and ("a","b.c") apart. */
export function rendezvousScore(memberId: string, kind: ResourceKind, name: string): number {
  return hash53(`${memberId}\0${kind}\0${name}`);
}

/**
 * The member that owns (kind, name): highest score, ties (practically never)
 * broken by the smaller id so the answer does not depend on list order.
 * Undefined only when `members` is empty.
 */
export function rendezvousServingNode<M extends { readonly id: string }>(
  members: readonly M[],
  kind: ResourceKind,
  name: string,
): M | undefined {
  let best: M | undefined;
  let bestScore = -1;
  for (const member of members) {
    const score = rendezvousScore(member.id, kind, name);
    if (score > bestScore || (score === bestScore && best !== undefined && member.id < best.id)) {
      best = member;
      bestScore = score;
    }
  }
  return best;
}
