import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../src/cluster/coordinator.ts";
import { startZooKeeper, type ZooKeeperEnsemble } from "../helpers/zookeeper.ts";
import { CoordinatorPool, isolated, waitFor, within } from "./fixtures/coordinator-tools.ts";

/**
 * Eviction on a real ZooKeeper (issue 10, item 3; docs/architecture.md,
 * "Failing over before the session expires"): a member reported refused by
 * a quorum of the others loses its member node at once, its lease is free
 * to claim though its session lives, and — alive after all — it drops what
 * it held and registers again. Every member here stays alive, so nothing
 * below can have come from a session expiring.
 */

const sessionTimeoutMs = 4_000;
const ids = (members: readonly { id: string }[]) => members.map((member) => member.id);

describe("ZooKeeper coordinator: eviction", () => {
  let zk: ZooKeeperEnsemble;
  const pool = new CoordinatorPool();

  beforeAll(async () => {
    zk = await startZooKeeper({ servers: 1, tickTimeMs: 200 });
  }, 120_000);
  afterEach(async () => {
    await pool.closeAll();
  });
  afterAll(async () => {
    await zk?.stopAll();
  });

  /** Coordinators a, b and c in a fresh chroot, each seeing all three. */
  async function threeMembers() {
    const connect = isolated(zk.connectString);
    const started = [];
    for (const id of ["a", "b", "c"]) started.push(await pool.start(connect, id, sessionTimeoutMs));
    for (const coordinator of started)
      await waitFor("three members", () => coordinator.members().length === 3, 5_000);
    return started as [Coordinator, Coordinator, Coordinator];
  }

  it("evicts a member two others report, passes its lease to a waiter, and the evicted member registers again", async () => {
    const [a, b, c] = await threeMembers();
    const leaseA = await a.acquire("queue", "orders");
    let lostByA = false;
    leaseA.onLost(() => {
      lostByA = true;
    });
    let acquiredByB = false;
    const waiting = b.acquire("queue", "orders").then((lease) => {
      acquiredByB = true;
      return lease;
    });

    // One report is not a quorum of three: a stays, and so does its lease.
    await b.reportUnreachable("a", true);
    expect(ids(c.members())).toEqual(["a", "b", "c"]);
    expect(await c.holderOf("queue", "orders")).toBe("a");
    expect(acquiredByB).toBe(false);

    await c.reportUnreachable("a", true);
    const leaseB = await within("b to take a's lease", waiting, 10_000);
    expect(leaseB.held).toBe(true);
    expect(await c.holderOf("queue", "orders")).toBe("b");
    // a's session never ended: it learned of its eviction, dropped its lease and came back.
    await waitFor("a to hear its lease is lost", () => lostByA, 5_000);
    expect(leaseA.held).toBe(false);
    await waitFor("a to register again", () => ids(c.members()).includes("a"), 5_000);
    // a's own view follows by its watch, which may fire after c's.
    await waitFor("a to see itself back", () => ids(a.members()).includes("a"), 5_000);
    expect(ids(a.members())).toEqual(["a", "b", "c"]);
    expect(leaseB.held).toBe(true);
  }, 30_000);

  it("does not evict on reports withdrawn once the port answers again", async () => {
    const [a, b, c] = await threeMembers();
    await b.reportUnreachable("a", true);
    await b.reportUnreachable("a", false);
    await c.reportUnreachable("a", true);
    expect(ids(b.members())).toEqual(["a", "b", "c"]);
    await a.acquire("queue", "orders");
    expect(await b.holderOf("queue", "orders")).toBe("a");
  }, 30_000);
});
