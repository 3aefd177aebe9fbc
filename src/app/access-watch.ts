import type { Permission, QueueDefinition, ResourceKind, TopicDefinition } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import { logEvents } from "../log/events.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock, Timer } from "../shared/clock.ts";
import { mayUse } from "./access.ts";
import type { Catalog, Resource } from "./catalog.ts";

/** Something running on a user's behalf that needs `permission` on one resource for as long as it lives. */
export interface Watcher {
  readonly username: string;
  readonly kind: ResourceKind;
  readonly name: string;
  readonly permission: Permission;
  /** The resource's identity when the watch began (resourceIdentity): a later namesake is another resource. */
  readonly identity: string;
  /** Called once, when the access is gone; the watcher is already forgotten. */
  end(reason: AvisoError): void;
}

/** The watcher fields for `principal` needing `permission` on the resource `definition` describes. */
export function watchOf(
  principal: { username: string },
  kind: ResourceKind,
  definition: QueueDefinition | TopicDefinition,
  permission: Permission,
): Omit<Watcher, "end"> {
  return {
    username: principal.username,
    kind,
    name: definition.name,
    permission,
    identity: resourceIdentity(definition),
  };
}

/** What distinguishes one incarnation of a name from the next: its immutable id (docs/security.md S4). */
export function resourceIdentity(definition: QueueDefinition | TopicDefinition): string {
  return definition.id;
}

/**
 * Access that follows changes (docs/security.md S2). Everything that keeps
 * running on a user's behalf on one resource — a live subscription, a
 * long-poll wait — is watched here (bindings, which rest on two, by
 * BindingWatch), and re-checked whenever the catalog forgets its
 * resource (a change made on this node or announced by a peer) and, as a
 * safety net for a lost announcement, every `recheckMs`. A watcher whose
 * access is gone is ended with ACCESS_REVOKED, or the resource's NOT_FOUND
 * when it was deleted.
 */
export class AccessWatch {
  private readonly byResource = new Map<string, Set<Watcher>>();
  private sweepTimer: Timer | undefined;
  private stopped = false;
  private readonly stopListening: () => void;

  constructor(
    private readonly catalog: Catalog,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly recheckMs: number,
  ) {
    this.stopListening = catalog.onInvalidated((kind, name) => {
      void this.recheck(kind, name, false);
    });
  }

  /** Starts watching and checks once at once, so a change that raced the caller's own check is not missed. */
  watch(watcher: Watcher): () => void {
    const key = keyOf(watcher.kind, watcher.name);
    let watchers = this.byResource.get(key);
    if (watchers === undefined) {
      watchers = new Set();
      this.byResource.set(key, watchers);
    }
    watchers.add(watcher);
    void this.checkOne(watcher);
    return () => this.unwatch(watcher);
  }

  get size(): number {
    let count = 0;
    for (const watchers of this.byResource.values()) count += watchers.size;
    return count;
  }

  start(): void {
    if (this.stopped || this.sweepTimer !== undefined) return;
    this.sweepTimer = this.clock.setTimer(this.recheckMs, () => {
      this.sweepTimer = undefined;
      void this.sweep().finally(() => this.start());
    });
  }

  stop(): void {
    this.stopped = true;
    this.stopListening();
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
  }

  /** Re-checks every watched resource against the store (not the cache). */
  async sweep(): Promise<void> {
    for (const key of [...this.byResource.keys()]) {
      const [kind, name] = splitKey(key);
      await this.recheck(kind, name, true);
    }
  }

  /** Re-checks the watchers of one resource; `fresh` reads the store instead of the cache. */
  async recheck(kind: ResourceKind, name: string, fresh: boolean): Promise<void> {
    const watchers = this.byResource.get(keyOf(kind, name));
    if (watchers === undefined || watchers.size === 0) return;
    const resource = await this.load(kind, name, fresh);
    if (resource === "unknown") return;
    for (const watcher of [...watchers]) this.judge(watcher, resource);
  }

  private async checkOne(watcher: Watcher): Promise<void> {
    const resource = await this.load(watcher.kind, watcher.name, false);
    if (resource !== "unknown") this.judge(watcher, resource);
  }

  /** The resource, `undefined` when it is gone, "unknown" when the store could not say (the sweep tries again). */
  private async load(
    kind: ResourceKind,
    name: string,
    fresh: boolean,
  ): Promise<Resource<QueueDefinition | TopicDefinition> | undefined | "unknown"> {
    try {
      if (fresh) return await this.catalog.reload(kind, name);
      return await this.catalog.resource(kind, name);
    } catch (error) {
      const reason = AvisoError.from(error).reason;
      if (reason === "QUEUE_NOT_FOUND" || reason === "TOPIC_NOT_FOUND") return undefined;
      logEvents.accessRecheckFailed(this.log, { kind, name, err: error });
      return "unknown";
    }
  }

  private judge(watcher: Watcher, resource: Resource<QueueDefinition | TopicDefinition> | undefined): void {
    const watchers = this.byResource.get(keyOf(watcher.kind, watcher.name));
    if (watchers === undefined || !watchers.has(watcher)) return;
    let reason: AvisoError | undefined;
    if (resource === undefined || resourceIdentity(resource.definition) !== watcher.identity) {
      reason = gone(watcher.kind, watcher.name);
    } else if (!mayUse(watcher.username, resource, watcher.permission)) {
      reason = new AvisoError(
        "ACCESS_REVOKED",
        `Your ${watcher.permission} access to ${watcher.kind} "${watcher.name}" was withdrawn.`,
      );
    }
    if (reason === undefined) return;
    this.unwatch(watcher);
    const { username, kind, name } = watcher;
    logEvents.accessEnded(this.log, { username, kind, name, reason: reason.reason });
    try {
      watcher.end(reason);
    } catch (error) {
      logEvents.unexpectedError(this.log, { err: error, context: "ending a watcher" });
    }
  }

  private unwatch(watcher: Watcher): void {
    const key = keyOf(watcher.kind, watcher.name);
    const watchers = this.byResource.get(key);
    watchers?.delete(watcher);
    if (watchers?.size === 0) this.byResource.delete(key);
  }
}

function gone(kind: ResourceKind, name: string): AvisoError {
  return kind === "queue"
    ? new AvisoError("QUEUE_NOT_FOUND", `Queue "${name}" was deleted.`)
    : new AvisoError("TOPIC_NOT_FOUND", `Topic "${name}" was deleted.`);
}

const keyOf = (kind: ResourceKind, name: string): string => `${kind}\u0000${name}`;

function splitKey(key: string): [ResourceKind, string] {
  const at = key.indexOf("\u0000");
  return [key.slice(0, at) as ResourceKind, key.slice(at + 1)];
}
