/**
 * What the cluster costs per message: the same paced durable-queue traffic
 * (one WebSocket publisher, one WebSocket consumer, MySQL, commit before ack)
 * through
 *
 * - `single`: one standalone node;
 * - `cluster-local`: a 3-node cluster, publisher and consumer on the queue's owner;
 * - `cross-node`: a 3-node cluster, publisher on node-0, owner node-1, consumer on node-2
 *   (every message crosses two peer links: the publish up, the delivery down);
 * - `spread`: a 3-node cluster, a publisher and a consumer on every node (the rate shared),
 *   as clients behind a load balancer: 2 of 3 publishes and deliveries cross;
 * - `spread-lookup`: the same clients, but each first asks its node where the queue is
 *   served (`GET /v1/queues/{name}/lookup`) and connects there: nothing crosses.
 *
 *   node --import tsx bench/cross-node.ts [--rates 500,2000] [--layouts LIST] [--seconds 15] [--warmup 3] [--out FILE]
 *
 * Reports publish latency (frame sent → ok, commit included), end-to-end
 * latency (publishedAt → delivered) and broker CPU-seconds per 1,000 messages
 * summed over every node from /proc. Starts its own MariaDB and ZooKeeper and
 * stops everything by PID.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { queueOwnedBy } from "../test/cluster/faults/cluster-view.ts";
import { Api, newUser } from "../test/helpers/api.ts";
import { type ChildNode, spawnNode } from "../test/helpers/aviso-node.ts";
import { startCluster } from "../test/helpers/cluster.ts";
import { destroyMariadb, launchMariadb } from "../test/helpers/mariadb.ts";
import { numberArg, optionalString } from "./lib/args.ts";
import { sleep, waitUntil } from "./lib/bounded.ts";
import { createDatabase } from "./lib/broker.ts";
import { onCleanup, runBench, runCleanups } from "./lib/cleanup.ts";
import { Histogram } from "./lib/histogram.ts";
import { attachProfiler, type WindowProfiler } from "./lib/inspector-profile.ts";
import { Pacer, payloadOfBytes } from "./lib/pacer.ts";
import { CpuWindow, loadAverage } from "./lib/proc.ts";
import { note, printResult } from "./lib/report.ts";
import { WsPublisher } from "./lib/ws-publisher.ts";
import { QueueConsumer } from "./queue/consumer.ts";

const HELP = `bench/cross-node.ts — single node vs 3-node cluster, same paced queue traffic
  --rates LIST        msgs/s to run at, comma-separated (500,2000)
  --layouts LIST      which of single,cluster-local,cross-node,spread,spread-lookup to run (all)
  --seconds S         measured window per run (15)
  --warmup S          warm-up before each window (3)
  --payload-bytes N   payload size (256)
  --profile DIR       write V8 CPU profiles of the cluster's nodes over each cluster window into DIR
  --out FILE          append each run's JSON line to FILE`;

const { values } = parseArgs({
  options: {
    rates: { type: "string" },
    layouts: { type: "string" },
    seconds: { type: "string" },
    warmup: { type: "string" },
    "payload-bytes": { type: "string" },
    out: { type: "string" },
    profile: { type: "string" },
    help: { type: "boolean" },
  },
});

const rates = (optionalString(values, "rates") ?? "500,2000").split(",").map(Number);
const windowSeconds = numberArg(values, "seconds", 15);
const warmupSeconds = numberArg(values, "warmup", 3);
const payloadJson = payloadOfBytes(numberArg(values, "payload-bytes", 256));
const NODE_IDS = ["node-0", "node-1", "node-2"];

const LAYOUTS = ["single", "cluster-local", "cross-node", "spread", "spread-lookup"] as const;
type Layout = (typeof LAYOUTS)[number];
const layouts = (optionalString(values, "layouts")?.split(",") ?? [...LAYOUTS]).map((name) => {
  const layout = LAYOUTS.find((known) => known === name);
  if (layout === undefined) throw new Error(`--layouts: unknown layout "${name}" (${LAYOUTS.join(", ")})`);
  return layout;
});

interface Placement {
  /** One publisher per entry, sharing the rate. */
  publishTo: readonly ChildNode[];
  /** One consumer per entry. */
  consumeFrom: readonly ChildNode[];
  nodes: readonly ChildNode[];
  token: string;
  queue: string;
  /** Set when profiling: one per node, sampling over the measured window. */
  profilers?: readonly WindowProfiler[];
}

async function createQueue(node: ChildNode, token: string, name: string): Promise<void> {
  const created = await new Api(node.url, token).post("/v1/queues", { name });
  if (created.status !== 201)
    throw new Error(`create queue ${name}: ${created.status} ${JSON.stringify(created.body)}`);
}

/** One paced run: publishers and consumers, warm-up, measured window, then drain. */
async function measure(layout: Layout, rate: number, place: Placement): Promise<void> {
  let measuring = false;
  const consumers = await Promise.all(
    place.consumeFrom.map((node, i) =>
      QueueConsumer.start(
        {
          wsUrl: node.wsUrl,
          token: place.token,
          queue: place.queue,
          prefetch: 256,
          ackBatch: 32,
          ackEveryMs: 5,
          measuring: () => measuring,
        },
        i,
      ),
    ),
  );
  const share = rate / place.publishTo.length;
  const publishers = await Promise.all(
    place.publishTo.map((node) =>
      WsPublisher.start({
        wsUrl: node.wsUrl,
        token: place.token,
        target: { queue: place.queue },
        payloadJson,
        window: 64,
        maxMessages: Math.ceil(share * (warmupSeconds + windowSeconds) * 1.2) + 1000,
        pacer: new Pacer(share),
        measuring: () => measuring,
      }),
    ),
  );
  const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
  const received = () => sum(consumers.map((consumer) => consumer.received));
  try {
    await sleep(warmupSeconds * 1000);
    const pids = Object.fromEntries(place.nodes.map((node, i) => [`node${i}`, node.pid]));
    const cpu = new CpuWindow(pids);
    const load1Before = loadAverage()[0];
    const receivedBefore = received();
    await Promise.all((place.profilers ?? []).map((profiler) => profiler.start()));
    cpu.start();
    measuring = true;
    await sleep(windowSeconds * 1000);
    measuring = false;
    const usage = cpu.stop();
    await saveProfiles(place.profilers ?? [], `${layout}-${rate}`);
    const delivered = received() - receivedBefore;
    for (const publisher of publishers) publisher.stop();
    await waitUntil(
      "publishes to settle and the consumers to catch up",
      () =>
        publishers.every((publisher) => publisher.inFlight === 0) &&
        received() >= sum(publishers.map((publisher) => publisher.oks)),
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const publishLatency = new Histogram();
    for (const publisher of publishers) publishLatency.merge(publisher.latency.toData());
    const endToEndLatency = new Histogram();
    for (const consumer of consumers) endToEndLatency.merge(consumer.endToEnd.toData());
    const brokerCpu = sum(Object.values(usage.cpu));
    const publish = publishLatency.percentilesMs();
    const endToEnd = endToEndLatency.percentilesMs();
    const publishErrors = sum(publishers.map((publisher) => publisher.errors));
    const consumerErrors = sum(consumers.map((consumer) => consumer.errors));
    const redelivered = sum(consumers.map((consumer) => consumer.redelivered));
    const record = {
      bench: "cross-node",
      layout,
      nodes: place.nodes.length,
      publishers: publishers.length,
      consumers: consumers.length,
      targetRate: rate,
      windowSeconds: usage.wallSeconds,
      deliveredPerSec: delivered / usage.wallSeconds,
      publishP50Ms: publish.p50,
      publishP99Ms: publish.p99,
      e2eP50Ms: endToEnd.p50,
      e2eP90Ms: endToEnd.p90,
      e2eP99Ms: endToEnd.p99,
      e2eMaxMs: endToEnd.max,
      brokerCpuSeconds: brokerCpu,
      brokerCpuMsPerMsg: (brokerCpu * 1000) / Math.max(1, delivered),
      publishErrors,
      consumerErrors,
      redelivered,
      othersCpuPct: (usage.othersCpu / usage.wallSeconds) * 100,
      load1Before,
      load1After: loadAverage()[0],
    };
    printResult(
      record,
      [
        [`${layout} @ ${rate} msgs/s`, `${place.nodes.length} node(s)`],
        ["delivered", record.deliveredPerSec, "msgs/s"],
        ["publish p50 / p99", `${publish.p50} / ${publish.p99}`, "ms"],
        ["end-to-end p50 / p90 / p99", `${endToEnd.p50} / ${endToEnd.p90} / ${endToEnd.p99}`, "ms"],
        ["broker CPU per message (all nodes)", record.brokerCpuMsPerMsg, "ms"],
        ["errors / redelivered", `${publishErrors + consumerErrors} / ${redelivered}`],
      ],
      optionalString(values, "out"),
    );
    const failing = publishers.find((publisher) => publisher.errors > 0);
    if (failing !== undefined) note(`publish error: ${failing.lastError}`);
  } finally {
    for (const publisher of publishers) publisher.close();
    for (const consumer of consumers) consumer.close();
  }
}

const profileDir = optionalString(values, "profile");

async function saveProfiles(profilers: readonly WindowProfiler[], name: string): Promise<void> {
  if (profileDir === undefined) return;
  await mkdir(profileDir, { recursive: true });
  for (const [i, profiler] of profilers.entries()) {
    note(`profile: ${await profiler.stopAndSave(profileDir, `${name}-node-${i}`)}`);
  }
}

async function run(): Promise<void> {
  note("launching MariaDB (innodb_flush_log_at_trx_commit=1)");
  const server = await launchMariadb();
  onCleanup("stop MariaDB", () => destroyMariadb(server.stateFile));
  const base = `mysql://${server.user}:${server.password}@127.0.0.1:${server.port}`;

  if (layouts.includes("single")) await runSingle(base);
  if (layouts.some((layout) => layout !== "single")) await runCluster(base);
}

async function runSingle(base: string): Promise<void> {
  note("single node");
  const dataDir = await mkdtemp(join(tmpdir(), "aviso-bench-"));
  onCleanup("remove node data dir", () => rm(dataDir, { recursive: true, force: true }));
  const single = await spawnNode({ dataDir, store: await createDatabase(base) });
  onCleanup("stop single node", async () => {
    await single.kill("SIGKILL");
  });
  const { api } = await newUser(single.url, "bench");
  const token = api.token as string;
  for (const rate of rates) {
    const queue = `single-${rate}`;
    await createQueue(single, token, queue);
    await measure("single", rate, {
      publishTo: [single],
      consumeFrom: [single],
      nodes: [single],
      token,
      queue,
    });
  }
  await single.kill("SIGTERM");
}

async function runCluster(base: string): Promise<void> {
  note("3-node cluster");
  const cluster = await startCluster({
    nodes: 3,
    store: await createDatabase(base),
    zkSessionTimeoutMs: 3000,
    ...(profileDir === undefined ? {} : { env: { NODE_OPTIONS: "--inspect=127.0.0.1:0" } }),
  });
  onCleanup("stop cluster", () => cluster.stop());
  const nodes = [cluster.node(0), cluster.node(1), cluster.node(2)];
  const { api } = await newUser(nodes[0]?.url ?? "", "bench");
  const token = api.token as string;
  const node0 = nodes[0] as ChildNode;
  const profilers =
    profileDir === undefined
      ? []
      : await Promise.all(nodes.map((node) => attachProfiler(() => node.output())));
  onCleanup("detach profilers", async () => {
    for (const profiler of profilers) profiler.close();
  });
  const clusterPlace = { nodes, token, profilers };
  for (const rate of rates) {
    for (const layout of layouts) {
      if (layout === "single") continue;
      const queue = queueOwnedBy(NODE_IDS, "node-1", layout);
      await createQueue(node0, token, queue);
      const clients = await clientsFor(layout, nodes, token, queue);
      await measure(layout, rate, { ...clusterPlace, ...clients, queue });
    }
  }
}

/** Where a layout's publishers and consumers connect; the queue is owned by node-1. */
async function clientsFor(
  layout: Exclude<Layout, "single">,
  nodes: readonly ChildNode[],
  token: string,
  queue: string,
): Promise<Pick<Placement, "publishTo" | "consumeFrom">> {
  const [node0, node1, node2] = nodes as [ChildNode, ChildNode, ChildNode];
  switch (layout) {
    case "cluster-local":
      return { publishTo: [node1], consumeFrom: [node1] };
    case "cross-node":
      return { publishTo: [node0], consumeFrom: [node2] };
    case "spread":
      // Clients spread evenly, as behind a load balancer: 2 of 3 publishes and deliveries cross.
      return { publishTo: nodes, consumeFrom: nodes };
    case "spread-lookup": {
      // The same clients, each asking the node it reached where the queue is served.
      const found = await Promise.all(nodes.map((node) => lookupNode(node, nodes, token, queue)));
      return { publishTo: found, consumeFrom: found };
    }
  }
}

async function lookupNode(
  asked: ChildNode,
  nodes: readonly ChildNode[],
  token: string,
  queue: string,
): Promise<ChildNode> {
  const answer = await new Api(asked.url, token).get<{ httpUrl: string }>(`/v1/queues/${queue}/lookup`);
  const serving = nodes.find((node) => node.url === answer.body.httpUrl);
  if (answer.status !== 200 || serving === undefined)
    throw new Error(`lookup of ${queue} on ${asked.url}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return serving;
}

runBench("cross-node", HELP, values.help === true, () => run().finally(() => runCleanups()));
