import { describe, expect, it } from "vitest";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { MemoryCluster, memorySessionTimeoutMs, message } from "../helpers/memory-cluster.ts";

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
  it("moves a resource to another member when its serving node's session expires, and the old serving node stops serving it", async () => {
    const cluster = new MemoryCluster(new ManualClock());
    const a = await cluster.join("A");
    const b = await cluster.join("B");
    const queue = MemoryCluster.queueOwnedBy("A", ["A", "B"]);
    await expect(b.servingNodes.queues.publish(queue, message("m1", "k1"))).resolves.toEqual(["A-1"]);
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: "A" });

    // A loses its link and stays cut off for the whole session timeout: it
    // drops its lease and engine, though its session may live on.
    cluster.ensemble.disconnect("A");
    cluster.clock.advance(memorySessionTimeoutMs);
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
    await expect(b.servingNodes.queues.publish(queue, message("m2", "k2"))).resolves.toEqual(["B-1"]);
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: "B" });

    // A, still cut off, believes it owns the queue: it waits for the lease instead of serving.
    const stale = a.servingNodes.queues.publish(queue, message("m3", "k3"));
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
    await expect(b.servingNodes.queues.publish(queue, message("m1"))).resolves.toEqual(["B-1"]);
    // Asked directly (as a peer with an old member list would), A refuses instead of waiting for B's lease.
    let outcome: unknown = "pending";
    a.servingNodes
      .servedHere()
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
    await expect(a.servingNodes.queues.publish(queue, message("m3"))).resolves.toEqual(["B-2"]);
  });

  it("hands over on a graceful leave: engine released, writes flushed, lease given back; the next serving node takes over at once", async () => {
    const clock = new ManualClock();
    const cluster = new MemoryCluster(clock);
    const a = await cluster.join("A");
    const b = await cluster.join("B");
    const queue = MemoryCluster.queueOwnedBy("A", ["A", "B"]);
    await a.servingNodes.queues.publish(queue, message("m1"));
    const flushed = gate();
    a.flushGate = flushed.promise;

    const leaving = a.servingNodes.close(new AvisoError("SHUTTING_DOWN"));
    await settle();
    expect(cluster.events.slice(-2)).toEqual([
      { type: "released", node: "A", kind: "queue", name: queue, reason: "OWNER_UNAVAILABLE" },
      // Until the flush completes, A keeps the lease: nobody may claim the queue before A's writes land.
      { type: "flush", node: "A", holders: { [`queue/${queue}`]: "A" } },
    ]);
    // A call arriving meanwhile is refused by the leaving node and waits to retry.
    const published = b.servingNodes.queues.publish(queue, message("m2"));
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

  it("hands a resource to a member that joins only after the old serving node flushed and let go", async () => {
    const cluster = new MemoryCluster(new ManualClock());
    const a = await cluster.join("A");
    const queue = MemoryCluster.queueOwnedBy("B", ["A", "B"]);
    await expect(a.servingNodes.queues.publish(queue, message("m1"))).resolves.toEqual(["A-1"]);
    const flushed = gate();
    a.flushGate = flushed.promise;

    const b = await cluster.join("B");
    await settle();
    expect(a.ownership.holds("queue", queue)).toBe(false);
    const published = b.servingNodes.queues.publish(queue, message("m2"));
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

  it("gives up taking a lease the old serving node does not let go of within acquireTimeoutMs", async () => {
    const clock = new ManualClock();
    const cluster = new MemoryCluster(clock, { acquireTimeoutMs: 5_000, routeTimeoutMs: 15_000 });
    const a = await cluster.join("A");
    const queue = MemoryCluster.queueOwnedBy("B", ["A", "B"]);
    await a.servingNodes.queues.publish(queue, message("m1"));
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

/**
 * A lost link is not a lost session (issue 10, item 4): a node rides out a
 * ZooKeeper leader change or a reconnect to another server, serving what it
 * owns, and gives ownership up only when the session expires or its own clock
 * says it could have (disconnected for the whole session timeout). Writes stay
 * fenced by the store's epoch meanwhile (docs/architecture.md, "Fencing").
 */
describe("ownership through a lost link", () => {
  async function ownedByA() {
    const cluster = new MemoryCluster(new ManualClock());
    const a = await cluster.join("A");
    const b = await cluster.join("B");
    const queue = MemoryCluster.queueOwnedBy("A", ["A", "B"]);
    await expect(b.servingNodes.queues.publish(queue, message("m1", "k1"))).resolves.toEqual(["A-1"]);
    return { cluster, a, b, queue };
  }

  /** Releases and flushes, as "released A <name>" / "flush B". */
  const handovers = (cluster: MemoryCluster) =>
    cluster.events.flatMap((event) =>
      event.type === "released"
        ? [`released ${event.node} ${event.name} ${event.reason}`]
        : event.type === "flush"
          ? [`flush ${event.node}`]
          : [],
    );

  it("keeps serving what it owns while the link is down and the session may live", async () => {
    const { cluster, a, b, queue } = await ownedByA();
    cluster.ensemble.disconnect("A");
    cluster.clock.advance(memorySessionTimeoutMs - 1);
    expect(a.ownership.holds("queue", queue)).toBe(true);
    expect(a.ownership.owned().queues).toEqual([queue]);
    await expect(a.servingNodes.queues.publish(queue, message("m2", "k2"))).resolves.toEqual(["A-2"]);
    await expect(b.servingNodes.queues.publish(queue, message("m3", "k3"))).resolves.toEqual(["A-3"]);
    expect(handovers(cluster)).toEqual([]);
    expect(cluster.errors).toEqual([]);
  });

  it("keeps every resource, with no handover, when the link comes back within the same session", async () => {
    const { cluster, a, b, queue } = await ownedByA();
    cluster.ensemble.disconnect("A");
    cluster.clock.advance(memorySessionTimeoutMs - 1);
    cluster.ensemble.reconnect("A");
    await settle();
    cluster.clock.advance(memorySessionTimeoutMs * 2);
    expect(a.ownership.holds("queue", queue)).toBe(true);
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: "A" });
    await expect(b.servingNodes.queues.publish(queue, message("m2", "k2"))).resolves.toEqual(["A-2"]);
    // Nothing was released or flushed for a handover, on either node.
    expect(handovers(cluster)).toEqual([]);
    expect(cluster.errors).toEqual([]);
  });

  it("drops every resource once the link has been down for the whole session timeout", async () => {
    const { cluster, a, b, queue } = await ownedByA();
    cluster.ensemble.disconnect("A");
    cluster.clock.advance(memorySessionTimeoutMs);
    expect(a.ownership.holds("queue", queue)).toBe(false);
    expect(handovers(cluster)).toEqual([`released A ${queue} OWNER_UNAVAILABLE`]);
    // Its session then expires on the ensemble: B takes the queue over.
    cluster.ensemble.expire("A");
    await expect(b.servingNodes.queues.publish(queue, message("m2", "k2"))).resolves.toEqual(["B-1"]);
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: "B" });
    expect(cluster.errors).toEqual([]);
  });

  it("drops every resource at once when the session expires", async () => {
    const { cluster, a, queue } = await ownedByA();
    cluster.ensemble.expire("A");
    expect(a.ownership.holds("queue", queue)).toBe(false);
    expect(handovers(cluster)).toEqual([`released A ${queue} OWNER_UNAVAILABLE`]);
    // Registered again under a new session, it claims the queue anew on the next use.
    await expect(a.servingNodes.queues.publish(queue, message("m2", "k2"))).resolves.toEqual(["A-2"]);
    expect(cluster.errors).toEqual([]);
  });

  it("drops every resource at reconnect when the session expired while the link was down", async () => {
    const { cluster, a, queue } = await ownedByA();
    cluster.ensemble.disconnect("A");
    cluster.ensemble.expire("A");
    cluster.ensemble.reconnect("A");
    expect(a.ownership.holds("queue", queue)).toBe(false);
    expect(handovers(cluster)).toEqual([`released A ${queue} OWNER_UNAVAILABLE`]);
    expect(cluster.errors).toEqual([]);
  });
});
