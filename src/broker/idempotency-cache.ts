import type { Clock } from "../shared/clock.ts";

interface Remembered<T> {
  result: Promise<T>;
  /** Undefined while the first publish is still committing. */
  expiresAt: number | undefined;
}

/**
 * Publish results by idempotency key, for the de-duplication window. A retry
 * that arrives while the first attempt is still committing waits for it; a
 * failed attempt is forgotten so the retry publishes for real.
 */
export class IdempotencyCache<T> {
  private readonly entries = new Map<string, Remembered<T>>();
  private sweepsSkipped = 0;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Promise<T> | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.result;
  }

  setPending(key: string, result: Promise<T>): void {
    this.entries.set(key, { result, expiresAt: undefined });
    result.catch(() => {
      if (this.entries.get(key)?.result === result) this.entries.delete(key);
    });
  }

  set(key: string, value: T, expiresAt: number): void {
    this.entries.delete(key);
    this.entries.set(key, { result: Promise.resolve(value), expiresAt });
    this.sweepSometimes();
  }

  /** Keys are inserted in expiry order (one window per resource), so expired ones sit at the front. */
  private sweepSometimes(): void {
    this.sweepsSkipped += 1;
    if (this.sweepsSkipped < 256) return;
    this.sweepsSkipped = 0;
    const now = this.clock.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt === undefined) continue;
      if (entry.expiresAt > now) break;
      this.entries.delete(key);
    }
  }
}
