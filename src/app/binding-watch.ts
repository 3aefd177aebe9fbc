import type { Binding } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import { logEvents } from "../log/events.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock, Timer } from "../shared/clock.ts";
import type { Store } from "../store/store.ts";
import { bindingExposure, mayUse } from "./access.ts";
import type { Catalog } from "./catalog.ts";
import type { UserDirectory } from "./user-directory.ts";

/** A durable subscription being copied on this node (a BindingPump, on the node serving its queue). */
export interface CopyingBinding {
  readonly binding: Binding;
  readonly stopped: boolean;
  /** Stops copying at once: no batch is published once it returned. */
  stop(): void;
}

export interface BindingWatchDeps {
  catalog: Catalog;
  users: UserDirectory;
  /** Fresh reads for the sweep: the binding's creator, and whether a binding still stands as it was. */
  store: Pick<Store, "getUser" | "listBindings">;
  clock: Clock;
  log: Logger;
  recheckMs: number;
  /** The bindings copying on this node now. */
  copying(): Iterable<CopyingBinding>;
  /** Ends the binding in the store with ACCESS_REVOKED (BindingService.end). */
  end(binding: Binding): Promise<void>;
}

/** "gone": its topic or queue was deleted (or the name is another's now); the delete already ended it. */
type Footing = "holds" | "revoked" | "gone";

/**
 * Durable subscriptions whose footing goes end (docs/security.md S2, S3).
 * A binding stands while its creator is not deleted and may consume the topic (S1)
 * and the topic may flow into the queue (S3, bindingExposure). Checked where
 * the binding is copied: by its pump before each batch, and here whenever
 * the catalog forgets the topic or the queue (changed on this node or
 * announced by a peer), a user's tokens are revoked (deletion), and every
 * `recheckMs` against the store for a lost announcement. Each check is
 * idempotent: a binding is stopped and ended once, whichever check sees it first.
 */
export class BindingWatch {
  private sweepTimer: Timer | undefined;
  private stopped = false;
  private readonly stopListening: Array<() => void>;
  /** Stopped for lost access, but the store could not be told yet: the sweep tries again. */
  private readonly unended = new Set<Binding>();

  constructor(private readonly deps: BindingWatchDeps) {
    this.stopListening = [
      deps.catalog.onInvalidated((kind, name) => {
        void this.recheck((binding) => (kind === "topic" ? binding.topic : binding.queue) === name, false);
      }),
      deps.users.onRevoked((username) => {
        void this.recheck((binding) => binding.createdBy === username, false);
      }),
    ];
  }

  /**
   * Whether `copying` may publish one more batch. When its footing is gone
   * it is stopped before this returns and then ended in the store; a store
   * that cannot answer throws (the pump tries again later).
   */
  async mayCopy(copying: CopyingBinding, fresh = false): Promise<boolean> {
    if (copying.stopped) return false;
    const footing = await this.footing(copying.binding, fresh);
    if (copying.stopped) return false;
    if (footing === "holds") return true;
    copying.stop();
    if (footing === "revoked") await this.end(copying.binding);
    return false;
  }

  /** Re-checks the bindings copying here that `match` picks; `fresh` reads the store instead of the caches. */
  async recheck(match: (binding: Binding) => boolean, fresh: boolean): Promise<void> {
    for (const copying of [...this.deps.copying()]) {
      if (copying.stopped || !match(copying.binding)) continue;
      try {
        await this.mayCopy(copying, fresh);
      } catch (error) {
        logEvents.accessRecheckFailed(this.deps.log, {
          kind: "topic",
          name: copying.binding.topic,
          err: error,
        });
      }
    }
  }

  /** Re-checks every binding copying here against the store, and retries ends the store refused. */
  async sweep(): Promise<void> {
    for (const binding of [...this.unended]) {
      this.unended.delete(binding);
      if (await this.standsAsItWas(binding)) await this.end(binding);
    }
    await this.recheck(() => true, true);
  }

  start(): void {
    if (this.stopped || this.sweepTimer !== undefined) return;
    this.sweepTimer = this.deps.clock.setTimer(this.deps.recheckMs, () => {
      this.sweepTimer = undefined;
      void this.sweep().finally(() => this.start());
    });
  }

  stop(): void {
    this.stopped = true;
    for (const stop of this.stopListening.splice(0)) stop();
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
  }

  private async footing(binding: Binding, fresh: boolean): Promise<Footing> {
    const resources = await this.resourcesOf(binding, fresh);
    if (resources === undefined) return "gone";
    const [topic, queue] = resources;
    if (topic.definition.id !== binding.topicId || queue.definition.id !== binding.queueId) return "gone";
    const creator = fresh
      ? await this.deps.store
          .getUser(binding.createdBy)
          .then((user) => user && { deleted: user.deletedAt !== undefined })
      : await this.deps.users.standing(binding.createdBy);
    // No row at all is an external issuer's user (S14), who exists as long as the issuer says so.
    const holds =
      creator?.deleted !== true &&
      mayUse(binding.createdBy, topic, "consume") &&
      bindingExposure(topic, queue) === undefined;
    return holds ? "holds" : "revoked";
  }

  /** The binding's topic and queue as the catalog (or, `fresh`, the store) has them; undefined if either is gone. */
  private async resourcesOf(binding: Binding, fresh: boolean) {
    const { catalog } = this.deps;
    try {
      return await Promise.all(
        fresh
          ? [catalog.reload("topic", binding.topic), catalog.reload("queue", binding.queue)]
          : [catalog.topic(binding.topic), catalog.queue(binding.queue)],
      );
    } catch (error) {
      const reason = AvisoError.from(error).reason;
      if (reason === "TOPIC_NOT_FOUND" || reason === "QUEUE_NOT_FOUND") return undefined;
      throw error;
    }
  }

  private async end(binding: Binding): Promise<void> {
    const { topic, queue, createdBy } = binding;
    logEvents.accessEnded(this.deps.log, {
      username: createdBy,
      kind: "topic",
      name: topic,
      reason: "ACCESS_REVOKED",
    });
    try {
      await this.deps.end(binding);
    } catch (error) {
      this.unended.add(binding);
      logEvents.unexpectedError(this.deps.log, {
        err: error,
        context: `ending binding ${topic} -> ${queue}`,
      });
    }
  }

  /** Whether the store still has this very binding active (not removed, nor replaced by a new one of its names). */
  private async standsAsItWas(binding: Binding): Promise<boolean> {
    try {
      const [current] = await this.deps.store.listBindings({ topic: binding.topic, queue: binding.queue });
      return (
        current?.state === "active" &&
        current.createdAt === binding.createdAt &&
        current.topicId === binding.topicId
      );
    } catch {
      this.unended.add(binding);
      return false;
    }
  }
}
