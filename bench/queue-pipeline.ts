/**
 * (a) Durable queue pipeline: P publishers and C consumers over WebSocket (or
 * publishers over REST), 1 KB payloads, against a node on MySQL (a fresh
 * MariaDB with innodb_flush_log_at_trx_commit=1: commit before ack) or SQLite.
 * Warm-up, then a measured window; reports acked msgs/s, publish latency,
 * end-to-end latency, broker CPU per 1,000 messages and RSS.
 *
 *   node --import tsx bench/queue-pipeline.ts [--store mysql|sqlite] [--publish ws|rest] [--batch N] …
 *   (npm run bench:queue -- --help for every flag)
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import mysql from "mysql2/promise";
import { choiceArg, numberArg, optionalString, rateArg } from "./lib/args.ts";
import { sleep, waitUntil } from "./lib/bounded.ts";
import { type Broker, getJson, postJson, saveProfile, startBroker, startProfile } from "./lib/broker.ts";
import { runBench, runCleanups } from "./lib/cleanup.ts";
import { Histogram } from "./lib/histogram.ts";
import { commitStats, scrapeMetrics } from "./lib/node-metrics.ts";
import { Pacer, payloadOfBytes } from "./lib/pacer.ts";
import { CpuWindow, loadAverage } from "./lib/proc.ts";
import { note, printResult, type TableRow } from "./lib/report.ts";
import { WsPublisher } from "./lib/ws-publisher.ts";
import { QueueConsumer } from "./queue/consumer.ts";
import { RestQueuePublisher } from "./queue/rest-publisher.ts";

const HELP = `queue-pipeline: durable queue, P publishers → queue → C consumers
  --store mysql|sqlite     store of the node (default mysql: launches MariaDB)
  --mysql URL              use this mysql://user:pass@host:port/db instead of launching MariaDB
  --publish ws|rest        how publishers publish (default ws)
  --batch N                REST only: messages per request (default 1)
  --publishers P           (default 4)          --consumers C   (default 4)
  --queues Q               spread publishers and consumers over Q queues, round robin (default 1)
  --inflight N             publishes (ws) / requests (rest) in flight per publisher (default 64 / 8)
  --prefetch N             per consumer (default 256)
  --ack-batch N            ack after N ids (default 32) --ack-every-ms MS  or after MS (default 5)
  --payload-bytes N        serialised payload size (default 1024)
  --rate N|max             total publish rate in msgs/s (default max)
  --warmup S --seconds S   warm-up and measured window (default 5 / 15)
  --held-head              first publish one message per queue delayed by an hour: it stays at the head,
                           as a long-delayed or redelivered message does; on MySQL the result counts the
                           queue's ack, state and segment rows left at the end
  --profile DIR            write a V8 profile of the node over the measured window into DIR
  --profile-kind cpu|alloc CPU samples (default) or allocations, freed ones included (bench/alloc-top.ts)
  --out FILE               append the result JSON line to FILE
  --label TEXT             a name for this run in the result`;

const { values } = parseArgs({
  options: {
    store: { type: "string" },
    mysql: { type: "string" },
    publish: { type: "string" },
    batch: { type: "string" },
    publishers: { type: "string" },
    consumers: { type: "string" },
    queues: { type: "string" },
    inflight: { type: "string" },
    prefetch: { type: "string" },
    "ack-batch": { type: "string" },
    "ack-every-ms": { type: "string" },
    "payload-bytes": { type: "string" },
    rate: { type: "string" },
    warmup: { type: "string" },
    seconds: { type: "string" },
    profile: { type: "string" },
    "profile-kind": { type: "string" },
    "held-head": { type: "boolean" },
    out: { type: "string" },
    label: { type: "string" },
    help: { type: "boolean" },
  },
});

const publishVia = choiceArg(values, "publish", ["ws", "rest"] as const, "ws");
const settings = {
  store: choiceArg(values, "store", ["mysql", "sqlite"] as const, "mysql"),
  publishVia,
  batch: publishVia === "rest" ? numberArg(values, "batch", 1) : 1,
  publishers: numberArg(values, "publishers", 4),
  consumers: numberArg(values, "consumers", 4),
  queues: numberArg(values, "queues", 1),
  inflight: numberArg(values, "inflight", publishVia === "ws" ? 64 : 8),
  prefetch: numberArg(values, "prefetch", 256),
  ackBatch: numberArg(values, "ack-batch", 32),
  ackEveryMs: numberArg(values, "ack-every-ms", 5),
  payloadBytes: numberArg(values, "payload-bytes", 1024),
  rate: rateArg(values, "rate"),
  warmupS: numberArg(values, "warmup", 5),
  seconds: numberArg(values, "seconds", 15),
  heldHead: values["held-head"] === true,
};
/** How long --held-head holds its message: past any run. */
const HELD_DELAY_MS = 3_600_000;
/** A run never publishes more than this, whatever the rate: a bound on the loop, not a target. */
const MAX_MESSAGES_PER_PUBLISHER = 20_000_000;
const DRAIN_TIMEOUT_MS = 60_000;

type Publisher = WsPublisher | RestQueuePublisher;

async function startPublishers(
  broker: Broker,
  queues: readonly string[],
  measuring: () => boolean,
): Promise<Publisher[]> {
  const payloadJson = payloadOfBytes(settings.payloadBytes);
  const perPublisherRate = settings.rate === null ? null : settings.rate / settings.publishers;
  const publishers: Publisher[] = [];
  for (let i = 0; i < settings.publishers; i++) {
    const queue = queues[i % queues.length] as string;
    const common = {
      token: broker.token,
      queue,
      payloadJson,
      window: settings.inflight,
      maxMessages: MAX_MESSAGES_PER_PUBLISHER,
      pacer: new Pacer(perPublisherRate),
      measuring,
    };
    publishers.push(
      settings.publishVia === "ws"
        ? await WsPublisher.start({ ...common, target: { queue }, wsUrl: broker.wsUrl })
        : new RestQueuePublisher({ ...common, baseUrl: broker.url, batch: settings.batch }),
    );
  }
  return publishers;
}

const sum = <T>(items: readonly T[], of: (item: T) => number) =>
  items.reduce((total, item) => total + of(item), 0);

async function queueState(broker: Broker, queue: string): Promise<{ depth: number; inFlight: number }> {
  const view = (await getJson(broker, `/v1/queues/${queue}`)) as { depth: number; inFlight: number };
  return { depth: view.depth, inFlight: view.inFlight };
}

/** The queues' rows in the MySQL store after the drain: with a held head, what the sweep left (null on SQLite). */
async function rowsLeft(
  broker: Broker,
  queues: readonly string[],
): Promise<{ ackRowsLeft: number | null; stateRowsLeft: number | null; segmentsLeft: number | null }> {
  if (!broker.storeUrl.startsWith("mysql:"))
    return { ackRowsLeft: null, stateRowsLeft: null, segmentsLeft: null };
  const connection = await mysql.createConnection(broker.storeUrl);
  try {
    const count = async (table: string) => {
      const [rows] = await connection.query<mysql.RowDataPacket[]>(
        `SELECT COUNT(*) AS n FROM ${table} WHERE queue IN (?)`,
        [queues],
      );
      return Number(rows[0]?.n);
    };
    return {
      ackRowsLeft: await count("queue_acks"),
      stateRowsLeft: await count("queue_message_state"),
      segmentsLeft: await count("queue_segments"),
    };
  } finally {
    await connection.end();
  }
}

async function run(): Promise<void> {
  const loadBefore = loadAverage();
  const broker = await startBroker({
    store: settings.store,
    mysqlUrl: optionalString(values, "mysql"),
    profileDir: optionalString(values, "profile"),
    profileKind: choiceArg(values, "profile-kind", ["cpu", "alloc"] as const, "cpu"),
  });
  const prefix = `bench-q-${randomBytes(3).toString("hex")}`;
  const queues = Array.from({ length: settings.queues }, (_, i) =>
    settings.queues === 1 ? prefix : `${prefix}-${i}`,
  );
  for (const queue of queues) await postJson(broker, "/v1/queues", { name: queue });
  const held = settings.heldHead ? 1 : 0;
  if (settings.heldHead) {
    for (const queue of queues)
      await postJson(broker, `/v1/queues/${queue}/messages`, { payload: "held", delayMs: HELD_DELAY_MS });
  }
  const queue = queues.join(",");
  const stateOfAll = async () => {
    const states = await Promise.all(queues.map((name) => queueState(broker, name)));
    return { depth: sum(states, (s) => s.depth), inFlight: sum(states, (s) => s.inFlight) };
  };
  let measuring = false;
  const isMeasuring = () => measuring;
  const consumers: QueueConsumer[] = [];
  const publishers: Publisher[] = [];
  try {
    for (let i = 0; i < settings.consumers; i++) {
      consumers.push(
        await QueueConsumer.start(
          {
            wsUrl: broker.wsUrl,
            token: broker.token,
            queue: queues[i % queues.length] as string,
            prefetch: settings.prefetch,
            ackBatch: settings.ackBatch,
            ackEveryMs: settings.ackEveryMs,
            measuring: isMeasuring,
          },
          i,
        ),
      );
    }
    publishers.push(...(await startPublishers(broker, queues, isMeasuring)));
    note(
      `${settings.publishers} publishers (${settings.publishVia}) → ${queue} → ${settings.consumers} consumers; warm-up ${settings.warmupS} s`,
    );
    await sleep(settings.warmupS * 1000);

    const pids: Record<string, number> = { broker: broker.pid, loadgen: process.pid };
    if (broker.databasePid !== null) pids.database = broker.databasePid;
    const window = new CpuWindow(pids);
    const ackedBefore = sum(consumers, (c) => c.acked);
    const publishedBefore = sum(publishers, (p) => p.oks);
    const metricsBefore = await scrapeMetrics(broker.url);
    await startProfile(broker);
    window.start();
    measuring = true;
    note(`measuring for ${settings.seconds} s`);
    await sleep(settings.seconds * 1000);
    measuring = false;
    const usage = window.stop();
    const commits = commitStats(metricsBefore, await scrapeMetrics(broker.url), usage.wallSeconds);
    const profilePath = await saveProfile(
      broker,
      `queue-${settings.store}-${settings.publishVia}-${Date.now()}`,
    );
    const acked = sum(consumers, (c) => c.acked) - ackedBefore;
    const published = sum(publishers, (p) => p.oks) - publishedBefore;
    const backlogAtEnd = await stateOfAll();

    note("draining: publishers stop, consumers catch up");
    for (const publisher of publishers) publisher.stop();
    await waitUntil("publishes in flight to complete", () => sum(publishers, (p) => p.inFlight) === 0, {
      timeoutMs: DRAIN_TIMEOUT_MS,
    });
    const totalPublished = sum(publishers, (p) => p.oks);
    await waitUntil(
      "consumers to receive every published message",
      () => sum(consumers, (c) => c.received) >= totalPublished,
      {
        timeoutMs: DRAIN_TIMEOUT_MS,
      },
    );
    for (const consumer of consumers) consumer.flush();
    await waitUntil(
      "the queue to be empty",
      async () => {
        const state = await stateOfAll();
        return state.depth === held * queues.length && state.inFlight === 0;
      },
      { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: 100 },
    );

    const publishLatency = new Histogram();
    for (const publisher of publishers) publishLatency.merge(publisher.latency.toData());
    const endToEnd = new Histogram();
    for (const consumer of consumers) endToEnd.merge(consumer.endToEnd.toData());
    const pub = publishLatency.percentilesMs();
    const e2e = endToEnd.percentilesMs();
    const seconds = usage.wallSeconds;
    const brokerCpu = usage.cpu.broker ?? Number.NaN;
    const databaseCpu = usage.cpu.database ?? null;
    const errors = sum(publishers, (p) => p.errors) + sum(consumers, (c) => c.errors);
    const firstError = [...publishers, ...consumers].find((x) => x.lastError !== "")?.lastError ?? "";
    const record = {
      bench: "queue-pipeline",
      label: optionalString(values, "label") ?? "",
      store: broker.storeLabel,
      publishVia: settings.publishVia,
      batch: settings.batch,
      publishers: settings.publishers,
      consumers: settings.consumers,
      queues: settings.queues,
      inflight: settings.inflight,
      prefetch: settings.prefetch,
      ackBatch: settings.ackBatch,
      payloadBytes: settings.payloadBytes,
      targetRate: settings.rate ?? "max",
      windowSeconds: seconds,
      ackedPerSec: acked / seconds,
      publishedPerSec: published / seconds,
      publishP50Ms: pub.p50,
      publishP90Ms: pub.p90,
      publishP99Ms: pub.p99,
      publishMaxMs: pub.max,
      publishSamples: pub.count,
      e2eP50Ms: e2e.p50,
      e2eP90Ms: e2e.p90,
      e2eP99Ms: e2e.p99,
      e2eMaxMs: e2e.max,
      brokerCpuSeconds: brokerCpu,
      brokerCpuPct: (brokerCpu / seconds) * 100,
      brokerSystemCpuPct: ((usage.systemCpu.broker ?? Number.NaN) / seconds) * 100,
      brokerCpuSecPer1000Msgs: (brokerCpu / acked) * 1000,
      ackedPerBrokerCpuSec: acked / brokerCpu,
      databaseCpuPct: databaseCpu === null ? null : (databaseCpu / seconds) * 100,
      databaseCpuSecPer1000Msgs: databaseCpu === null ? null : (databaseCpu / acked) * 1000,
      loadgenCpuPct: ((usage.cpu.loadgen ?? Number.NaN) / seconds) * 100,
      brokerRssMiB: usage.rssMiB.broker ?? Number.NaN,
      databaseRssMiB: usage.rssMiB.database ?? null,
      backlogAtWindowEnd: backlogAtEnd.depth - held * queues.length + backlogAtEnd.inFlight,
      heldHead: settings.heldHead,
      ...(settings.heldHead ? await rowsLeft(broker, queues) : {}),
      totalPublished,
      redelivered: sum(consumers, (c) => c.redelivered),
      errors,
      firstError,
      othersCpuPct: (usage.othersCpu / seconds) * 100,
      load1Before: loadBefore[0],
      load1After: loadAverage()[0],
      ...commits,
      profile: profilePath,
    };
    printResult(
      record,
      [
        ["store", record.store],
        [
          "publish via",
          `${settings.publishVia}${settings.publishVia === "rest" ? ` batch ${settings.batch}` : ""}`,
        ],
        ["acked (end-to-end)", record.ackedPerSec, "msgs/s"],
        ["published", record.publishedPerSec, "msgs/s"],
        [
          "publish latency p50/p90/p99/max",
          `${pub.p50} / ${pub.p90} / ${pub.p99} / ${pub.max}`,
          "ms (per request)",
        ],
        [
          "end-to-end p50/p90/p99/max",
          `${e2e.p50} / ${e2e.p90} / ${e2e.p99} / ${e2e.max}`,
          "ms (publishedAt → delivered)",
        ],
        [
          "broker CPU (of which kernel)",
          `${record.brokerCpuPct.toFixed(1)} (${record.brokerSystemCpuPct.toFixed(1)})`,
          "% of one core",
        ],
        ["broker CPU per 1,000 msgs", record.brokerCpuSecPer1000Msgs, "CPU-s"],
        ["msgs per broker CPU-second", record.ackedPerBrokerCpuSec],
        ["database CPU", record.databaseCpuPct, "% of one core"],
        ["load generator CPU", record.loadgenCpuPct, "% of one core"],
        ["broker RSS (peak)", record.brokerRssMiB, "MiB"],
        ["backlog at window end", record.backlogAtWindowEnd, "msgs"],
        ...(settings.heldHead
          ? [
              [
                "rows left after the drain (acks / states / segments)",
                `${record.ackRowsLeft ?? "-"} / ${record.stateRowsLeft ?? "-"} / ${record.segmentsLeft ?? "-"}`,
                "with one message held",
              ] satisfies TableRow,
            ]
          : []),
        ["errors / redelivered", `${errors} / ${record.redelivered}`],
        [
          "store commits: per s / avg ms / avg ops / avg rows",
          `${Math.round(commits.commitsPerSec)} / ${commits.avgCommitMs.toFixed(1)} / ${commits.avgOpsPerCommit.toFixed(1)} / ${commits.avgRowsPerCommit.toFixed(1)}`,
        ],
        [
          "other processes' CPU / load average before, after",
          `${record.othersCpuPct.toFixed(0)} % / ${record.load1Before}, ${record.load1After}`,
        ],
      ],
      optionalString(values, "out"),
    );
    if (firstError !== "") note(`first error: ${firstError}`);
  } finally {
    for (const publisher of publishers) publisher.close();
    for (const consumer of consumers) consumer.close();
    await runCleanups();
  }
}

runBench("queue-pipeline", HELP, values.help === true, run);
