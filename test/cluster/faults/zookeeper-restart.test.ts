import { describe, expect, it } from "vitest";
import { nodeId, waitMembers } from "./cluster-view.ts";
import { expectSound, runFault } from "./fault-run.ts";

/*
 * (c) The single ZooKeeper server stops and starts again (same data) while
 * the workload runs. Every node loses its link at once; it keeps serving
 * what it owns until it has heard nothing for a whole session timeout (a
 * restart on a loaded machine usually takes longer), then stops acting as
 * owner. When ZooKeeper is back the nodes reconnect (or, if their sessions
 * expired, register again) and claim their resources anew. Nothing
 * acknowledged may be lost.
 */
describe("fault: ZooKeeper restart", () => {
  it("loses no acknowledged message and resumes after ZooKeeper is back", async () => {
    const all = [nodeId(0), nodeId(1), nodeId(2)];
    const { report, injected } = await runFault({
      name: "zookeeper-restart",
      servingNodes: {
        queues: ["node-0", "node-1", "node-2"],
        orderQueue: "node-2",
        topics: ["node-0", "node-1"],
      },
      injectAtAcknowledged: 1000,
      inject: async ({ cluster, workload, token }) => {
        workload.mark({ label: "ZooKeeper restart", queues: [], topics: [] });
        const stopped = Date.now();
        await cluster.zooKeeper.restart(0);
        const restartMs = Date.now() - stopped;
        await Promise.all([0, 1, 2].map((index) => waitMembers(cluster, index, token, all, 30_000)));
        return { restartMs, rejoinedMs: Date.now() - stopped };
      },
    });
    console.log(JSON.stringify(injected));
    expectSound(report, 3000);
    expect(report.failover[0]?.firstPublishMs).not.toBeNull();
    expect(report.failover[0]?.firstDeliveryMs).not.toBeNull();
    // Service stands still while ZooKeeper is away and resumes once it is back.
    expect(report.failover[0]?.publishStallMs).toBeLessThan(injected.rejoinedMs + 15_000);
    expect(report.failover[0]?.deliveryStallMs).toBeLessThan(injected.rejoinedMs + 15_000);
  }, 240_000);
});
