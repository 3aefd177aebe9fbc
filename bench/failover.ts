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
import mysql from "mysql2/promise";
import { clusterView, nodeId, queueOwnedBy, waitMembers } from "../test/cluster/faults/cluster-view.ts";
import { FailoverProbe } from "../test/cluster/faults/failover-probe.ts";
import { waitUntil } from "../test/cluster/faults/timing.ts";
import { Api, newUser } from "../test/helpers/api.ts";
import { startCluster, type TestCluster } from "../test/helpers/cluster.ts";
import { destroyMariadb, launchMariadb } from "../test/helpers/mariadb.ts";
import { numberArg } from "./lib/args.ts";
import { cleanUpOnSignals, onCleanup, runCleanups } from "./lib/cleanup.ts";

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
  const server = await launchMariadb();
  onCleanup("mariadb", () => destroyMariadb(server.stateFile));
  const base = `mysql://${server.user}:${server.password}@127.0.0.1:${server.port}`;
  const connection = await mysql.createConnection(base);
  await connection.query("CREATE DATABASE failover_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
  await connection.end();
  const cluster = await startCluster({
    nodes: 3,
    store: `${base}/failover_bench`,
    zkSessionTimeoutMs: sessionTimeoutMs,
  });
  onCleanup("cluster", () => cluster.stop());
  const { api } = await newUser(cluster.node(0).url, "bench");
  const token = api.token as string;

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
    failover: summary(failover),
    handover: summary(handover),
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
  const queue = queueOwnedBy(MEMBERS, nodeId(ownerIndex), `failover-${run}`);
  const created = await new Api(cluster.node(0).url, token).post("/v1/queues", { name: queue });
  if (created.status !== 201) throw new Error(`create queue: ${created.status}`);
  const probe = new FailoverProbe(cluster.node(0).url, token, queue);
  await probe.start();
  try {
    await waitUntil(
      `${nodeId(ownerIndex)} to own ${queue} and traffic to flow`,
      async () => {
        const { owned } = await clusterView(cluster.node(ownerIndex).url, token);
        return owned.queues.includes(queue) && probe.deliveredCount() >= 20;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
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

function summary(samples: readonly Sample[]): { p50Ms: number; maxMs: number; minMs: number; runs: number } {
  const sorted = samples.map((sample) => sample.firstDeliveryMs).sort((a, b) => a - b);
  return {
    p50Ms: sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN,
    maxMs: sorted.at(-1) ?? Number.NaN,
    minMs: sorted[0] ?? Number.NaN,
    runs: sorted.length,
  };
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => runCleanups());
