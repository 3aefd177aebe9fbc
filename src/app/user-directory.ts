import type { Clock } from "../shared/clock.ts";
import type { Store } from "../store/store.ts";

/** What decides whether a user's tokens still count. */
export interface UserStanding {
  tokenVersion: number;
  deleted: boolean;
}

interface Cached {
  /** Shared by every caller while loading. */
  loading: Promise<UserStanding | undefined>;
  loadedAt: number;
}

/** Standings cached per node; beyond it the least recently used are forgotten. */
const MAX_ENTRIES = 10_000;

/**
 * Each user's token version and deletion, cached on every node so checking a
 * token does not reach the store on every call (docs/security.md S9). A
 * revocation made here forgets the entry at once and tells listeners: the
 * cluster tells every peer (which calls `forget`), the WebSocket edge closes
 * the user's revoked sessions. As a safety net entries expire after ttlMs.
 */
export class UserDirectory {
  private readonly entries = new Map<string, Cached>();
  /** Told of revocations made on this node (the cluster broadcasts them). */
  private readonly broadcasters = new Set<(username: string) => Promise<void>>();
  /** Told of every revocation this node learns of, made here or by a peer. */
  private readonly revokedListeners = new Set<(username: string) => void>();
  /** Revocations learnt so far; a load that a revocation overtook is not trusted. */
  private revocations = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    readonly ttlMs: number,
  ) {}

  /**
   * The user's standing, or undefined if no user has the name. A revocation
   * learnt while this call waited may have raced its read: then it reads
   * again, so a token is never accepted on a standing older than a
   * revocation this node already acted on (its sockets were closed then).
   */
  async standing(username: string): Promise<UserStanding | undefined> {
    const seen = this.revocations;
    const standing = await this.cached(username);
    return this.revocations === seen ? standing : this.load(username);
  }

  private cached(username: string): Promise<UserStanding | undefined> {
    const now = this.clock.now();
    const cached = this.entries.get(username);
    if (cached !== undefined && now - cached.loadedAt < this.ttlMs) {
      this.entries.delete(username);
      this.entries.set(username, cached);
      return cached.loading;
    }
    const entry: Cached = { loadedAt: now, loading: this.load(username) };
    this.entries.delete(username);
    this.entries.set(username, entry);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    entry.loading.catch(() => {
      if (this.entries.get(username) === entry) this.entries.delete(username);
    });
    return entry.loading;
  }

  /**
   * The user's tokens were revoked here (the store already says so): forget,
   * tell this node's listeners, and resolve once peers have been told.
   */
  async revoked(username: string): Promise<void> {
    this.forget(username);
    await Promise.all([...this.broadcasters].map((broadcast) => broadcast(username)));
  }

  /** A peer revoked the user's tokens: forget and tell this node's listeners. */
  forget(username: string): void {
    this.revocations += 1;
    this.entries.delete(username);
    for (const listener of this.revokedListeners) listener(username);
  }

  /** The cluster's hook: called for every revocation made on this node. */
  onRevokedHere(broadcast: (username: string) => Promise<void>): () => void {
    this.broadcasters.add(broadcast);
    return () => this.broadcasters.delete(broadcast);
  }

  /** Called for every revocation this node learns of ("userRevoked"), after the cache forgot the user. */
  onRevoked(listener: (username: string) => void): () => void {
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  private async load(username: string): Promise<UserStanding | undefined> {
    const user = await this.store.getUser(username);
    if (user === undefined) return undefined;
    return { tokenVersion: user.tokenVersion, deleted: user.deletedAt !== undefined };
  }
}
