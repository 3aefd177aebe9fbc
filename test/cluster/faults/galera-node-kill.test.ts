import { describe, expect, it } from "vitest";
import { clusterView, nodeId, waitMembers } from "./cluster-view.ts";
import { expectSound } from "./fault-run.ts";
import { brokerConnections, galeraForThisFile, runGaleraFault } from "./galera-database.ts";

/*
 * Three of everything: three brokers on a 3-server ZooKeeper ensemble and a
 * 3-node Galera cluster, each broker given all three database addresses:
 * they all write through the first node that answers (node 0). kill -9 of
 * that node under the workload: the brokers move to node 1 on their own, the
 * surviving nodes evict node 0 after Galera's failure detection (tuned to
 * ~2 s, see test/helpers/galera.ts), and nothing acknowledged is lost. The
 * pause clients saw is measured and printed, not asserted.
 */
const galera = galeraForThisFile();

describe("fault: kill -9 of the Galera node the brokers write to", () => {
  it("fails over to the next node by itself and loses nothing acknowledged", async () => {
    const cluster = galera();
    const { report, injected } = await runGaleraFault(cluster, {
      name: "galera-node-kill",
      injectAtAcknowledged: 1000,
      inject: async ({ workload, plan }, database) => {
        const before = await brokerConnections(cluster, database);
        workload.mark({
          label: "kill -9 Galera node 0",
          queues: [...plan.queues, plan.orderQueue],
          topics: plan.topics,
        });
        const killedAt = Date.now();
        await cluster.kill(0);
        // The survivors form a 2-node primary component once node 0 is evicted.
        await cluster.waitSynced(1, 2, 30_000);
        const evictedMs = Date.now() - killedAt;
        const after = await brokerConnections(cluster, database);
        return { before, after, evictedMs };
      },
    });
    const [failover] = report.failover;
    const pauses = {
      evictedMs: injected.evictedMs,
      firstPublishMs: failover?.firstPublishMs,
      publishStallMs: failover?.publishStallMs,
      deliveryStallMs: failover?.deliveryStallMs,
      outcomes: report.attemptOutcomes,
      connectionsBefore: injected.before,
      connectionsAfter: injected.after,
    };
    console.log(JSON.stringify({ galeraNodeKill: pauses }));
    expectSound(report, 3000);
    expect(report.storedTwice.count).toBe(0);
    // Every broker wrote through node 0, and afterwards through the survivors: mostly node 1, the
    // next in the list; a broker whose search found node 1 still re-forming the component (not
    // synced, or a query timed out while eviction was pending) takes node 2 — correct either way
    // (certification orders them; docs/operations.md), so only the move itself is asserted.
    expect(injected.before[0]).toBeGreaterThan(0);
    expect(injected.before.slice(1)).toEqual([0, 0]);
    expect(injected.after[0]).toBe(-1);
    expect((injected.after[1] ?? 0) + (injected.after[2] ?? 0)).toBeGreaterThan(0);
  }, 300_000);
});

describe("fault: kill -9 of a broker and of the Galera node the brokers write to, at once", () => {
  it("the order queue's serving node and the write node die together; nothing acknowledged is lost", async () => {
    const cluster = galera();
    // The previous case killed node 0: bring it back so all three nodes serve again.
    await cluster.start(0);
    await cluster.waitSynced(0, 3, 60_000);
    const { report, injected } = await runGaleraFault(cluster, {
      name: "galera-node-and-broker-kill",
      injectAtAcknowledged: 1000,
      orderQueueNode: "node-1",
      inject: async (run) => {
        run.workload.mark({
          label: "kill -9 broker node-1 and Galera node 0",
          queues: [...run.plan.queues, run.plan.orderQueue],
          topics: run.plan.topics,
        });
        const killedAt = Date.now();
        await Promise.all([run.cluster.kill(1, "SIGKILL"), cluster.kill(0)]);
        await cluster.waitSynced(1, 2, 30_000);
        return { evictedMs: Date.now() - killedAt };
      },
    });
    const [failover] = report.failover;
    console.log(
      JSON.stringify({
        galeraNodeAndBrokerKill: {
          evictedMs: injected.evictedMs,
          firstDeliveryMs: failover?.firstDeliveryMs,
          publishStallMs: failover?.publishStallMs,
          deliveryStallMs: failover?.deliveryStallMs,
          outcomes: report.attemptOutcomes,
        },
      }),
    );
    expectSound(report, 1000);
    expect(report.storedTwice.count).toBe(0);
  }, 360_000);
});

describe("fault: kill -9 of a broker, on three of everything", () => {
  it("the order queue's serving node dies; the others take over from Galera; nothing acknowledged is lost", async () => {
    const cluster = galera();
    // The previous case killed node 0 again: all three database nodes serve before this run.
    await cluster.start(0);
    await cluster.waitSynced(0, 3, 60_000);
    const { report, injected } = await runGaleraFault(cluster, {
      name: "galera-broker-kill",
      injectAtAcknowledged: 1000,
      orderQueueNode: "node-1",
      inject: async ({ cluster: brokers, workload, plan, token }) => {
        const { owned } = await clusterView(brokers.node(1).url, token);
        expect(owned.queues).toContain(plan.orderQueue);
        workload.mark({ label: `kill -9 ${nodeId(1)}`, queues: owned.queues, topics: owned.topics });
        await brokers.kill(1, "SIGKILL");
        await waitMembers(brokers, 0, token, [nodeId(0), nodeId(2)], 20_000);
        await waitMembers(brokers, 2, token, [nodeId(0), nodeId(2)], 20_000);
        return { owned };
      },
    });
    const [failover] = report.failover;
    console.log(
      JSON.stringify({
        galeraBrokerKill: {
          firstDeliveryMs: failover?.firstDeliveryMs,
          publishStallMs: failover?.publishStallMs,
          deliveryStallMs: failover?.deliveryStallMs,
          outcomes: report.attemptOutcomes,
        },
      }),
    );
    expectSound(report, 3000);
    expect(report.storedTwice.count).toBe(0);
    expect(injected.owned.queues.length).toBeGreaterThan(0);
    expect(failover?.firstDeliveryMs).not.toBeNull();
  }, 360_000);
});
