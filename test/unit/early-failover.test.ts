import { describe, expect, it } from "vitest";
import { enoughToEvict, evictionQuorum } from "../../src/cluster/eviction.ts";
import { rendezvousServingNode } from "../../src/cluster/rendezvous.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { MemoryCluster, memorySessionTimeoutMs, message } from "../helpers/memory-cluster.ts";

/**
 * Failover before a dead owner's session expires (issue 10, item 3;
 * docs/architecture.md, "Failing over before the session expires"): members
 * that find an owner's peer port refusing connections report it, and once a
 * majority of the members (at least two, the suspect never counting) report
 * its current session, it is evicted and its leases are free to claim at
 * once. Writes stay fenced by the store's epoch, so a wrong eviction costs
 * a handover, never a second committing writer.
 */

const ids = (members: readonly { id: string }[]) => members.map((member) => member.id);

async function threeNodesQueueOnA() {
  const cluster = new MemoryCluster(new ManualClock());
  const a = await cluster.join("A");
  const b = await cluster.join("B");
  const c = await cluster.join("C");
  const queue = MemoryCluster.queueOwnedBy("A", ["A", "B", "C"]);
  await expect(b.servingNodes.queues.publish(queue, message("m1", "k1"))).resolves.toEqual(["A-1"]);
  const successor = rendezvousServingNode([{ id: "B" }, { id: "C" }], "queue", queue)?.id as string;
  return { cluster, a, b, c, queue, successor };
}

describe("eviction quorum", () => {
  it("needs a majority of the members and never fewer than two reporters", () => {
    expect([1, 2, 3, 4, 5, 6].map(evictionQuorum)).toEqual([2, 2, 2, 3, 3, 4]);
  });

  it("counts only live members other than the suspect, each once", () => {
    const members = [{ id: "A" }, { id: "B" }, { id: "C" }];
    expect(enoughToEvict(members, "A", ["B", "C"])).toBe(true);
    expect(enoughToEvict(members, "A", ["B", "B"])).toBe(false);
    expect(enoughToEvict(members, "A", ["A", "B"])).toBe(false);
    expect(enoughToEvict(members, "A", ["B", "X"])).toBe(false);
    expect(enoughToEvict(members, "X", ["B", "C"])).toBe(false);
    expect(enoughToEvict([{ id: "A" }, { id: "B" }], "A", ["B"])).toBe(false);
  });
});

describe("failover before the session expires", () => {
  it("moves a dead serving node's queue as soon as a majority reports its peer port refused, with no time passing", async () => {
    const { cluster, c, b, queue, successor } = await threeNodesQueueOnA();
    const start = cluster.clock.now();
    cluster.kill("A");
    const published = c.servingNodes.queues.publish(queue, message("m2", "k2"));
    await settle();
    // One report is not enough: A stays a member and nothing runs anywhere.
    await b.coordinator.reportUnreachable("A", true);
    await settle();
    expect(ids(cluster.ensemble.members())).toEqual(["A", "B", "C"]);
    expect(cluster.ran().map((run) => run.node)).toEqual(["A"]);

    await c.coordinator.reportUnreachable("A", true);
    await expect(published).resolves.toEqual([`${successor}-1`]);
    expect(ids(cluster.ensemble.members())).toEqual(["B", "C"]);
    // The successor took the lease A's session still held: no session timeout waited for.
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: successor });
    expect(cluster.clock.now()).toBe(start);
    expect(cluster.errors).toEqual([]);
  });

  it("waits for the session when too few members can report (two members)", async () => {
    const cluster = new MemoryCluster(new ManualClock());
    await cluster.join("A");
    const b = await cluster.join("B");
    const queue = MemoryCluster.queueOwnedBy("A", ["A", "B"]);
    await expect(b.servingNodes.queues.publish(queue, message("m1", "k1"))).resolves.toEqual(["A-1"]);
    cluster.kill("A");
    const published = b.servingNodes.queues.publish(queue, message("m2", "k2"));
    await b.coordinator.reportUnreachable("A", true);
    cluster.clock.advance(memorySessionTimeoutMs - 1);
    await settle();
    expect(ids(cluster.ensemble.members())).toEqual(["A", "B"]);
    expect(cluster.ran().map((run) => run.node)).toEqual(["A"]);
    cluster.ensemble.expire("A");
    await expect(published).resolves.toEqual(["B-1"]);
  });

  it("does not count a report about an earlier session of the member", async () => {
    const { cluster, b, c } = await threeNodesQueueOnA();
    await b.coordinator.reportUnreachable("A", true);
    // A's session expires and it registers again under a new one.
    cluster.ensemble.expire("A");
    await settle();
    cluster.kill("A");
    await c.coordinator.reportUnreachable("A", true);
    expect(ids(cluster.ensemble.members())).toEqual(["A", "B", "C"]);
    await b.coordinator.reportUnreachable("A", true);
    expect(ids(cluster.ensemble.members())).toEqual(["B", "C"]);
  });

  it("forgets a report withdrawn when the port answers again", async () => {
    const { cluster, b, c } = await threeNodesQueueOnA();
    await b.coordinator.reportUnreachable("A", true);
    await b.coordinator.reportUnreachable("A", false);
    await c.coordinator.reportUnreachable("A", true);
    expect(ids(cluster.ensemble.members())).toEqual(["A", "B", "C"]);
  });

  it("a live serving node evicted by mistake stops serving at once, then joins again and takes its queue back by handover", async () => {
    const { cluster, a, b, c, queue, successor } = await threeNodesQueueOnA();
    await b.coordinator.reportUnreachable("A", true);
    await c.coordinator.reportUnreachable("A", true);
    // A dropped its engine the moment it saw itself evicted; it held the lease until then.
    expect(a.ownership.holds("queue", queue)).toBe(false);
    expect(cluster.events).toContainEqual({
      type: "released",
      node: "A",
      kind: "queue",
      name: queue,
      reason: "OWNER_UNAVAILABLE",
    });
    await settle();
    // It registered again under the same session: rendezvous gives it the queue back.
    expect(ids(cluster.ensemble.members())).toEqual(["A", "B", "C"]);
    await expect(
      cluster.node(successor).servingNodes.queues.publish(queue, message("m2", "k2")),
    ).resolves.toEqual(["A-2"]);
    expect(cluster.ensemble.holders()).toEqual({ [`queue/${queue}`]: "A" });
    expect(cluster.errors).toEqual([]);
  });

  it("a serving node evicted while cut off from the ensemble drops what it held when its link comes back", async () => {
    const { cluster, a, b, c, queue, successor } = await threeNodesQueueOnA();
    cluster.ensemble.disconnect("A");
    await b.coordinator.reportUnreachable("A", true);
    await c.coordinator.reportUnreachable("A", true);
    await expect(b.servingNodes.queues.publish(queue, message("m2", "k2"))).resolves.toEqual([
      `${successor}-1`,
    ]);
    // Cut off, A still believes it owns the queue (its writes would be fenced by the store's epoch) …
    expect(a.ownership.holds("queue", queue)).toBe(true);
    // … and gives it up the moment the link is back, before it could claim anything again.
    cluster.ensemble.reconnect("A");
    expect(a.ownership.holds("queue", queue)).toBe(false);
    await settle();
    expect(ids(cluster.ensemble.members())).toEqual(["A", "B", "C"]);
    expect(cluster.errors).toEqual([]);
  });
});
