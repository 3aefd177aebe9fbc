/**
 * What clients see when the ZooKeeper leader dies: a 3-node cluster on a
 * 3-server ZooKeeper ensemble.
 *
 *   node --import tsx bench/zk-leader.ts [--runs 5] [--session-timeout-ms 3000] [--window-ms 5000]
 *
 * Starts its own MariaDB and ensemble (test harness) and three nodes. Each
 * run makes a fresh queue owned by node-1 or node-2, with a publisher (REST,
 * one keyed message every 20 ms, retried with the same key) and a WebSocket
 * consumer (prefetch 32, acks) both on node-0, then kill -9 of the server
 * that is the ZooKeeper leader. Measured per run, over `window-ms` after the
 * kill: the longest spell without a 201 and without a delivery (the pause a
 * client sees; the probe's own 20 ms pace included), the same over the same
 * window just before the kill (the baseline), and how many times a node said
 * it dropped its ownerships ("ZooKeeper session lost" in its log). The killed
 * server is restarted and the cluster settles before the next run. Prints one
 * JSON line and writes test-artifacts/faults/zk-leader-bench.json.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { nodeId, waitMembers } from "../test/cluster/faults/cluster-view.ts";
import { pause } from "../test/cluster/faults/timing.ts";
import type { TestCluster } from "../test/helpers/cluster.ts";
import { numberArg } from "./lib/args.ts";
import { probeQueue, startBenchCluster } from "./lib/bench-cluster.ts";
import { cleanUpOnSignals, runCleanups } from "./lib/cleanup.ts";
import { spread } from "./lib/report.ts";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string" },
    "session-timeout-ms": { type: "string" },
    "window-ms": { type: "string" },
  },
});
const runs = numberArg(args, "runs", 5);
const sessionTimeoutMs = numberArg(args, "session-timeout-ms", 3000);
const windowMs = numberArg(args, "window-ms", 5000);
const MEMBERS = [nodeId(0), nodeId(1), nodeId(2)];
/** The node's log line when it drops every ownership (coordinatorSessionLost). */
const SESSION_LOST = /"event":"coordinatorSessionLost"/g;

interface Sample {
  run: number;
  leader: number;
  publishStallMs: number;
  deliveryStallMs: number;
  baseline: { publishStallMs: number; deliveryStallMs: number };
  /** Nodes' "ZooKeeper session lost" lines during the run (each one dropped every ownership). */
  ownershipDrops: number;
}

async function main(): Promise<void> {
  cleanUpOnSignals();
  const loadStart = loadavg();
  const { cluster, token } = await startBenchCluster({
    database: "zk_leader_bench",
    sessionTimeoutMs,
    zooKeeperServers: 3,
  });

  const samples: Sample[] = [];
  for (let run = 0; run < runs; run += 1) {
    const sample = await measure(cluster, token, run);
    samples.push(sample);
    process.stderr.write(
      `run ${run} leader zk-${sample.leader}: publish pause ${sample.publishStallMs} ms, delivery pause ${sample.deliveryStallMs} ms, ownership drops ${sample.ownershipDrops}\n`,
    );
  }
  const result = {
    sessionTimeoutMs,
    windowMs,
    runs,
    publishPause: spread(samples.map((sample) => sample.publishStallMs)),
    deliveryPause: spread(samples.map((sample) => sample.deliveryStallMs)),
    baselineDeliveryPause: spread(samples.map((sample) => sample.baseline.deliveryStallMs)),
    ownershipDrops: samples.reduce((total, sample) => total + sample.ownershipDrops, 0),
    samples,
    loadAverage: { start: loadStart, end: loadavg() },
  };
  const dir = join(process.cwd(), "test-artifacts", "faults");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "zk-leader-bench.json"), `${JSON.stringify(result, null, 2)}\n`);
  const { samples: _, ...headline } = result;
  console.log(`RESULT ${JSON.stringify(headline)}`);
}

/** One run: a fresh queue owned by node-1 or node-2, steady traffic, then kill -9 of the ZooKeeper leader. */
async function measure(cluster: TestCluster, token: string, run: number): Promise<Sample> {
  const ownerIndex = 1 + (run % 2);
  const probe = await probeQueue(cluster, token, ownerIndex, `zk-leader-${run}`);
  const zooKeeper = cluster.zooKeeper;
  let leader = -1;
  try {
    await pause(windowMs);
    const dropsBefore = ownershipDrops(cluster);
    leader = (await Promise.all([0, 1, 2].map((index) => zooKeeper.mode(index)))).indexOf("leader");
    if (leader < 0) throw new Error("no ZooKeeper leader");
    const at = Date.now();
    await zooKeeper.kill(leader);
    await pause(windowMs);
    return {
      run,
      leader,
      ...probe.stalls(at, at + windowMs),
      baseline: probe.stalls(at - windowMs, at),
      ownershipDrops: ownershipDrops(cluster) - dropsBefore,
    };
  } finally {
    await probe.stop();
    if (leader >= 0) await zooKeeper.restart(leader);
    await Promise.all([0, 1, 2].map((index) => waitMembers(cluster, index, token, MEMBERS, 30_000)));
  }
}

function ownershipDrops(cluster: TestCluster): number {
  return cluster.nodes.reduce((total, node) => total + (node?.output().match(SESSION_LOST)?.length ?? 0), 0);
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => runCleanups());
