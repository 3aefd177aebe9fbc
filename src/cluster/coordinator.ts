import type { ResourceKind } from "../broker/types.ts";

/**
 * Cluster membership and resource ownership, as the rest of the node sees it.
 * Two implementations: zookeeper/ (a cluster node) and memory/ (an
 * in-process ensemble for unit tests). A standalone node has no coordinator:
 * it serves everything (app's local serving nodes). Nothing here names ZooKeeper.
 */

/** A live node of the cluster and the addresses others reach it on. */
export interface Member {
  id: string;
  httpUrl: string;
  peerUrl: string;
}

export type CoordinatorStatus =
  | { type: "connected" }
  /** The link is down but the session may live: leases are kept while the node reconnects. */
  | { type: "disconnected" }
  /**
   * Still disconnected a whole session timeout after the last word from the
   * ensemble (this node's clock): the session may have expired, so every
   * lease is given up. The node may still reconnect to the same session.
   */
  | { type: "lost" }
  | { type: "expired" }
  /** After expiry: registered again under a new session; leases must be re-claimed. */
  | { type: "reconnected" }
  | { type: "members"; members: readonly Member[] };

/** The right to serve a resource, held until released or lost. */
export interface Lease {
  readonly kind: ResourceKind;
  readonly name: string;
  /**
   * False once lost or released. A lease is lost when the session expires or
   * the link stays down for the whole session timeout — not when the link
   * merely drops: a node keeps serving what it owns while it reconnects
   * (writes stay fenced by the store's epoch, docs/architecture.md "Fencing").
   */
  readonly held: boolean;
  /**
   * Runs `listener` once when the lease is lost without release() having been
   * called: the holder must stop serving it at once. Registering on an
   * already lost lease runs the listener on the next microtask. Returns an
   * unsubscribe function.
   */
  onLost(listener: () => void): () => void;
}

export interface Coordinator {
  readonly self: Member;
  /** Connects, registers this node and loads the members; resolves when ready. */
  start(): Promise<void>;
  /** Live members sorted by id (cached; kept current by watches). */
  members(): readonly Member[];
  /** Rendezvous (highest-random-weight) serving node of a resource among the live members. */
  servingNodeOf(kind: ResourceKind, name: string): Member;
  /**
   * Takes the ownership lease. While another node holds it, waits (on a watch,
   * not by polling) until it is released or its holder's session ends.
   * Rejects with `signal.reason` when `signal` aborts and with
   * CoordinatorClosedError when the coordinator closes. Acquiring a lease this
   * node already holds returns the held lease.
   */
  acquire(kind: ResourceKind, name: string, signal?: AbortSignal): Promise<Lease>;
  /**
   * Whether this node's leases can still be trusted by its own clock: it heard
   * from the ensemble less than a session timeout ago (counted from when the
   * last answered request was sent), so its session cannot have expired yet.
   * Normally a timer notices the silence first; a process woken from a pause
   * (SIGSTOP, a long GC) may do other work before that timer runs. Found
   * false, every lease is given up at once, as on "lost", before it returns.
   * Cheap: a serving node asks before each delivery pass.
   */
  leasesTrusted(): boolean;
  /** Gives the lease up so the next serving node can claim it; a lost lease is cleaned up as well. */
  release(lease: Lease): Promise<void>;
  /**
   * This node's probe found `memberId`'s peer port refusing connections
   * (`refused`), or answering again. A member reported refused by a quorum of
   * the others (eviction.ts) is evicted: its member record is deleted, and a
   * lease held by a session that no longer holds its member record is free
   * to claim — so its resources fail over without waiting for its session to
   * expire. An evicted member that is alive loses every lease and registers
   * again. Ignored while the link is down.
   */
  reportUnreachable(memberId: string, refused: boolean): Promise<void>;
  /** Id of the member holding the lease right now, if any (asks the coordination service). */
  holderOf(kind: ResourceKind, name: string): Promise<string | undefined>;
  /** Status changes from the moment of the call until close, like nats.js `nc.status()`. */
  status(): AsyncIterable<CoordinatorStatus>;
  /** Calls `listener` on every status change; returns an unsubscribe function. */
  onStatus(listener: (status: CoordinatorStatus) => void): () => void;
  /** Gives up every lease, leaves the membership and disconnects. */
  close(): Promise<void>;
}

/** Why a pending acquire() or another call failed: the coordinator was closed. */
export class CoordinatorClosedError extends Error {
  constructor() {
    super("coordinator closed");
    this.name = "CoordinatorClosedError";
  }
}
