import { describe, expect, it } from "vitest";
import { createRegistrationLimiter } from "../../src/auth/registration-limiter.ts";
import { ManualClock } from "../helpers/manual-clock.ts";

const windowMs = 3_600_000;

describe("createRegistrationLimiter", () => {
  it("allows `limit` attempts per address within the window, then refuses with a retry time", () => {
    const clock = new ManualClock();
    const limiter = createRegistrationLimiter({ limit: 2, windowMs, clock });
    limiter.take("10.0.0.1");
    clock.advance(1000);
    limiter.take("10.0.0.1");
    expect(() => limiter.take("10.0.0.1")).toThrow(
      expect.objectContaining({
        reason: "REGISTRATION_RATE_LIMITED",
        details: { retryAfterMs: windowMs - 1000 },
      }),
    );
    limiter.take("10.0.0.2");
    clock.advance(windowMs - 1000);
    limiter.take("10.0.0.1");
    expect(() => limiter.take("10.0.0.1")).toThrow(
      expect.objectContaining({ reason: "REGISTRATION_RATE_LIMITED" }),
    );
  });

  it("stays within maxEntries, forgetting the least recently seen addresses", () => {
    const limiter = createRegistrationLimiter({
      limit: 1,
      windowMs,
      clock: new ManualClock(),
      maxEntries: 3,
    });
    for (let i = 0; i < 10; i += 1) limiter.take(`10.0.0.${i}`);
    expect(limiter.trackedEntries()).toBe(3);
    expect(() => limiter.take("10.0.0.9")).toThrow(
      expect.objectContaining({ reason: "REGISTRATION_RATE_LIMITED" }),
    );
    expect(() => limiter.take("10.0.0.0")).not.toThrow();
  });
});
