/**
 * Waiting without polling: a waiter sleeps until something that may change
 * its outcome happens (a phase change, its abort signal, a deadline, a
 * ZooKeeper watch), then re-checks its condition itself.
 */

/** A watch that fires at most once; whoever waits on it later is woken at once. */
export class OneShot {
  private fired = false;
  private wake: (() => void) | undefined;

  fire(): void {
    this.fired = true;
    this.wake?.();
  }

  /** Calls `wake` when the watch fires (now, if it already has); returns a detach function. */
  attach(wake: () => void): () => void {
    if (this.fired) {
      wake();
      return () => {};
    }
    this.wake = wake;
    return () => {
      this.wake = undefined;
    };
  }
}

export class ChangeSignal {
  private readonly waiters = new Set<() => void>();

  /**
   * Resolves at the next wakeAll(), when `signal` aborts (at once if it
   * already has), after `timeoutMs`, or when `watch` fires. Every
   * registration is removed on the way out.
   */
  wait(signal?: AbortSignal, timeoutMs?: number, watch?: OneShot): Promise<void> {
    return new Promise<void>((resolve) => {
      const cleanups: Array<() => void> = [];
      const wake = () => {
        for (const cleanup of cleanups) cleanup();
        resolve();
      };
      this.waiters.add(wake);
      cleanups.push(() => this.waiters.delete(wake));
      if (signal?.aborted) {
        wake();
        return;
      }
      if (signal !== undefined) {
        signal.addEventListener("abort", wake, { once: true });
        cleanups.push(() => signal.removeEventListener("abort", wake));
      }
      if (timeoutMs !== undefined) {
        const timer = setTimeout(wake, timeoutMs);
        cleanups.push(() => clearTimeout(timer));
      }
      if (watch !== undefined) cleanups.push(watch.attach(wake));
    });
  }

  wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
