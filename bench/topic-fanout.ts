/**
 * (b) Topic fan-out: N WebSocket subscribers on one topic (held here or in K
 * child processes), one publisher at a target rate or at the highest rate
 * the subscribers keep up with. Reports deliveries/s received, latency
 * publishedAt → received (same host clock), deliveries per broker
 * CPU-second, and a loss check: every subscriber saw every acknowledged
 * offset, contiguous and in order.
 *
 *   node --import tsx bench/topic-fanout.ts [--subscribers 1000] [--procs K] [--rate N|max] …
 *   (npm run bench:fanout -- --help for every flag)
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { childProcessGroup, inProcessGroup, type SubscriberHandle } from "./fanout/subscriber-handles.ts";
import type { GroupResult } from "./fanout/subscribers.ts";
import { choiceArg, numberArg, optionalString, rateArg } from "./lib/args.ts";
import { sleep, waitUntil } from "./lib/bounded.ts";
import { postJson, saveProfile, startBroker, startProfile } from "./lib/broker.ts";
import { runBench, runCleanups } from "./lib/cleanup.ts";
import { Histogram } from "./lib/histogram.ts";
import { commitStats, scrapeMetrics } from "./lib/node-metrics.ts";
import { Pacer, payloadOfBytes } from "./lib/pacer.ts";
import { CpuWindow, loadAverage } from "./lib/proc.ts";
import { note, printResult } from "./lib/report.ts";
import { WsPublisher } from "./lib/ws-publisher.ts";

const HELP = `topic-fanout: one publisher → one topic → N WebSocket subscribers
  --subscribers N          (default 1000)
  --procs K                hold subscribers in K child processes (default 1; 0 = in this process,
                           where their frames delay the publisher's acks and inflate its latency)
  --rate N|max             publish rate in msgs/s (default max: as fast as the slowest subscriber keeps up)
  --max-lag N              max mode: pause publishing while the slowest subscriber is N offsets behind (default 200);
                           at max rate the latency is mostly this backlog: read latency from --rate runs
  --payload-bytes N        serialised payload size (default 64)
  --inflight N             publishes in flight (default 64)
  --durable true|false     durable topic (commit before ack) or in-memory (default true)
  --store sqlite|mysql     store of the node (default sqlite)  --mysql URL  use this database
  --warmup S --seconds S   warm-up and measured window (default 3 / 15)
  --connect-concurrency N  sockets opened at once (default 50)
  --profile DIR            write a V8 CPU profile of the node into DIR
  --out FILE               append the result JSON line to FILE
  --label TEXT             a name for this run in the result`;

const { values } = parseArgs({
  options: {
    subscribers: { type: "string" },
    procs: { type: "string" },
    rate: { type: "string" },
    "max-lag": { type: "string" },
    "payload-bytes": { type: "string" },
    inflight: { type: "string" },
    durable: { type: "string" },
    store: { type: "string" },
    mysql: { type: "string" },
    warmup: { type: "string" },
    seconds: { type: "string" },
    "connect-concurrency": { type: "string" },
    profile: { type: "string" },
    out: { type: "string" },
    label: { type: "string" },
    help: { type: "boolean" },
  },
});

const settings = {
  subscribers: numberArg(values, "subscribers", 1000),
  procs: numberArg(values, "procs", 1),
  rate: rateArg(values, "rate"),
  maxLag: numberArg(values, "max-lag", 200),
  payloadBytes: numberArg(values, "payload-bytes", 64),
  inflight: numberArg(values, "inflight", 64),
  durable: choiceArg(values, "durable", ["true", "false"] as const, "true") === "true",
  store: choiceArg(values, "store", ["sqlite", "mysql"] as const, "sqlite"),
  warmupS: numberArg(values, "warmup", 3),
  seconds: numberArg(values, "seconds", 15),
  connectConcurrency: numberArg(values, "connect-concurrency", 50),
};
const MAX_MESSAGES = 50_000_000;
const DRAIN_TIMEOUT_MS = 60_000;
/** The node's own default is 15,000 sockets; let it hold what we ask for. */
const nodeEnv = { AVISO_MAX_CONNECTIONS: String(Math.max(15_000, settings.subscribers + 100)) };

function sumResults(results: readonly GroupResult[]): Omit<GroupResult, "latency"> & { latency: Histogram } {
  const latency = new Histogram();
  const closeCodes: Record<string, number> = {};
  const total = {
    sockets: 0,
    received: 0,
    receivedInWindow: 0,
    incompleteSockets: 0,
    gaps: 0,
    outOfOrder: 0,
    closedSockets: 0,
    errorFrames: 0,
  };
  for (const r of results) {
    latency.merge(r.latency);
    for (const key of Object.keys(total) as Array<keyof typeof total>) total[key] += r[key];
    for (const [code, count] of Object.entries(r.closeCodes))
      closeCodes[code] = (closeCodes[code] ?? 0) + count;
  }
  return { ...total, closeCodes, latency };
}

async function run(): Promise<void> {
  const loadBefore = loadAverage();
  const broker = await startBroker({
    store: settings.store,
    mysqlUrl: optionalString(values, "mysql"),
    profileDir: optionalString(values, "profile"),
    env: nodeEnv,
  });
  const topic = `bench-t-${randomBytes(3).toString("hex")}`;
  await postJson(broker, "/v1/topics", { name: topic, durable: settings.durable });

  const handles: SubscriberHandle[] = [];
  let publisher: WsPublisher | null = null;
  try {
    const procs = Math.max(1, settings.procs);
    for (let p = 0; p < procs; p++) {
      const first = Math.floor((settings.subscribers * p) / procs);
      const count = Math.floor((settings.subscribers * (p + 1)) / procs) - first;
      const groupSettings = {
        wsUrl: broker.wsUrl,
        token: broker.token,
        topic,
        count,
        firstIndex: first,
        connectConcurrency: settings.connectConcurrency,
      };
      handles.push(settings.procs === 0 ? inProcessGroup(groupSettings) : childProcessGroup(groupSettings));
    }
    note(
      `connecting ${settings.subscribers} subscribers${settings.procs > 0 ? ` in ${procs} processes` : ""}`,
    );
    const connectStarted = performance.now();
    await Promise.all(handles.map((h) => h.connect()));
    const connectSeconds = (performance.now() - connectStarted) / 1000;
    note(`connected in ${connectSeconds.toFixed(1)} s; publishing at ${settings.rate ?? "max"} msgs/s`);

    const slowest = () => Math.min(...handles.map((h) => h.slowestOffset()));
    let measuring = false;
    publisher = await WsPublisher.start({
      wsUrl: broker.wsUrl,
      token: broker.token,
      target: { topic },
      tickMs: 1,
      payloadJson: payloadOfBytes(settings.payloadBytes),
      window: settings.inflight,
      maxMessages: MAX_MESSAGES,
      pacer: new Pacer(settings.rate),
      mayPublish: (lastOffset) => settings.rate !== null || lastOffset - slowest() < settings.maxLag,
      measuring: () => measuring,
    });
    await sleep(settings.warmupS * 1000);

    // The window is given to every subscriber process as absolute times, a little ahead.
    const startEpochMs = Date.now() + 200;
    const endEpochMs = startEpochMs + settings.seconds * 1000;
    for (const handle of handles) handle.setWindow(startEpochMs, endEpochMs);
    const pids: Record<string, number> = { broker: broker.pid, loadgen: process.pid };
    if (broker.databasePid !== null) pids.database = broker.databasePid;
    handles.forEach((h, i) => {
      if (h.pid !== process.pid) pids[`subscribers${i}`] = h.pid;
    });
    const window = new CpuWindow(pids);
    await sleep(startEpochMs - Date.now());
    const metricsBefore = await scrapeMetrics(broker.url);
    await startProfile(broker);
    window.start();
    const oksBefore = publisher.oks;
    measuring = true;
    note(`measuring for ${settings.seconds} s`);
    await sleep(endEpochMs - Date.now());
    measuring = false;
    const usage = window.stop();
    const commits = commitStats(metricsBefore, await scrapeMetrics(broker.url), usage.wallSeconds);
    const profilePath = await saveProfile(
      broker,
      `fanout-${settings.subscribers}-${settings.rate ?? "max"}-${Date.now()}`,
    );
    const published = publisher.oks - oksBefore;

    note("draining: publisher stops, subscribers catch up");
    publisher.stop();
    const pub = publisher;
    await waitUntil("publishes in flight to complete", () => pub.inFlight === 0, {
      timeoutMs: DRAIN_TIMEOUT_MS,
    });
    await waitUntil("subscribers to reach the last offset", () => slowest() >= pub.lastOffset, {
      timeoutMs: DRAIN_TIMEOUT_MS,
      intervalMs: 50,
    });
    const total = sumResults(
      await Promise.all(handles.map((h) => h.result(pub.firstOffset, pub.lastOffset))),
    );

    const seconds = usage.wallSeconds;
    const brokerCpu = usage.cpu.broker ?? Number.NaN;
    let loadgenCpu = 0;
    for (const [name, cpu] of Object.entries(usage.cpu))
      if (name === "loadgen" || name.startsWith("subscribers")) loadgenCpu += cpu;
    const lat = total.latency.percentilesMs();
    const pl = publisher.latency.percentilesMs();
    const deliveriesPerSec = total.receivedInWindow / seconds;
    const record = {
      bench: "topic-fanout",
      label: optionalString(values, "label") ?? "",
      store: broker.storeLabel,
      durable: settings.durable,
      subscribers: settings.subscribers,
      procs: settings.procs,
      targetRate: settings.rate ?? "max",
      payloadBytes: settings.payloadBytes,
      windowSeconds: seconds,
      connectSeconds,
      publishedPerSec: published / seconds,
      deliveriesPerSec,
      latencyP50Ms: lat.p50,
      latencyP90Ms: lat.p90,
      latencyP99Ms: lat.p99,
      latencyMaxMs: lat.max,
      publishP50Ms: pl.p50,
      publishP99Ms: pl.p99,
      brokerCpuSeconds: brokerCpu,
      brokerCpuPct: (brokerCpu / seconds) * 100,
      brokerSystemCpuPct: ((usage.systemCpu.broker ?? Number.NaN) / seconds) * 100,
      deliveriesPerBrokerCpuSec: total.receivedInWindow / brokerCpu,
      loadgenCpuPct: (loadgenCpu / seconds) * 100,
      databaseCpuPct: usage.cpu.database === undefined ? null : (usage.cpu.database / seconds) * 100,
      brokerRssMiB: usage.rssMiB.broker ?? Number.NaN,
      messagesPublished: publisher.oks,
      firstOffset: publisher.firstOffset,
      lastOffset: publisher.lastOffset,
      lossCheck: total.incompleteSockets === 0 && total.sockets === settings.subscribers ? "pass" : "FAIL",
      incompleteSockets: total.incompleteSockets,
      gaps: total.gaps,
      outOfOrder: total.outOfOrder,
      closedSockets: total.closedSockets,
      closeCodes: JSON.stringify(total.closeCodes),
      publishErrors: publisher.errors,
      firstError: publisher.lastError,
      othersCpuPct: (usage.othersCpu / seconds) * 100,
      load1Before: loadBefore[0],
      load1After: loadAverage()[0],
      ...commits,
      profile: profilePath,
    };
    printResult(
      record,
      [
        [
          "subscribers",
          `${settings.subscribers}${settings.procs > 0 ? ` in ${settings.procs} processes` : ""}`,
        ],
        ["topic", `${settings.durable ? "durable" : "in-memory"}, ${broker.storeLabel}`],
        [
          "publish rate (target / achieved)",
          `${settings.rate ?? "max"} / ${Math.round(record.publishedPerSec)}`,
          "msgs/s",
        ],
        ["deliveries received", deliveriesPerSec, "deliveries/s"],
        [
          "latency p50/p90/p99/max",
          `${lat.p50} / ${lat.p90} / ${lat.p99} / ${lat.max}`,
          "ms (publishedAt → received)",
        ],
        ["publish latency p50/p99", `${pl.p50} / ${pl.p99}`, "ms"],
        [
          "broker CPU (of which kernel)",
          `${record.brokerCpuPct.toFixed(1)} (${record.brokerSystemCpuPct.toFixed(1)})`,
          "% of one core",
        ],
        ["deliveries per broker CPU-second", record.deliveriesPerBrokerCpuSec],
        ["load generator CPU (all processes)", record.loadgenCpuPct, "% of one core"],
        ["broker RSS (peak)", record.brokerRssMiB, "MiB"],
        [
          "loss check",
          `${record.lossCheck} (offsets ${record.firstOffset}..${record.lastOffset}, ${total.incompleteSockets} incomplete, ${total.gaps} gaps, ${total.closedSockets} closed)`,
        ],
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
  } finally {
    publisher?.close();
    for (const handle of handles) handle.close();
    await runCleanups();
  }
}

runBench("topic-fanout", HELP, values.help === true, run);
