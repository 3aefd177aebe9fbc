import { AvisoError } from "../errors/aviso-error.ts";
import { type Clock, systemClock } from "../shared/clock.ts";

/** A login under way: it holds a slot until it is settled exactly once. */
export interface LoginAttempt {
  /** Wrong password or unknown user: the slot becomes a failure. */
  failed(): void;
  /** Logged in: the slot is freed and the username's failures cleared. */
  succeeded(): void;
  /** Could not be decided (e.g. the store failed): the slot is freed, nothing is counted. */
  abandoned(): void;
}

export interface LoginLimiter {
  /**
   * Reserves a slot for a login before its password is checked: attempts in
   * flight count like failures, so N parallel guesses are limited exactly like
   * N serial ones. Throws AvisoError LOGIN_RATE_LIMITED when no slot is left.
   */
  begin(username: string, ip: string): LoginAttempt;
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
  // key → logins reserved by begin() and not settled yet.
  const inFlight = new Map<string, number>();

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
    const pending = inFlight.get(key) ?? 0;
    if (times.length + pending < limit) return undefined;
    // Unlocked once enough failures age out to leave fewer than the limit;
    // attempts in flight would fail now, so they age out a full window from now.
    const unlockingFailure = times[times.length + pending - limit];
    return unlockingFailure === undefined ? windowMs : unlockingFailure + windowMs - nowMs;
  }

  function adjustInFlight(key: string, delta: number): void {
    const count = (inFlight.get(key) ?? 0) + delta;
    if (count > 0) inFlight.set(key, count);
    else inFlight.delete(key);
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

  function check(username: string, ip: string): void {
    const nowMs = clock.now();
    const waitMs = Math.max(
      retryAfterMs(userKey(username), nowMs, maxFailures) ?? 0,
      retryAfterMs(ipKey(ip), nowMs, maxAddressFailures) ?? 0,
    );
    if (waitMs > 0) {
      throw new AvisoError("LOGIN_RATE_LIMITED", undefined, { details: { retryAfterMs: waitMs } });
    }
  }

  function recordFailure(username: string, ip: string): void {
    const nowMs = clock.now();
    record(userKey(username), nowMs, maxFailures);
    record(ipKey(ip), nowMs, maxAddressFailures);
    prune(nowMs);
  }

  function recordSuccess(username: string): void {
    failures.delete(userKey(username));
  }

  function begin(username: string, ip: string): LoginAttempt {
    check(username, ip);
    adjustInFlight(userKey(username), 1);
    adjustInFlight(ipKey(ip), 1);
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      adjustInFlight(userKey(username), -1);
      adjustInFlight(ipKey(ip), -1);
      outcome();
    };
    return {
      failed: () => settle(() => recordFailure(username, ip)),
      succeeded: () => settle(() => recordSuccess(username)),
      abandoned: () => settle(() => {}),
    };
  }

  return {
    begin,
    check,
    recordFailure,
    recordSuccess,
    trackedEntries: () => failures.size + inFlight.size,
  };
}
