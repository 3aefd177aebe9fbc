import { mkdir, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { registerUser, uniqueName } from "../../helpers/api.ts";
import { startCluster, type TestCluster } from "../../helpers/cluster.ts";
import { createTestDatabase, dropTestDatabase } from "../../helpers/mariadb.ts";
import { startZooKeeper } from "../../helpers/zookeeper.ts";
import { checkHistory, type FaultReport } from "./checker.ts";
import { liveUrls, nodeId, type PlanOwners, planResources, waitOwned } from "./cluster-view.ts";
import type { History } from "./history.ts";
import { waitUntil } from "./timing.ts";
import { defaultSize, Workload, type WorkloadPlan, type WorkloadSize } from "./workload.ts";

/** The aim: failover < 5 s at a 3 s ZooKeeper session timeout. */
export const SESSION_TIMEOUT_MS = 3000;
/** Ack deadline of the run's queues: bounds how long a delivery lost on a dead path stays in flight. */
const ACK_TIMEOUT_MS = 10_000;

export interface FaultRun {
  cluster: TestCluster;
  workload: Workload;
  plan: WorkloadPlan;
  token: string;
}

export interface FaultRunOptions<T> {
  name: string;
  nodes?: number;
  /** ServingNodes of the run's resources among node-0 … node-(nodes-1). */
  servingNodes: Omit<PlanOwners, "members">;
  size?: Partial<WorkloadSize>;
  /** The fault goes in once this many messages are acknowledged (mid-run). */
  injectAtAcknowledged: number;
  /** Injects the fault (marking it on the workload) and waits until it is over. */
  inject(run: FaultRun): Promise<T>;
  drainTimeoutMs?: number;
  /** ZooKeeper servers: one (default) or a 3-server ensemble. */
  zooKeeperServers?: 1 | 3;
  /** The run's database (default: a fresh one on the run's shared MariaDB). */
  database?: () => Promise<{ url: string; drop(): Promise<void> }>;
}

export interface RunReport extends FaultReport {
  sessionTimeoutMs: number;
  plan: WorkloadPlan;
  phasesMs: { clusterStart: number; workload: number; drain: number; total: number };
  loadAverage: { start: number[]; end: number[] };
}

/**
 * One fault run: a fresh cluster on its own database, the workload, the fault
 * injected mid-run, the workload finished and drained, the history checked.
 * The report is printed as one JSON line and written to
 * test-artifacts/faults/<name>.json (with the raw history when it fails).
 */
export async function runFault<T>(
  options: FaultRunOptions<T>,
): Promise<{ report: RunReport; injected: T; history: History }> {
  const started = Date.now();
  const loadStart = loadavg();
  const nodes = options.nodes ?? 3;
  const database = await (options.database ?? (() => sharedDatabase(options.name)))();
  const store = database.url;
  // The workload's user is an operator: /v1/cluster names owned resources to operators only (S7).
  const operator = uniqueName("faults");
  const zooKeeper = await startZooKeeper({ servers: options.zooKeeperServers ?? 1 });
  const cluster = await startCluster({
    nodes,
    store,
    zkSessionTimeoutMs: SESSION_TIMEOUT_MS,
    env: { AVISO_OPERATORS: operator },
    zooKeeper,
  }).catch(async (error: unknown) => {
    await zooKeeper.stopAll();
    throw error;
  });
  const clusterStart = Date.now() - started;
  let workload: Workload | undefined;
  try {
    const { api } = await registerUser(cluster.node(0).url, operator);
    const token = api.token as string;
    const members = Array.from({ length: nodes }, (_, index) => nodeId(index));
    const plan = planResources({ members, ...options.servingNodes });
    for (const queue of [...plan.queues, plan.orderQueue]) {
      const created = await api.post("/v1/queues", { name: queue, ackTimeoutMs: ACK_TIMEOUT_MS });
      if (created.status !== 201) throw new Error(`create queue: ${JSON.stringify(created.body)}`);
    }
    for (const topic of plan.topics) {
      const created = await api.post("/v1/topics", { name: topic });
      if (created.status !== 201) throw new Error(`create topic: ${JSON.stringify(created.body)}`);
    }
    workload = new Workload(token, liveUrls(cluster), plan, { ...defaultSize, ...options.size });
    const workloadStarted = Date.now();
    await workload.start();
    await checkPlannedOwners(cluster, token, plan, options.servingNodes);
    const running = workload;
    const midRun = () => running.acknowledged() >= options.injectAtAcknowledged;
    await waitUntil("the workload to reach the injection point", midRun, { timeoutMs: 60_000 });
    const injected = await options.inject({ cluster, workload, plan, token });
    await workload.published();
    const workloadMs = Date.now() - workloadStarted;
    const drain = await workload.drain(options.drainTimeoutMs ?? 45_000);
    await workload.stop();
    const report: RunReport = {
      ...checkHistory(options.name, workload.history),
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      plan,
      phasesMs: { clusterStart, workload: workloadMs, drain, total: Date.now() - started },
      loadAverage: { start: loadStart, end: loadavg() },
    };
    await writeReport(report, workload);
    return { report, injected, history: workload.history };
  } finally {
    await workload?.stop();
    await cluster.stop();
    await zooKeeper.stopAll();
    await database.drop().catch(() => {});
  }
}

async function sharedDatabase(name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const url = await createTestDatabase(`faults_${name}`);
  return { url, drop: () => dropTestDatabase(url) };
}

/** The planned owners really hold their resources (the subscriptions made them claim). */
async function checkPlannedOwners(
  cluster: TestCluster,
  token: string,
  plan: WorkloadPlan,
  servingNodes: FaultRunOptions<unknown>["servingNodes"],
): Promise<void> {
  const byNode = new Map<number, { queues: string[]; topics: string[] }>();
  const add = (owner: string, kind: "queues" | "topics", name: string) => {
    const index = Number(owner.replace("node-", ""));
    const entry = byNode.get(index) ?? { queues: [], topics: [] };
    entry[kind].push(name);
    byNode.set(index, entry);
  };
  for (const [index, owner] of servingNodes.queues.entries())
    add(owner, "queues", plan.queues[index] as string);
  add(servingNodes.orderQueue, "queues", plan.orderQueue);
  for (const [index, owner] of servingNodes.topics.entries())
    add(owner, "topics", plan.topics[index] as string);
  await Promise.all([...byNode].map(([index, resources]) => waitOwned(cluster, index, token, resources)));
}

async function writeReport(report: RunReport, workload: Workload): Promise<void> {
  const dir = join(process.cwd(), "test-artifacts", "faults");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${report.name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  const historyFile = join(dir, `${report.name}.history.json`);
  if (report.ok) await rm(historyFile, { force: true });
  else await writeFile(historyFile, JSON.stringify(workload.history));
  console.log(JSON.stringify(report));
}

/** The checker's verdict, plus the sanity checks every run must pass (it did real work). */
export function expectSound(report: RunReport, minimumAcknowledged: number): void {
  expect(report.problems).toEqual([]);
  expect(report.lost.count).toBe(0);
  expect(report.phantoms.count).toBe(0);
  expect(report.orderViolations.count).toBe(0);
  expect(report.ackedRedelivered.count).toBe(0);
  expect(report.topicGaps.count).toBe(0);
  expect(report.counts.acknowledged).toBeGreaterThanOrEqual(minimumAcknowledged);
  expect(report.counts.uniqueQueueMessagesConsumed).toBeGreaterThanOrEqual(report.counts.acknowledgedQueue);
  // The duplicate bound holds only if acks were confirmed at all (most deliveries' acks are).
  expect(report.counts.queueAcksConfirmed).toBeGreaterThanOrEqual(report.counts.acknowledgedQueue / 2);
  expect(report.counts.topicSubscriberStreams).toBeGreaterThan(0);
}
