/**
 * Failover and graceful-handover times of a 3-node cluster.
 *
 *   node --import tsx bench/failover.ts [--runs 6] [--session-timeout-ms 3000]
 *
 * Starts its own MariaDB and ZooKeeper (test harness) and three nodes. Each
 * run makes a fresh queue owned by node-1 or node-2, with a publisher (REST,
 * one keyed message every 20 ms, retried with the same key) and a WebSocket
 * consumer (prefetch 32, acks) both on node-0, then stops the owner:
 *
 * - failover: kill -9 of the owner → first delivery by the new owner;
 * - handover: SIGTERM of the owner → first delivery by the new owner;
 *
 * "By the new owner" = a delivery of a message whose publish was sent after
 * the signal, or a redelivery — never the old owner's last frames in flight.
 * The owner is restarted and the cluster settles before the next run. Prints
 * one JSON line and writes test-artifacts/faults/failover-bench.json.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { nodeId, waitMembers } from "../test/cluster/faults/cluster-view.ts";
import type { TestCluster } from "../test/helpers/cluster.ts";
import { numberArg } from "./lib/args.ts";
import { probeQueue, startBenchCluster } from "./lib/bench-cluster.ts";
import { cleanUpOnSignals, runCleanups } from "./lib/cleanup.ts";
import { spread } from "./lib/report.ts";

const { values: args } = parseArgs({
  options: { runs: { type: "string" }, "session-timeout-ms": { type: "string" } },
});
const runs = numberArg(args, "runs", 6);
const sessionTimeoutMs = numberArg(args, "session-timeout-ms", 3000);
const MEMBERS = [nodeId(0), nodeId(1), nodeId(2)];

interface Sample {
  run: number;
  owner: string;
  firstDeliveryMs: number;
  firstPublishMs: number;
}

async function main(): Promise<void> {
  cleanUpOnSignals();
  const loadStart = loadavg();
  const { cluster, token } = await startBenchCluster({ database: "failover_bench", sessionTimeoutMs });

  const failover: Sample[] = [];
  const handover: Sample[] = [];
  for (let run = 0; run < runs * 2; run += 1) {
    const signal = run % 2 === 0 ? "SIGKILL" : "SIGTERM";
    const sample = await measure(cluster, token, run, signal);
    (signal === "SIGKILL" ? failover : handover).push(sample);
    process.stderr.write(
      `run ${run} ${signal} ${sample.owner}: first delivery ${sample.firstDeliveryMs} ms\n`,
    );
  }
  const result = {
    sessionTimeoutMs,
    runs,
    failover: spread(failover.map((sample) => sample.firstDeliveryMs)),
    handover: spread(handover.map((sample) => sample.firstDeliveryMs)),
    samples: { failover, handover },
    loadAverage: { start: loadStart, end: loadavg() },
  };
  const dir = join(process.cwd(), "test-artifacts", "faults");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "failover-bench.json"), `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    `RESULT ${JSON.stringify({ sessionTimeoutMs, runs, failover: result.failover, handover: result.handover })}`,
  );
}

/** One run: a fresh queue owned by node-1 or node-2, steady traffic, then the owner gets `signal`. */
async function measure(
  cluster: TestCluster,
  token: string,
  run: number,
  signal: NodeJS.Signals,
): Promise<Sample> {
  const ownerIndex = 1 + (Math.floor(run / 2) % 2);
  const probe = await probeQueue(cluster, token, ownerIndex, `failover-${run}`);
  try {
    const at = Date.now();
    await cluster.kill(ownerIndex, signal);
    const times = await probe.newOwnerTimes(at, 30_000);
    return { run, owner: nodeId(ownerIndex), ...times };
  } finally {
    await probe.stop();
    if (cluster.nodes[ownerIndex] === undefined) await cluster.start(ownerIndex);
    await Promise.all([0, 1, 2].map((index) => waitMembers(cluster, index, token, MEMBERS, 30_000)));
  }
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => runCleanups());
