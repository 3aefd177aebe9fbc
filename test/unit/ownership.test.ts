import { describe, expect, it } from "vitest";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { MemoryCluster, message } from "../helpers/memory-cluster.ts";

/**
 * Ownership's rules (docs/architecture.md, "Ownership" and "Fencing") on an
 * in-memory cluster: a node serves a resource only while it is the
 * rendezvous owner and holds the lease; a lost lease drops the engine at once;
 * a resource that moves is released, flushed and only then given back, and
 * the next owner waits for that.
 */

function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe("ownership", () => {
  it("moves a resource to another member when its owner's session expires, and the old owner stops serving it", async () => {
    const cluster = new MemoryCluster(new ManualClock());
    const a = await cluster.join("A");
    const b = await cluster.join("B");
    const queue = MemoryCluster.queueOwnedBy("A", ["A", "B"]);
    await expect(b.owners.queues.publish(queue, message("m1", "k1"))).resolves.toEqual(["A-1"]);
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: "A" });

    // A loses its link: its lease is lost at once and its engine dropped, though its session lives on.
    cluster.ensemble.disconnect("A");
    expect(a.ownership.holds("queue", queue)).toBe(false);
    expect(cluster.events.at(-1)).toEqual({
      type: "released",
      node: "A",
      kind: "queue",
      name: queue,
      reason: "OWNER_UNAVAILABLE",
    });

    // The session expires: B is alone and takes the queue over.
    cluster.ensemble.expire("A");
    await expect(b.owners.queues.publish(queue, message("m2", "k2"))).resolves.toEqual(["B-1"]);
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: "B" });

    // A, still cut off, believes it owns the queue: it waits for the lease instead of serving.
    const stale = a.owners.queues.publish(queue, message("m3", "k3"));
    await settle();
    expect(cluster.ran().map((run) => run.node)).toEqual(["A", "B"]);

    // A comes back under a new session: rendezvous gives it the queue again; B hands it over first.
    cluster.ensemble.reconnect("A");
    await expect(stale).resolves.toEqual(["A-2"]);
    const after = cluster.events.slice(
      cluster.events.findIndex((event) => event.type === "ran" && event.node === "B"),
    );
    expect(after.map((event) => `${event.type} ${"node" in event ? event.node : ""}`)).toEqual([
      "ran B",
      "released B",
      "flush B",
      "ran A",
    ]);
    expect(cluster.errors).toEqual([]);
  });

  it("refuses (FENCED) at once a peer's call for a resource another node owns, and the caller re-routes", async () => {
    const cluster = new MemoryCluster(new ManualClock());
    const a = await cluster.join("A");
    const b = await cluster.join("B");
    const queue = MemoryCluster.queueOwnedBy("B", ["A", "B"]);
    await expect(b.owners.queues.publish(queue, message("m1"))).resolves.toEqual(["B-1"]);
    // Asked directly (as a peer with an old member list would), A refuses instead of waiting for B's lease.
    let outcome: unknown = "pending";
    a.owners
      .servingOwners()
      .queues.publish(queue, message("m2"))
      .then(
        (ids) => {
          outcome = ids;
        },
        (error: unknown) => {
          outcome = error;
        },
      );
    await settle();
    expect((outcome as AvisoError).reason).toBe("FENCED");
    expect(a.ownership.holds("queue", queue)).toBe(false);
    await expect(a.owners.queues.publish(queue, message("m3"))).resolves.toEqual(["B-2"]);
  });

  it("hands over on a graceful leave: engine released, writes flushed, lease given back; the next owner takes over at once", async () => {
    const clock = new ManualClock();
    const cluster = new MemoryCluster(clock);
    const a = await cluster.join("A");
    const b = await cluster.join("B");
    const queue = MemoryCluster.queueOwnedBy("A", ["A", "B"]);
    await a.owners.queues.publish(queue, message("m1"));
    const flushed = gate();
    a.flushGate = flushed.promise;

    const leaving = a.owners.close(new AvisoError("SHUTTING_DOWN"));
    await settle();
    expect(cluster.events.slice(-2)).toEqual([
      { type: "released", node: "A", kind: "queue", name: queue, reason: "OWNER_UNAVAILABLE" },
      // Until the flush completes, A keeps the lease: nobody may claim the queue before A's writes land.
      { type: "flush", node: "A", holders: { [`queue/${queue}`]: "A" } },
    ]);
    // A call arriving meanwhile is refused by the leaving node and waits to retry.
    const published = b.owners.queues.publish(queue, message("m2"));
    await settle();
    expect(cluster.ran().map((run) => run.node)).toEqual(["A"]);
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: "A" });

    flushed.open();
    await leaving;
    expect(cluster.ensemble.holders()).toEqual({});
    await a.coordinator.close();
    // B hears A left and owns the queue: the waiting call runs there without any time passing.
    await expect(published).resolves.toEqual(["B-1"]);
    expect(cluster.ran().map((run) => [run.node, run.at])).toEqual([
      ["A", clock.now()],
      ["B", clock.now()],
    ]);
  });

  it("hands a resource to a member that joins only after the old owner flushed and let go", async () => {
    const cluster = new MemoryCluster(new ManualClock());
    const a = await cluster.join("A");
    const queue = MemoryCluster.queueOwnedBy("B", ["A", "B"]);
    await expect(a.owners.queues.publish(queue, message("m1"))).resolves.toEqual(["A-1"]);
    const flushed = gate();
    a.flushGate = flushed.promise;

    const b = await cluster.join("B");
    await settle();
    expect(a.ownership.holds("queue", queue)).toBe(false);
    const published = b.owners.queues.publish(queue, message("m2"));
    await settle();
    // A has not let go yet: B waits for the lease and runs nothing.
    expect(cluster.ran().map((run) => run.node)).toEqual(["A"]);
    expect(b.ownership.holds("queue", queue)).toBe(false);

    flushed.open();
    await expect(published).resolves.toEqual(["B-1"]);
    expect(cluster.events.map((event) => `${event.type} ${"node" in event ? event.node : ""}`)).toEqual([
      "ran A",
      "released A",
      "flush A",
      "ran B",
    ]);
  });

  it("gives up taking a lease the old owner does not let go of within acquireTimeoutMs", async () => {
    const clock = new ManualClock();
    const cluster = new MemoryCluster(clock, { acquireTimeoutMs: 5_000, routeTimeoutMs: 15_000 });
    const a = await cluster.join("A");
    const queue = MemoryCluster.queueOwnedBy("B", ["A", "B"]);
    await a.owners.queues.publish(queue, message("m1"));
    a.flushGate = new Promise<void>(() => {}); // A's flush never completes
    const b = await cluster.join("B");
    let outcome: unknown = "pending";
    b.ownership.ensureOwned("queue", queue).catch((error: unknown) => {
      outcome = error;
    });
    clock.advance(4_999);
    await settle();
    expect(outcome).toBe("pending");
    clock.advance(1);
    await settle();
    expect((outcome as AvisoError).reason).toBe("OWNER_UNAVAILABLE");
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: "A" });
  });
});
