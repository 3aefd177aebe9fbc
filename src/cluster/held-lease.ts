import type { ResourceKind } from "../broker/types.ts";
import type { Lease } from "./coordinator.ts";

/** A lease's state and its lost-listeners, shared by the coordinators (what backs it is theirs). */
export class HeldLease implements Lease {
  private state: "held" | "lost" | "released" = "held";
  private readonly lostListeners = new Set<() => void>();

  constructor(
    readonly kind: ResourceKind,
    readonly name: string,
  ) {}

  get held(): boolean {
    return this.state === "held";
  }

  onLost(listener: () => void): () => void {
    if (this.state === "lost") {
      queueMicrotask(listener);
      return () => {};
    }
    if (this.state === "released") return () => {};
    this.lostListeners.add(listener);
    return () => {
      this.lostListeners.delete(listener);
    };
  }

  /** Marks the lease lost and tells its listeners; false if it was no longer held. */
  markLost(onListenerError: (error: unknown) => void): boolean {
    if (this.state !== "held") return false;
    this.state = "lost";
    for (const listener of [...this.lostListeners]) {
      try {
        listener();
      } catch (error) {
        // Every holder must hear about the loss, even if one listener throws.
        onListenerError(error);
      }
    }
    this.lostListeners.clear();
    return true;
  }

  markReleased(): void {
    if (this.state === "held") this.state = "released";
    this.lostListeners.clear();
  }
}
