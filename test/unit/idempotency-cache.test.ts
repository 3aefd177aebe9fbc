import { describe, expect, it } from "vitest";
import { IdempotencyCache } from "../../src/broker/idempotency-cache.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";

describe("IdempotencyCache", () => {
  it("sweeps only expired keys: pending and unexpired ones stay", async () => {
    const clock = new ManualClock();
    const cache = new IdempotencyCache<number>(clock);
    const start = clock.now();
    cache.setPending("pending", new Promise<number>(() => {}));
    for (let i = 0; i < 100; i += 1) cache.set(`old-${i}`, i, start + 10);
    clock.advance(10);
    // The 256th set sweeps: the 100 keys expired at start + 10 go, nothing else does.
    for (let i = 0; i < 156; i += 1) cache.set(`live-${i}`, i, start + 1000);
    expect(cache.size).toBe(157);
    for (let i = 0; i < 156; i += 1) await expect(cache.get(`live-${i}`)).resolves.toBe(i);
    expect(cache.get("pending")).toBeDefined();
    expect(cache.get("old-0")).toBeUndefined();
    await settle();
  });

  it("forgets a key whose publish failed, but not a newer attempt under the same key", async () => {
    const cache = new IdempotencyCache<number>(new ManualClock());
    const failed = Promise.reject(new Error("commit failed"));
    cache.setPending("k", failed);
    await failed.catch(() => {});
    await settle();
    expect(cache.get("k")).toBeUndefined();

    let failOlder: (error: Error) => void = () => {};
    const older = new Promise<number>((_, reject) => {
      failOlder = reject;
    });
    cache.setPending("again", older);
    const newer = Promise.resolve(7);
    cache.setPending("again", newer);
    failOlder(new Error("commit failed"));
    await older.catch(() => {});
    await settle();
    expect(cache.get("again")).toBe(newer);
  });
});
