/**
 * Paces a publisher at a target rate (messages per second), or not at all.
 * `allowance(sent)` says how many more may go now; a publisher that fell
 * behind (its in-flight window was full) catches up, at most `maxBurst` at once.
 */
export class Pacer {
  private readonly startedAt = performance.now();

  constructor(
    /** Messages per second; null = as fast as the in-flight window allows. */
    readonly rate: number | null,
    private readonly maxBurst = 1_000,
  ) {}

  allowance(sent: number): number {
    if (this.rate === null) return Number.POSITIVE_INFINITY;
    const due = Math.floor(((performance.now() - this.startedAt) / 1000) * this.rate);
    return Math.max(0, Math.min(this.maxBurst, due - sent));
  }
}

/** A JSON string literal of exactly `bytes` bytes (quotes included), e.g. a 1 KB payload. */
export function payloadOfBytes(bytes: number): string {
  return JSON.stringify("x".repeat(Math.max(0, bytes - 2)));
}
