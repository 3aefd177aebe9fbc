import { describe, expect, it } from "vitest";
import { UserDirectory } from "../../src/app/user-directory.ts";
import type { StoredUser } from "../../src/broker/types.ts";
import type { Store } from "../../src/store/store.ts";
import { ManualClock } from "../helpers/manual-clock.ts";

const ttlMs = 5000;

/** A store whose getUser answers are released by the test, one at a time. */
function gatedStore() {
  const user: StoredUser = {
    username: "alice",
    passwordHash: "h",
    createdAt: 0,
    tokenVersion: 0,
    deletedAt: undefined,
  };
  const pending: Array<() => void> = [];
  let reads = 0;
  const store = {
    getUser: (username: string) => {
      reads += 1;
      const answer = username === user.username ? { ...user } : undefined;
      return new Promise<StoredUser | undefined>((resolve) => pending.push(() => resolve(answer)));
    },
  } as unknown as Store;
  return {
    store,
    user,
    reads: () => reads,
    release: () => {
      for (const resolve of pending.splice(0)) resolve();
    },
  };
}

describe("UserDirectory", () => {
  it("caches a standing until ttlMs, and forgets it at once on a revocation", async () => {
    const clock = new ManualClock();
    const gated = gatedStore();
    const directory = new UserDirectory(gated.store, clock, ttlMs);
    const first = directory.standing("alice");
    gated.release();
    expect(await first).toEqual({ tokenVersion: 0, deleted: false });
    expect(await directory.standing("alice")).toEqual({ tokenVersion: 0, deleted: false });
    expect(gated.reads()).toBe(1);
    gated.user.tokenVersion = 1;
    const told: string[] = [];
    directory.onRevoked((username) => told.push(username));
    await directory.revoked("alice");
    expect(told).toEqual(["alice"]);
    const after = directory.standing("alice");
    gated.release();
    expect(await after).toEqual({ tokenVersion: 1, deleted: false });
    gated.user.tokenVersion = 2;
    clock.advance(ttlMs);
    const expired = directory.standing("alice");
    gated.release();
    expect(await expired).toEqual({ tokenVersion: 2, deleted: false });
  });

  it("reads again when a revocation overtakes a read in flight, never answering the older standing", async () => {
    const gated = gatedStore();
    const directory = new UserDirectory(gated.store, new ManualClock(), ttlMs);
    const racing = directory.standing("alice");
    // The revocation lands in the store and is learnt while the first read is still out.
    gated.user.tokenVersion = 1;
    directory.forget("alice");
    // The first read answers with what it saw before (version 0); any read after it sees version 1.
    let settled = false;
    void racing.then(() => {
      settled = true;
    });
    for (let turn = 0; turn < 20 && !settled; turn += 1) {
      gated.release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await racing).toEqual({ tokenVersion: 1, deleted: false });
    expect(gated.reads()).toBe(2);
  });

  it("tells the cluster only of revocations made here", async () => {
    const directory = new UserDirectory(gatedStore().store, new ManualClock(), ttlMs);
    const broadcast: string[] = [];
    directory.onRevokedHere(async (username) => void broadcast.push(username));
    directory.forget("from-a-peer");
    await directory.revoked("made-here");
    expect(broadcast).toEqual(["made-here"]);
  });
});
