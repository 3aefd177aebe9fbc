import type { Grant, QueueDefinition, ResourceKind, TopicDefinition } from "../broker/types.ts";
import type { Clock } from "../shared/clock.ts";
import type { Store } from "../store/store.ts";
import { resourceNotFound } from "./access.ts";
import { assertLookupName } from "./names.ts";

interface Cached<T> {
  /** Shared by every caller while loading, so requests keep their arrival order. */
  loading: Promise<Resource<T>>;
  loadedAt: number;
}

export interface Resource<T> {
  definition: T;
  grants: Grant[];
}

/** The definition of each kind of resource. */
export interface DefinitionOf {
  queue: QueueDefinition;
  topic: TopicDefinition;
}

/**
 * Queue and topic definitions with their grants, cached on every node. A
 * change made here invalidates at once; a change made on another node arrives
 * as an invalidation (cluster) and, as a safety net, entries expire after ttlMs.
 */
export class Catalog {
  private readonly queues = new Map<string, Cached<QueueDefinition>>();
  private readonly topics = new Map<string, Cached<TopicDefinition>>();
  private readonly listeners = new Set<(kind: ResourceKind, name: string) => Promise<void>>();
  private readonly invalidationListeners = new Set<(kind: ResourceKind, name: string) => void>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  async queue(name: string): Promise<Resource<QueueDefinition>> {
    assertLookupName("queue", name);
    return this.lookup(this.queues, name, "queue", () => this.store.getQueue(name));
  }

  async topic(name: string): Promise<Resource<TopicDefinition>> {
    assertLookupName("topic", name);
    return this.lookup(this.topics, name, "topic", () => this.store.getTopic(name));
  }

  /** A queue or topic, by kind. */
  resource<K extends ResourceKind>(kind: K, name: string): Promise<Resource<DefinitionOf[K]>> {
    return (kind === "queue" ? this.queue(name) : this.topic(name)) as Promise<Resource<DefinitionOf[K]>>;
  }

  /**
   * Forget a resource here and tell listeners (a cluster node tells every
   * peer); resolves once they have been told, so the change is visible on
   * every node by the time the caller answers its client.
   */
  async changed(kind: ResourceKind, name: string): Promise<void> {
    this.forget(kind, name);
    await Promise.all([...this.listeners].map((listener) => listener(kind, name)));
  }

  /** Forget a resource because another node changed it. */
  forget(kind: ResourceKind, name: string): void {
    (kind === "queue" ? this.queues : this.topics).delete(name);
    for (const listener of this.invalidationListeners) listener(kind, name);
  }

  /** Told, synchronously, whenever a resource is forgotten: changed here or on another node. */
  onInvalidated(listener: (kind: ResourceKind, name: string) => void): () => void {
    this.invalidationListeners.add(listener);
    return () => this.invalidationListeners.delete(listener);
  }

  /** Load a resource afresh from the store (a periodic re-check), without telling anyone. */
  reload<K extends ResourceKind>(kind: K, name: string): Promise<Resource<DefinitionOf[K]>> {
    (kind === "queue" ? this.queues : this.topics).delete(name);
    return this.resource(kind, name);
  }

  onChanged(listener: (kind: ResourceKind, name: string) => Promise<void>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private lookup<T>(
    cache: Map<string, Cached<T>>,
    name: string,
    kind: ResourceKind,
    load: () => Promise<T | undefined>,
  ): Promise<Resource<T>> {
    const now = this.clock.now();
    const cached = cache.get(name);
    if (cached !== undefined && now - cached.loadedAt < this.ttlMs) return cached.loading;
    const entry: Cached<T> = { loadedAt: now, loading: this.fetch(kind, name, load) };
    cache.set(name, entry);
    entry.loading.catch(() => {
      if (cache.get(name) === entry) cache.delete(name);
    });
    return entry.loading;
  }

  private async fetch<T>(
    kind: ResourceKind,
    name: string,
    load: () => Promise<T | undefined>,
  ): Promise<Resource<T>> {
    const [definition, grants] = await Promise.all([load(), this.store.listGrants(kind, name)]);
    if (definition === undefined) throw resourceNotFound(kind, name);
    return { definition, grants };
  }
}
