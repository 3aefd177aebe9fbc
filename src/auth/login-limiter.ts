import { AvisoError } from "../errors/aviso-error.ts";
import { type Clock, systemClock } from "../shared/clock.ts";

export interface LoginLimiter {
  /** Throws AvisoError LOGIN_RATE_LIMITED when the username or the address is locked out. */
  check(username: string, ip: string): void;
  recordFailure(username: string, ip: string): void;
  /** Clears the username's failures (not the address's: one good account must not unlock guessing at others). */
  recordSuccess(username: string, ip: string): void;
  /** Usernames + addresses currently remembered (bounded by maxEntries). */
  trackedEntries(): number;
}

export interface LoginLimiterOptions {
  maxFailures: number;
  windowMs: number;
  /** Defaults to the system clock; tests inject a manual one. */
  clock?: Pick<Clock, "now">;
  /** Failures one address may have within the window; default ten times maxFailures. */
  maxFailuresPerAddress?: number;
  /** Most usernames + addresses tracked; beyond it the least recently failed are forgotten. */
  maxEntries?: number;
}

/**
 * Sliding-window counter of failed logins per username and per address.
 * Each key keeps at most `maxFailures` timestamps (enough to decide), and the
 * map is ordered by last failure so expired keys are pruned from its head.
 */
export function createLoginLimiter(options: LoginLimiterOptions): LoginLimiter {
  const { maxFailures, windowMs, clock = systemClock, maxEntries = 50_000 } = options;
  // Many honest users can share one address (NAT, proxies): an address gets ten users' allowance.
  const maxAddressFailures = options.maxFailuresPerAddress ?? maxFailures * 10;
  if (!Number.isInteger(maxFailures) || maxFailures < 1)
    throw new RangeError("maxFailures must be a positive integer");
  // key → failure times, oldest first. Keys are prefixed so a username cannot collide with an address.
  const failures = new Map<string, number[]>();

  const userKey = (username: string) => `u:${username}`;
  const ipKey = (ip: string) => `i:${ip}`;

  /** Failure times of `key` still inside the window. */
  function recent(key: string, nowMs: number): number[] {
    const times = failures.get(key);
    if (times === undefined) return [];
    const firstLive = times.findIndex((time) => nowMs - time < windowMs);
    if (firstLive === -1) {
      failures.delete(key);
      return [];
    }
    if (firstLive > 0) times.splice(0, firstLive);
    return times;
  }

  function retryAfterMs(key: string, nowMs: number, limit: number): number | undefined {
    const times = recent(key, nowMs);
    if (times.length < limit) return undefined;
    // Unlocked once enough failures age out to leave fewer than the limit.
    const unlockingFailure = times[times.length - limit] as number;
    return unlockingFailure + windowMs - nowMs;
  }

  function record(key: string, nowMs: number, limit: number): void {
    const times = recent(key, nowMs);
    times.push(nowMs);
    if (times.length > limit) times.splice(0, times.length - limit);
    // Re-insert so the map stays ordered by last failure.
    failures.delete(key);
    failures.set(key, times);
  }

  function prune(nowMs: number): void {
    for (const [key, times] of failures) {
      const last = times[times.length - 1];
      if (last !== undefined && nowMs - last < windowMs && failures.size <= maxEntries) break;
      failures.delete(key);
    }
  }

  return {
    check(username, ip) {
      const nowMs = clock.now();
      const waitMs = Math.max(
        retryAfterMs(userKey(username), nowMs, maxFailures) ?? 0,
        retryAfterMs(ipKey(ip), nowMs, maxAddressFailures) ?? 0,
      );
      if (waitMs > 0) {
        throw new AvisoError("LOGIN_RATE_LIMITED", undefined, { details: { retryAfterMs: waitMs } });
      }
    },
    recordFailure(username, ip) {
      const nowMs = clock.now();
      record(userKey(username), nowMs, maxFailures);
      record(ipKey(ip), nowMs, maxAddressFailures);
      prune(nowMs);
    },
    recordSuccess(username) {
      failures.delete(userKey(username));
    },
    trackedEntries: () => failures.size,
  };
}
