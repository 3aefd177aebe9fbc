import { describe, expect, it } from "vitest";
import { nodeId, waitMembers, waitOwned } from "./cluster-view.ts";
import { expectSound, runFault } from "./fault-run.ts";

/*
 * (e) A 4th node joins mid-run. Rendezvous hashing moves a share of the
 * resources to it — here the order queue and a topic, chosen so — and the
 * old owners hand them over (stop, flush, release) before it claims them:
 * no loss, no reordering, subscribers re-attach on their own.
 */
describe("fault: a 4th node joins mid-run", () => {
  it("takes its share over without loss, reordering or gaps", async () => {
    const all = [0, 1, 2, 3].map(nodeId);
    const { report, injected } = await runFault({
      name: "node-joins",
      servingNodes: {
        queues: ["node-0", "node-1", "node-2"],
        orderQueue: "node-1",
        topics: ["node-2", "node-0"],
        joiner: { id: nodeId(3), takes: ["orderQueue", "topic0"] },
      },
      injectAtAcknowledged: 1000,
      inject: async ({ cluster, workload, plan, token }) => {
        const spawned = Date.now();
        await cluster.start(3);
        // It is registered (and so owns its share) once it listens: that is when the handover starts.
        const mark = workload.mark({
          label: `${nodeId(3)} joins`,
          queues: [plan.orderQueue],
          topics: [plan.topics[0] as string],
        });
        await Promise.all([0, 1, 2, 3].map((index) => waitMembers(cluster, index, token, all, 30_000)));
        await waitOwned(cluster, 3, token, { queues: [plan.orderQueue], topics: [plan.topics[0] as string] });
        return { spawnMs: mark.at - spawned, ownedMs: Date.now() - mark.at };
      },
    });
    console.log(JSON.stringify(injected));
    expectSound(report, 3000);
    const [join] = report.failover;
    expect(join?.firstDeliveryMs).not.toBeNull();
    // A handover, not a failover: well under a session timeout (generous for a loaded machine).
    expect(join?.deliveryStallMs).toBeLessThan(5000);
  }, 240_000);
});
