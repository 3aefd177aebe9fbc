import { AvisoError } from "../errors/aviso-error.ts";
import { type Clock, systemClock } from "../shared/clock.ts";

export interface RegistrationLimiter {
  /** Counts one registration attempt from `ip`; throws AvisoError REGISTRATION_RATE_LIMITED when its allowance is spent. */
  take(ip: string): void;
  /** Addresses currently remembered (bounded by maxEntries). */
  trackedEntries(): number;
}

export interface RegistrationLimiterOptions {
  /** Attempts one address may make within windowMs. */
  limit: number;
  windowMs: number;
  /** Defaults to the system clock; tests inject a manual one. */
  clock?: Pick<Clock, "now">;
  /** Most addresses tracked; beyond it the least recently seen are forgotten. */
  maxEntries?: number;
}

/**
 * Sliding-window allowance of registrations per address (docs/security.md S9).
 * Every attempt counts, accepted or refused, and it counts before any work
 * is done, so parallel attempts are limited like serial ones.
 */
export function createRegistrationLimiter(options: RegistrationLimiterOptions): RegistrationLimiter {
  const { limit, windowMs, clock = systemClock, maxEntries = 50_000 } = options;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError("limit must be a positive integer");
  // address → attempt times, oldest first; the map is ordered by last attempt.
  const attempts = new Map<string, number[]>();
  return {
    take(ip) {
      const nowMs = clock.now();
      const live = (attempts.get(ip) ?? []).filter((time) => nowMs - time < windowMs);
      const oldest = live[0];
      if (live.length >= limit && oldest !== undefined) {
        throw new AvisoError("REGISTRATION_RATE_LIMITED", undefined, {
          details: { retryAfterMs: oldest + windowMs - nowMs },
        });
      }
      live.push(nowMs);
      attempts.delete(ip);
      attempts.set(ip, live);
      for (const eldest of attempts.keys()) {
        if (attempts.size <= maxEntries) break;
        attempts.delete(eldest);
      }
    },
    trackedEntries: () => attempts.size,
  };
}
