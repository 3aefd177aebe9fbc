import { describe, expect, it } from "vitest";
import { createLoginLimiter } from "../../src/auth/login-limiter.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock } from "../helpers/manual-clock.ts";

const windowMs = 60_000;

function limitedError(run: () => void): AvisoError | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(AvisoError);
    return error as AvisoError;
  }
}

describe("createLoginLimiter", () => {
  it("locks a username after maxFailures failures, from any address", () => {
    const clock = new ManualClock();
    const limiter = createLoginLimiter({ maxFailures: 3, maxFailuresPerAddress: 3, windowMs, clock });
    limiter.recordFailure("alice", "10.0.0.1");
    limiter.recordFailure("alice", "10.0.0.2");
    expect(() => limiter.check("alice", "10.0.0.9")).not.toThrow();
    limiter.recordFailure("alice", "10.0.0.3");
    const error = limitedError(() => limiter.check("alice", "10.0.0.9"));
    expect(error?.reason).toBe("LOGIN_RATE_LIMITED");
    expect(error?.httpStatus).toBe(429);
    expect(error?.details).toEqual({ retryAfterMs: windowMs });
    expect(() => limiter.check("bob", "10.0.0.9")).not.toThrow();
  });

  it("locks an address after maxFailures failures, for any username", () => {
    const clock = new ManualClock();
    const limiter = createLoginLimiter({ maxFailures: 3, maxFailuresPerAddress: 3, windowMs, clock });
    for (const user of ["u1", "u2", "u3"]) limiter.recordFailure(user, "10.0.0.1");
    expect(limitedError(() => limiter.check("u4", "10.0.0.1"))?.reason).toBe("LOGIN_RATE_LIMITED");
    expect(() => limiter.check("u4", "10.0.0.2")).not.toThrow();
  });

  it("unlocks once failures age out of the sliding window", () => {
    const clock = new ManualClock();
    const limiter = createLoginLimiter({ maxFailures: 2, maxFailuresPerAddress: 2, windowMs, clock });
    limiter.recordFailure("alice", "ip");
    clock.advance(10_000);
    limiter.recordFailure("alice", "ip");
    expect(limitedError(() => limiter.check("alice", "ip"))?.details).toEqual({ retryAfterMs: 50_000 });
    clock.advance(49_999);
    expect(limitedError(() => limiter.check("alice", "ip"))?.details).toEqual({ retryAfterMs: 1 });
    clock.advance(1); // the first failure is now windowMs old
    expect(() => limiter.check("alice", "ip")).not.toThrow();
  });

  it("recordSuccess clears the username's failures but not the address's", () => {
    const clock = new ManualClock();
    const limiter = createLoginLimiter({ maxFailures: 2, maxFailuresPerAddress: 2, windowMs, clock });
    limiter.recordFailure("alice", "ip");
    limiter.recordFailure("alice", "ip");
    limiter.recordSuccess("alice", "ip");
    expect(() => limiter.check("alice", "other-ip")).not.toThrow();
    expect(limitedError(() => limiter.check("alice", "ip"))?.reason).toBe("LOGIN_RATE_LIMITED");
  });

  it("keeps usernames and addresses apart even when the strings are equal", () => {
    const limiter = createLoginLimiter({
      maxFailures: 1,
      maxFailuresPerAddress: 1,
      windowMs,
      clock: new ManualClock(),
    });
    limiter.recordFailure("10.0.0.1", "10.0.0.2");
    expect(() => limiter.check("10.0.0.2", "10.0.0.1")).not.toThrow();
  });

  it("stays within maxEntries, forgetting the least recently failed", () => {
    const clock = new ManualClock();
    const limiter = createLoginLimiter({
      maxFailures: 1,
      maxFailuresPerAddress: 1,
      windowMs,
      clock,
      maxEntries: 100,
    });
    limiter.recordFailure("victim", "attacker-0");
    for (let i = 1; i <= 500; i++) {
      clock.advance(1);
      limiter.recordFailure(`junk-${i}`, `attacker-${i}`);
    }
    expect(limiter.trackedEntries()).toBe(100);
    // Only the newest 100 keys remain: the victim's lock was evicted, the latest ones are kept.
    expect(() => limiter.check("victim", "elsewhere")).not.toThrow();
    expect(limitedError(() => limiter.check("junk-500", "elsewhere"))?.reason).toBe("LOGIN_RATE_LIMITED");
    expect(limitedError(() => limiter.check("someone", "attacker-451"))?.reason).toBe("LOGIN_RATE_LIMITED");
    expect(() => limiter.check("someone", "attacker-449")).not.toThrow();
  });

  it("prunes expired entries as new failures arrive", () => {
    const clock = new ManualClock();
    const limiter = createLoginLimiter({
      maxFailures: 1,
      maxFailuresPerAddress: 1,
      windowMs,
      clock,
      maxEntries: 10,
    });
    limiter.recordFailure("old", "ip-old");
    limiter.recordFailure("old", "ip-old2");
    expect(limiter.trackedEntries()).toBe(3);
    clock.advance(windowMs);
    limiter.recordFailure("new", "ip-new");
    expect(limiter.trackedEntries()).toBe(2);
    expect(() => limiter.check("old", "ip-old")).not.toThrow();
    expect(limitedError(() => limiter.check("new", "x"))?.reason).toBe("LOGIN_RATE_LIMITED");
  });

  it("gives an address ten times a user's allowance by default (shared NAT)", () => {
    const clock = new ManualClock();
    const limiter = createLoginLimiter({ maxFailures: 2, windowMs: 60_000, clock });
    for (let i = 0; i < 19; i += 1) limiter.recordFailure(`user-${i}`, "10.0.0.1");
    expect(() => limiter.check("someone-else", "10.0.0.1")).not.toThrow();
    limiter.recordFailure("user-19", "10.0.0.1");
    expect(() => limiter.check("someone-else", "10.0.0.1")).toThrow(
      expect.objectContaining({ reason: "LOGIN_RATE_LIMITED" }),
    );
  });

  it("counts attempts in flight: parallel guesses get no more slots than serial ones", () => {
    const clock = new ManualClock();
    const limiter = createLoginLimiter({ maxFailures: 3, windowMs, clock });
    const attempts = [
      limiter.begin("alice", "ip"),
      limiter.begin("alice", "ip"),
      limiter.begin("alice", "ip"),
    ];
    expect(limitedError(() => limiter.begin("alice", "ip"))?.details).toEqual({ retryAfterMs: windowMs });
    for (const attempt of attempts) attempt.failed();
    expect(limitedError(() => limiter.begin("alice", "other-ip"))?.reason).toBe("LOGIN_RATE_LIMITED");
  });

  it("frees a slot when an attempt succeeds or is abandoned, counting nothing", () => {
    const clock = new ManualClock();
    const limiter = createLoginLimiter({ maxFailures: 2, windowMs, clock });
    const first = limiter.begin("alice", "ip");
    limiter.begin("alice", "ip").abandoned();
    first.failed();
    first.failed(); // settling twice counts once
    const second = limiter.begin("alice", "ip");
    expect(limitedError(() => limiter.begin("alice", "ip"))?.reason).toBe("LOGIN_RATE_LIMITED");
    second.succeeded();
    expect(() => limiter.begin("alice", "ip").abandoned()).not.toThrow();
    expect(limiter.trackedEntries()).toBe(1); // only the address's failure remains
  });
});
