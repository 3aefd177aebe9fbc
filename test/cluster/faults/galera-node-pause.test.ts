import { describe, expect, it } from "vitest";
import { galeraDetectionOptions } from "../../helpers/galera.ts";
import { expectSound } from "./fault-run.ts";
import { brokerConnectionsOn, galeraForThisFile, runGaleraFault } from "./galera-database.ts";
import { pause, waitUntil } from "./timing.ts";

/*
 * Three brokers on a 3-node Galera cluster, all writing through node 0.
 * SIGSTOP of node 0 under the workload, for longer than Galera's hard
 * eviction limit (evs.inactive_timeout), then SIGCONT. A frozen node keeps
 * its sockets open: no connection is refused or reset, so only the store's
 * query deadline (storeQueryTimeoutMs, 3 s) tells the brokers to move on.
 * They must reach node 1 while node 0 is still frozen; node 0 must rejoin by
 * itself once resumed; nothing acknowledged may be lost. The pause clients
 * saw is measured and printed, not asserted.
 */
const galera = galeraForThisFile();

/** Longer than evs.inactive_timeout: the survivors evict node 0 whatever the suspicion rounds do. */
const minimumPauseMs = 2 * isoSeconds(galeraDetectionOptions["evs.inactive_timeout"]) * 1000;

function isoSeconds(value: string | undefined): number {
  const seconds = /^PT([\d.]+)S$/.exec(value ?? "")?.[1];
  if (seconds === undefined) throw new Error(`not a PTnS duration: ${value}`);
  return Number(seconds);
}

describe("fault: SIGSTOP of the Galera node the brokers write to, past its eviction, then SIGCONT", () => {
  it("moves to the next node while the frozen one is still frozen; the resumed node rejoins; nothing acknowledged is lost", async () => {
    const cluster = galera();
    const { report, injected } = await runGaleraFault(cluster, {
      name: "galera-node-pause",
      injectAtAcknowledged: 500,
      inject: async ({ workload, plan }, database) => {
        const before = await Promise.all([0, 1, 2].map((i) => brokerConnectionsOn(cluster, i, database)));
        workload.mark({
          label: "SIGSTOP Galera node 0",
          queues: [...plan.queues, plan.orderQueue],
          topics: plan.topics,
        });
        const pausedAt = Date.now();
        await cluster.pause(0);
        let whilePaused: number;
        let evictedMs: number;
        try {
          await cluster.waitSynced(1, 2, 30_000);
          evictedMs = Date.now() - pausedAt;
          // The brokers' connections show up on node 1 before node 0 is resumed (bounded: 30 s).
          whilePaused = await waitUntil(
            "the brokers to write through node 1 while node 0 is frozen",
            async () => {
              const n = await brokerConnectionsOn(cluster, 1, database);
              return n > 0 ? n : undefined;
            },
            { timeoutMs: 30_000, intervalMs: 200 },
          ).catch(() => 0);
          const left = minimumPauseMs - (Date.now() - pausedAt);
          if (left > 0) await pause(left);
        } finally {
          await cluster.resume(0);
        }
        const pausedMs = Date.now() - pausedAt;
        const resumedAt = Date.now();
        // Node 0 finds itself outside the primary component and rejoins (IST) with no one's help.
        await cluster.waitSynced(0, 3, 90_000);
        const rejoinedMs = Date.now() - resumedAt;
        const after = await Promise.all([0, 1, 2].map((i) => brokerConnectionsOn(cluster, i, database)));
        return { before, whilePaused, after, evictedMs, pausedMs, rejoinedMs };
      },
    });
    const [failover] = report.failover;
    console.log(
      JSON.stringify({
        galeraNodePause: {
          pausedMs: injected.pausedMs,
          evictedMs: injected.evictedMs,
          rejoinedMs: injected.rejoinedMs,
          firstPublishMs: failover?.firstPublishMs,
          publishStallMs: failover?.publishStallMs,
          deliveryStallMs: failover?.deliveryStallMs,
          outcomes: report.attemptOutcomes,
          connectionsBefore: injected.before,
          connectionsOnNode1WhilePaused: injected.whilePaused,
          connectionsAfter: injected.after,
          loadAverage: report.loadAverage,
        },
      }),
    );
    expectSound(report, 1000);
    // Publishing went on after the fault (the run is bounded in time: a slow machine publishes less).
    expect(failover?.firstPublishMs).not.toBeNull();
    // …and it went on before node 0 was resumed: no one had to unfreeze it.
    expect(failover?.firstPublishMs ?? Number.POSITIVE_INFINITY).toBeLessThan(injected.pausedMs);
    expect(report.storedTwice.count).toBe(0);
    expect(injected.pausedMs).toBeGreaterThanOrEqual(minimumPauseMs);
    expect(injected.before[0]).toBeGreaterThan(0);
    expect(injected.before.slice(1)).toEqual([0, 0]);
    // Moved on by itself while node 0 was frozen (no resume needed), and stayed there.
    expect(injected.whilePaused).toBeGreaterThan(0);
    expect(injected.after[1]).toBeGreaterThan(0);
    expect(injected.after[2]).toBe(0);
  }, 360_000);
});
