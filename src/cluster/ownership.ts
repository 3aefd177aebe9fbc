import type { EngineHost } from "../app/engine-host.ts";
import type { ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { Clock } from "../shared/clock.ts";
import type { GroupCommitter } from "../store/group-commit.ts";
import type { Coordinator, Lease } from "./coordinator.ts";

interface Held {
  kind: ResourceKind;
  name: string;
  lease: Lease | null;
  acquiring: Promise<Lease> | null;
  abort: AbortController;
}

export interface OwnershipEvents {
  acquired?(kind: ResourceKind, name: string): void;
  released?(kind: ResourceKind, name: string, why: "moved" | "lost" | "closing"): void;
}

const key = (kind: ResourceKind, name: string) => `${kind}/${name}`;

/**
 * The ownership leases this node holds in a cluster. A node serves a resource only
 * while rendezvous picks it as the serving node AND it holds the lease: the lease is taken on
 * first use (waiting while a previous serving node still holds it), given back after
 * a flush when membership moves the resource elsewhere, and on session loss
 * the engine is dropped at once.
 */
export class Ownership {
  private readonly held = new Map<string, Held>();
  private closing = false;

  constructor(
    /** The coordinator once the node has joined; throws NOT_READY before. */
    private readonly coordinatorNow: () => Coordinator,
    /** Drops an engine whose resource is no longer ours. */
    private readonly host: Pick<EngineHost, "release">,
    /** Flushed before a lease is given back, so the next serving node sees every write. */
    private readonly committer: Pick<GroupCommitter, "flush">,
    private readonly clock: Clock,
    private readonly acquireTimeoutMs: number,
    private readonly events: OwnershipEvents = {},
  ) {}

  isServingNode(kind: ResourceKind, name: string): boolean {
    return this.coordinatorNow().servingNodeOf(kind, name).id === this.coordinatorNow().self.id;
  }

  /**
   * True while this node holds the lease and, by its clock, can still trust
   * it (Coordinator.leasesTrusted): engines load and deliver only then. A
   * lease found untrusted is dropped at once, as on session loss.
   */
  holds(kind: ResourceKind, name: string): boolean {
    return this.held.get(key(kind, name))?.lease?.held === true && this.coordinatorNow().leasesTrusted();
  }

  /** Resolves once this node holds the lease; FENCED when another node is the serving node. */
  async ensureOwned(kind: ResourceKind, name: string): Promise<void> {
    if (this.closing) throw new AvisoError("SHUTTING_DOWN");
    if (!this.isServingNode(kind, name)) throw notServingNode(kind, name);
    const entry = this.held.get(key(kind, name));
    if (entry?.lease?.held === true) return;
    if (entry?.acquiring != null) {
      await entry.acquiring;
      return this.ensureOwned(kind, name);
    }
    await this.acquire(kind, name);
  }

  /** Membership changed: hand over every resource that now belongs to another node. */
  async rebalance(): Promise<void> {
    const moving = [...this.held.values()].filter((entry) => !this.isServingNode(entry.kind, entry.name));
    await Promise.all(moving.map((entry) => this.handOver(entry, "moved")));
  }

  owned(): { queues: string[]; topics: string[] } {
    const owned = { queues: [] as string[], topics: [] as string[] };
    for (const entry of this.held.values()) {
      if (entry.lease?.held !== true) continue;
      (entry.kind === "queue" ? owned.queues : owned.topics).push(entry.name);
    }
    return owned;
  }

  /** Graceful stop: flush, then give every lease back so the next serving nodes take over at once. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.held.values()].map((entry) => this.handOver(entry, "closing")));
  }

  private async acquire(kind: ResourceKind, name: string): Promise<void> {
    const abort = new AbortController();
    const timer = this.clock.setTimer(this.acquireTimeoutMs, () => abort.abort());
    const entry: Held = { kind, name, lease: null, acquiring: null, abort };
    entry.acquiring = this.coordinatorNow().acquire(kind, name, abort.signal);
    this.held.set(key(kind, name), entry);
    let lease: Lease;
    try {
      lease = await entry.acquiring;
    } catch (error) {
      if (this.held.get(key(kind, name)) === entry) this.held.delete(key(kind, name));
      throw new AvisoError(
        "OWNER_UNAVAILABLE",
        `Could not take ownership of ${kind} "${name}" in time; retry.`,
        {
          cause: error,
        },
      );
    } finally {
      timer.cancel();
      entry.acquiring = null;
    }
    if (this.held.get(key(kind, name)) !== entry || !this.isServingNode(kind, name) || this.closing) {
      // Membership moved while we waited: do not keep what is no longer ours.
      if (this.held.get(key(kind, name)) === entry) this.held.delete(key(kind, name));
      await this.coordinatorNow()
        .release(lease)
        .catch(() => {});
      throw notServingNode(kind, name);
    }
    entry.lease = lease;
    lease.onLost(() => {
      if (this.held.get(key(kind, name)) !== entry) return;
      this.held.delete(key(kind, name));
      this.host.release(kind, name, moved(kind, name));
      this.events.released?.(kind, name, "lost");
    });
    this.events.acquired?.(kind, name);
  }

  private async handOver(entry: Held, why: "moved" | "closing"): Promise<void> {
    if (this.held.get(key(entry.kind, entry.name)) !== entry) return;
    this.held.delete(key(entry.kind, entry.name));
    entry.abort.abort();
    this.host.release(entry.kind, entry.name, moved(entry.kind, entry.name));
    // Writes already handed to the committer land before the next serving node claims the resource.
    await this.committer.flush();
    if (entry.lease !== null)
      await this.coordinatorNow()
        .release(entry.lease)
        .catch(() => {});
    this.events.released?.(entry.kind, entry.name, why);
  }
}

/** Not executed because this node is not the serving node: always safe to retry elsewhere. */
export function notServingNode(kind: ResourceKind, name: string): AvisoError {
  return new AvisoError(
    "FENCED",
    `This node does not serve ${kind} "${name}"; retry on the node serving it.`,
  );
}

function moved(kind: ResourceKind, name: string): AvisoError {
  return new AvisoError("OWNER_UNAVAILABLE", `Ownership of ${kind} "${name}" is moving; retry.`);
}
