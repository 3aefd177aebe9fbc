import { beforeEach, describe, expect, it } from "vitest";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { MemoryCluster, message } from "../helpers/memory-cluster.ts";

/**
 * ClusterServingNodes' routing rules (docs/architecture.md, "Routing"), on an
 * in-memory cluster of two nodes under a manual clock: calls go from B to the
 * queue's owner A; a failure the registry marks reroutable is retried after
 * 50 ms, doubling up to 1 s, until the route timeout; a call that may have run
 * is repeated only when repeating is harmless.
 */
const routeTimeoutMs = 3_000;

/** Moves the manual clock 1 ms at a time, letting the retry loop run between steps. */
async function elapse(clock: ManualClock, ms: number): Promise<void> {
  for (let step = 0; step < ms; step++) {
    await settle();
    clock.advance(1);
  }
  await settle();
}

describe("cluster routing", () => {
  let clock: ManualClock;
  let cluster: MemoryCluster;
  let queue: string;
  let start: number;

  beforeEach(async () => {
    clock = new ManualClock();
    start = clock.now();
    cluster = new MemoryCluster(clock, { acquireTimeoutMs: 10_000, routeTimeoutMs });
    await cluster.join("A");
    await cluster.join("B");
    queue = MemoryCluster.queueOwnedBy("A", ["A", "B"]);
  });

  /** When B's calls reached the link to A, in ms since the start. */
  const attempts = () =>
    cluster.events.flatMap((event) => (event.type === "link" && event.to === "A" ? [event.at - start] : []));

  it("retries an unreachable serving node after 50, 100 and 200 ms and answers once it is back", async () => {
    cluster.node("A").linkFaults.push("unreachable", "unreachable", "unreachable");
    const published = cluster.node("B").servingNodes.queues.publish(queue, message("m", "k1"));
    await elapse(clock, 1_000);
    await expect(published).resolves.toEqual(["A-1"]);
    expect(attempts()).toEqual([0, 50, 150, 350]);
    expect(cluster.ran("publish").map((run) => run.node)).toEqual(["A"]);
  });

  it("gives up at the route timeout with OWNER_UNAVAILABLE, backing off up to 1 s between attempts", async () => {
    cluster.node("A").linkFaults.push(...Array<"unreachable">(100).fill("unreachable"));
    const published = cluster.node("B").servingNodes.queues.ack(queue, ["r1"]);
    const outcome = published.then(
      () => "resolved",
      (error: unknown) => error,
    );
    await elapse(clock, routeTimeoutMs + 2_000);
    const error = await outcome;
    expect(error).toBeInstanceOf(AvisoError);
    expect((error as AvisoError).reason).toBe("OWNER_UNAVAILABLE");
    // 50, 100, 200, 400, 800, then capped at 1000; the failure at 3550 is past the 3000 ms bound.
    expect(attempts()).toEqual([0, 50, 150, 350, 750, 1550, 2550, 3550]);
    expect(cluster.ran()).toEqual([]);
  });

  it("tells the client OWNER_UNAVAILABLE, not FENCED, when the owner keeps refusing until the bound", async () => {
    const refusals = Array.from({ length: 100 }, () => new AvisoError("FENCED"));
    cluster.node("A").engineFaults.push(...refusals);
    const outcome = cluster
      .node("B")
      .servingNodes.queues.publish(queue, message("m"))
      .catch((error: unknown) => error);
    await elapse(clock, routeTimeoutMs + 2_000);
    expect(((await outcome) as AvisoError).reason).toBe("OWNER_UNAVAILABLE");
    expect(attempts()).toHaveLength(8);
  });

  it("retries a publish without idempotency keys when the serving node refused it (FENCED: certainly not run)", async () => {
    cluster.node("A").engineFaults.push(new AvisoError("FENCED"));
    const published = cluster.node("B").servingNodes.queues.publish(queue, message("m"));
    await elapse(clock, 100);
    await expect(published).resolves.toEqual(["A-1"]);
    expect(attempts()).toEqual([0, 50]);
  });

  it("does not repeat a publish without idempotency keys that may have run (the reply was lost)", async () => {
    cluster.node("A").linkFaults.push("reply-lost");
    const outcome = cluster
      .node("B")
      .servingNodes.queues.publish(queue, message("m"))
      .catch((error: unknown) => error);
    await elapse(clock, routeTimeoutMs + 1_000);
    expect(((await outcome) as AvisoError).reason).toBe("OWNER_UNAVAILABLE");
    expect(cluster.ran("publish")).toHaveLength(1);
    expect(attempts()).toEqual([0]);
  });

  it("does not repeat a batch in which only some messages carry an idempotency key", async () => {
    cluster.node("A").linkFaults.push("reply-lost");
    const batch = [...message("m1", "k1"), ...message("m2")];
    const outcome = cluster
      .node("B")
      .servingNodes.queues.publish(queue, batch)
      .catch((error: unknown) => error);
    await elapse(clock, 1_000);
    expect(((await outcome) as AvisoError).reason).toBe("OWNER_UNAVAILABLE");
    expect(cluster.ran("publish")).toHaveLength(1);
  });

  it("repeats a keyed publish and an ack whose reply was lost (repeating them is harmless)", async () => {
    cluster.node("A").linkFaults.push("reply-lost", "reply-lost");
    const published = cluster.node("B").servingNodes.queues.publish(queue, message("m", "k1"));
    const acked = cluster.node("B").servingNodes.queues.ack(queue, ["r1"]);
    await elapse(clock, 100);
    await expect(published).resolves.toEqual(["A-2"]);
    await expect(acked).resolves.toEqual({ acked: 1, stale: [] });
    expect(cluster.ran().map((run) => run.op)).toEqual(["publish", "ack", "publish", "ack"]);
  });

  it("re-routes a waiting call as soon as the member list changes, without waiting out its backoff", async () => {
    cluster.node("A").linkFaults.push(...Array<"unreachable">(100).fill("unreachable"));
    const published = cluster.node("B").servingNodes.queues.publish(queue, message("m", "k1"));
    await elapse(clock, 20);
    // A's session ends: B is the only member left, so B owns the queue now.
    cluster.ensemble.disconnect("A");
    cluster.ensemble.expire("A");
    await settle();
    await expect(published).resolves.toEqual(["B-1"]);
    expect(cluster.ran("publish")).toEqual([
      { type: "ran", node: "B", op: "publish", name: queue, at: start + 20 },
    ]);
  });
});
