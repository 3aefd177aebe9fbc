import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../src/shared/clock.ts";

describe("systemClock.setTimer", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("waits out delays longer than setTimeout's 2^31-1 ms limit instead of firing at once", () => {
    // An API key without expiry sets a session timer this far out (docs/security.md S14).
    const fired = vi.fn();
    const delayMs = 2 ** 31 + 5000;
    systemClock.setTimer(delayMs, fired);
    vi.advanceTimersByTime(2 ** 31 - 1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(5000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it("cancels a chained long timer", () => {
    const fired = vi.fn();
    const timer = systemClock.setTimer(2 ** 32, fired);
    vi.advanceTimersByTime(2 ** 31);
    timer.cancel();
    vi.advanceTimersByTime(2 ** 32);
    expect(fired).not.toHaveBeenCalled();
  });

  it("still fires ordinary delays once", () => {
    const fired = vi.fn();
    systemClock.setTimer(10, fired);
    vi.advanceTimersByTime(10);
    expect(fired).toHaveBeenCalledTimes(1);
  });
});
