import { describe, expect, it } from "vitest";
import {
  type Coordinator,
  CoordinatorClosedError,
  type CoordinatorStatus,
} from "../../src/cluster/coordinator.ts";
import { MemoryEnsemble } from "../../src/cluster/memory/memory-coordinator.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";

async function started(ensemble: MemoryEnsemble, id: string): Promise<Coordinator> {
  const coordinator = ensemble.coordinator({ id, httpUrl: `http://${id}`, peerUrl: id });
  await coordinator.start();
  return coordinator;
}

/** Status events as "type" or "members:A,B". */
function record(coordinator: Coordinator): string[] {
  const seen: string[] = [];
  coordinator.onStatus((status: CoordinatorStatus) =>
    seen.push(
      status.type === "members" ? `members:${status.members.map((m) => m.id).join(",")}` : status.type,
    ),
  );
  return seen;
}

describe("MemoryEnsemble", () => {
  it("lists members sorted by id and agrees on servingNodes across members", async () => {
    const ensemble = new MemoryEnsemble(new ManualClock());
    const b = await started(ensemble, "B");
    const a = await started(ensemble, "A");
    expect(a.members().map((m) => m.id)).toEqual(["A", "B"]);
    expect(b.members().map((m) => m.id)).toEqual(["A", "B"]);
    expect(a.servingNodeOf("queue", "orders").id).toBe(b.servingNodeOf("queue", "orders").id);
  });

  it("makes an acquire wait while another member holds the lease, until it is released", async () => {
    const ensemble = new MemoryEnsemble(new ManualClock());
    const a = await started(ensemble, "A");
    const b = await started(ensemble, "B");
    const leaseA = await a.acquire("queue", "q");
    expect(await a.acquire("queue", "q")).toBe(leaseA);
    let leaseB: unknown;
    void b.acquire("queue", "q").then((lease) => {
      leaseB = lease;
    });
    await settle();
    expect(leaseB).toBeUndefined();
    expect(await b.holderOf("queue", "q")).toBe("A");
    await a.release(leaseA);
    await settle();
    expect(leaseA.held).toBe(false);
    expect(leaseB).toMatchObject({ kind: "queue", name: "q", held: true });
    expect(await a.holderOf("queue", "q")).toBe("B");
  });

  it("ends a waiting acquire with the abort reason, or CoordinatorClosedError when the coordinator closes", async () => {
    const ensemble = new MemoryEnsemble(new ManualClock());
    const a = await started(ensemble, "A");
    const b = await started(ensemble, "B");
    await a.acquire("topic", "t");
    const abort = new AbortController();
    const aborted = b.acquire("topic", "t", abort.signal).catch((error: unknown) => error);
    const closed = b.acquire("topic", "t").catch((error: unknown) => error);
    abort.abort(new Error("gave up"));
    expect(await aborted).toEqual(new Error("gave up"));
    await b.close();
    expect(await closed).toBeInstanceOf(CoordinatorClosedError);
    expect(a.members().map((m) => m.id)).toEqual(["A"]);
  });

  it("keeps every lease while the link is down, and loses them all once it has been down for the session timeout", async () => {
    const clock = new ManualClock();
    const ensemble = new MemoryEnsemble(clock, 3_000);
    const a = await started(ensemble, "A");
    const b = await started(ensemble, "B");
    const seenA = record(a);
    const seenB = record(b);
    const lease = await a.acquire("queue", "q");
    let lost = 0;
    lease.onLost(() => lost++);
    ensemble.disconnect("A");
    clock.advance(2_999);
    expect([lease.held, lost]).toEqual([true, 0]);
    expect(seenA).toEqual(["disconnected"]);
    clock.advance(1);
    expect([lease.held, lost]).toEqual([false, 1]);
    expect(await b.holderOf("queue", "q")).toBe("A");
    expect(seenA).toEqual(["disconnected", "lost"]);

    ensemble.expire("A");
    expect(await b.holderOf("queue", "q")).toBeUndefined();
    expect(seenB).toEqual(["members:B"]);
    // Cut off, A still sees the old list.
    expect(a.members().map((m) => m.id)).toEqual(["A", "B"]);

    ensemble.reconnect("A");
    expect(seenA).toEqual(["disconnected", "lost", "expired", "reconnected", "members:A,B"]);
    expect(seenB).toEqual(["members:B", "members:A,B"]);
  });

  it("keeps the same lease when the link comes back within the session", async () => {
    const clock = new ManualClock();
    const ensemble = new MemoryEnsemble(clock, 3_000);
    const a = await started(ensemble, "A");
    const seen = record(a);
    const lease = await a.acquire("queue", "q");
    ensemble.disconnect("A");
    clock.advance(2_000);
    ensemble.reconnect("A");
    clock.advance(10_000);
    expect(lease.held).toBe(true);
    expect(await a.acquire("queue", "q")).toBe(lease);
    expect(seen).toEqual(["disconnected", "connected", "members:A"]);
  });

  it("loses the leases at reconnect when the session expired while the link was down", async () => {
    const clock = new ManualClock();
    const ensemble = new MemoryEnsemble(clock, 3_000);
    const a = await started(ensemble, "A");
    const b = await started(ensemble, "B");
    const lease = await a.acquire("queue", "q");
    ensemble.disconnect("A");
    ensemble.expire("A");
    // The ensemble let the lease go; A, cut off, cannot know before its clock or the reconnect tells it.
    expect(await b.holderOf("queue", "q")).toBeUndefined();
    expect(lease.held).toBe(true);
    ensemble.reconnect("A");
    expect(lease.held).toBe(false);
  });

  it("registers again under a new session when a connected member's session expires", async () => {
    const ensemble = new MemoryEnsemble(new ManualClock());
    const a = await started(ensemble, "A");
    const seen = record(a);
    const lease = await a.acquire("queue", "q");
    ensemble.expire("A");
    expect(lease.held).toBe(false);
    expect(seen).toEqual(["disconnected", "expired", "reconnected", "members:A"]);
    expect(await a.acquire("queue", "q")).not.toBe(lease);
  });

  it("deletes a lost lease's record when the link comes back within the session", async () => {
    const clock = new ManualClock();
    const ensemble = new MemoryEnsemble(clock, 3_000);
    const a = await started(ensemble, "A");
    const b = await started(ensemble, "B");
    await a.acquire("queue", "q");
    ensemble.disconnect("A");
    clock.advance(3_000);
    const seen = record(a);
    ensemble.reconnect("A");
    expect(seen).toEqual(["connected", "members:A,B"]);
    expect(await b.holderOf("queue", "q")).toBeUndefined();
  });
});
