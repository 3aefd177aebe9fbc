import type { ResourceKind } from "../../broker/types.ts";
import {
  type Coordinator,
  CoordinatorClosedError,
  type CoordinatorStatus,
  type Lease,
  type Member,
} from "../coordinator.ts";

/**
 * The coordinator of a node that runs alone: it is the only member, owns
 * every resource, and nothing can take a lease away. Its status never
 * changes, so status() yields nothing and ends at close().
 */
export function createStandaloneCoordinator(self: Member): Coordinator {
  return new StandaloneCoordinator(self);
}

class StandaloneLease implements Lease {
  held = true;
  constructor(
    readonly kind: ResourceKind,
    readonly name: string,
  ) {}

  onLost(): () => void {
    // A standalone lease is never lost: there is nobody to lose it to.
    return () => {};
  }
}

class StandaloneCoordinator implements Coordinator {
  private readonly memberList: readonly Member[];
  private readonly leases = new Map<string, StandaloneLease>();
  private closed = false;
  private resolveClosed: () => void = () => {};
  private readonly closedPromise = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(readonly self: Member) {
    this.memberList = Object.freeze([Object.freeze({ ...self })]);
  }

  async start(): Promise<void> {
    this.assertOpen();
  }

  members(): readonly Member[] {
    return this.memberList;
  }

  ownerOf(): Member {
    return this.self;
  }

  async acquire(kind: ResourceKind, name: string, signal?: AbortSignal): Promise<Lease> {
    this.assertOpen();
    signal?.throwIfAborted();
    const key = `${kind}/${name}`;
    let lease = this.leases.get(key);
    if (lease === undefined) {
      lease = new StandaloneLease(kind, name);
      this.leases.set(key, lease);
    }
    return lease;
  }

  async release(lease: Lease): Promise<void> {
    const key = `${lease.kind}/${lease.name}`;
    const held = this.leases.get(key);
    if (held !== lease || held === undefined) return;
    held.held = false;
    this.leases.delete(key);
  }

  async holderOf(kind: ResourceKind, name: string): Promise<string | undefined> {
    return this.leases.has(`${kind}/${name}`) ? this.self.id : undefined;
  }

  status(): AsyncIterable<CoordinatorStatus> {
    const closed = this.closedPromise;
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<CoordinatorStatus>> => {
          await closed;
          return { done: true, value: undefined };
        },
      }),
    };
  }

  onStatus(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const lease of this.leases.values()) lease.held = false;
    this.leases.clear();
    this.resolveClosed();
  }

  private assertOpen(): void {
    if (this.closed) throw new CoordinatorClosedError();
  }
}
