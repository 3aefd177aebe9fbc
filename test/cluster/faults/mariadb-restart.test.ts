import { describe, expect, inject, it } from "vitest";
import { startMariadb, stopMariadb } from "../../helpers/mariadb.ts";
import { expectSound, runFault } from "./fault-run.ts";
import { waitUntil } from "./timing.ts";

/*
 * (d) The MariaDB server (the run's shared one: the cluster project runs its
 * files one at a time) stops and starts again in place while the workload
 * runs. Publishes while it is down must fail fast with a clear
 * 503 STORE_UNAVAILABLE — never hang — and succeed once it is back, without
 * restarting any node. Nothing acknowledged may be lost.
 */
const HANG_BOUND_MS = 12_000;

describe("fault: MariaDB restart", () => {
  it("answers 503 STORE_UNAVAILABLE while the store is down, never hangs, and loses nothing", async () => {
    const { stateFile } = inject("mariadb");
    const { report, injected, history } = await runFault({
      name: "mariadb-restart",
      servingNodes: {
        queues: ["node-0", "node-1", "node-2"],
        orderQueue: "node-0",
        topics: ["node-1", "node-2"],
      },
      injectAtAcknowledged: 1000,
      // Longer than the hang bound, so a hanging publish shows as one.
      size: { requestTimeoutMs: 20_000 },
      inject: async ({ workload }) => {
        workload.mark({ label: "MariaDB restart", queues: [], topics: [] });
        await stopMariadb(stateFile, "SIGTERM");
        const downAt = Date.now();
        // Down long enough for the publishers to meet the outage.
        await waitUntil(
          "publishes to be answered while the store is down",
          () =>
            Date.now() - downAt > 2000 &&
            workload.history.attempts.filter((a) => a.sentAt >= downAt && a.endedAt > 0).length >= 8,
          { timeoutMs: 30_000 },
        );
        const restartAt = Date.now();
        await startMariadb(stateFile);
        return { downAt, restartAt, upAt: Date.now() };
      },
    });
    const during = history.attempts.filter(
      (a) => a.sentAt >= injected.downAt && a.sentAt < injected.restartAt,
    );
    const outcomes = [...new Set(during.map((a) => `${a.status} ${a.reason ?? ""}`.trim()))].sort();
    const longestMs = Math.max(...history.attempts.map((a) => a.endedAt - a.sentAt));
    console.log(JSON.stringify({ window: injected, outcomesWhileDown: outcomes, longestMs }));
    expectSound(report, 3000);
    // While the store was down publishes failed with the clear 503 (a retry answered from the
    // idempotency memory may still get its 201), and none hung.
    expect(during.length).toBeGreaterThan(0);
    expect(outcomes).toContain("503 STORE_UNAVAILABLE");
    for (const outcome of outcomes) expect(["201", "503 STORE_UNAVAILABLE"]).toContain(outcome);
    expect(longestMs).toBeLessThan(HANG_BOUND_MS);
    // Once it was back, publishing worked again without restarting any node.
    expect(history.attempts.some((a) => a.sentAt >= injected.upAt && a.status === 201)).toBe(true);
  }, 240_000);
});
