/**
 * Backlog larger than memory (#12 item 5): fills one queue with N MiB of
 * 64 KB messages while nothing consumes it, against a node whose queue memory
 * window (queueMemoryBytes) is smaller, then drains it with one consumer.
 * Samples the node's RSS from /proc and its queue memory gauges throughout,
 * and meanwhile times a second queue (publish → receive of a small message)
 * to show it keeps normal latency: idle, while filling, while the full backlog
 * is held, and while draining (at full speed, or paced with --drain-rate).
 * Checks every message arrives once, in order.
 *
 *   node --import tsx bench/backlog.ts [--store sqlite|mysql] [--total-mib 1024] [--window-mib 256] …
 *   (npm run bench:backlog -- --help for every flag)
 */
import { parseArgs } from "node:util";
import { choiceArg, numberArg, optionalString } from "./lib/args.ts";
import { sleep } from "./lib/bounded.ts";
import { type Broker, postJson, startBroker } from "./lib/broker.ts";
import { runBench, runCleanups } from "./lib/cleanup.ts";
import { Histogram } from "./lib/histogram.ts";
import { scrapeMetrics } from "./lib/node-metrics.ts";
import { loadAverage, rssBytes } from "./lib/proc.ts";
import { note, printResult } from "./lib/report.ts";

const HELP = `backlog: fill a queue past the memory window with no consumer, then drain it
  --store sqlite|mysql   store of the node (default sqlite)
  --mysql URL            use this mysql://… database instead of launching MariaDB
  --total-mib N          MiB of messages to fill (default 1024)
  --window-mib N         the node's queueMemoryBytes in MiB (default 256)
  --payload-bytes N      serialised payload size (default 65536)
  --batch N              messages per REST publish (default 8)
  --publishers N         publish requests in flight (default 4)
  --receive-max N        messages per receive while draining (default 64)
  --hold-s S             seconds the full backlog is held before draining (default 5)
  --drain-rate N         drain at most N msgs/s (default: as fast as it goes)
  --sample-ms MS         how often RSS and gauges are sampled (default 250)
  --heap-mib N           start the node with --max-old-space-size=N (default: Node's own limit)
  --out FILE             append the result JSON line to FILE`;

const { values } = parseArgs({
  options: {
    store: { type: "string" },
    mysql: { type: "string" },
    "total-mib": { type: "string" },
    "window-mib": { type: "string" },
    "payload-bytes": { type: "string" },
    batch: { type: "string" },
    publishers: { type: "string" },
    "receive-max": { type: "string" },
    "hold-s": { type: "string" },
    "drain-rate": { type: "string" },
    "sample-ms": { type: "string" },
    "heap-mib": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean" },
  },
});

const MiB = 1024 * 1024;
const settings = {
  store: choiceArg(values, "store", ["sqlite", "mysql"] as const, "sqlite"),
  totalMiB: numberArg(values, "total-mib", 1024),
  windowMiB: numberArg(values, "window-mib", 256),
  payloadBytes: numberArg(values, "payload-bytes", 65_536),
  batch: numberArg(values, "batch", 8),
  publishers: numberArg(values, "publishers", 4),
  receiveMax: numberArg(values, "receive-max", 64),
  holdSeconds: numberArg(values, "hold-s", 5),
  /** 0: as fast as it goes. */
  drainRate: numberArg(values, "drain-rate", 0),
  sampleMs: numberArg(values, "sample-ms", 250),
  heapMiB: numberArg(values, "heap-mib", 0),
};
const messages = Math.ceil((settings.totalMiB * MiB) / settings.payloadBytes);
/** Bounds on every loop: a phase that takes longer than this fails the run. */
const PHASE_TIMEOUT_MS = 30 * 60_000;

interface Peaks {
  rss: number;
  held: number;
  paged: number;
}

/** Samples the node's RSS and queue memory gauges until stopped; keeps the peaks of the current phase. */
class Sampler {
  peaks: Peaks = { rss: 0, held: 0, paged: 0 };
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly broker: Broker) {
    // Kept, not thrown at once: an unhandled rejection would skip the cleanups; stop() rethrows.
    this.done = this.loop();
    this.done.catch(() => {});
  }

  /** Peaks since the last call; starts a new phase. */
  phase(): Peaks {
    const peaks = this.peaks;
    this.peaks = { rss: 0, held: 0, paged: 0 };
    return peaks;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const metrics = await scrapeMetrics(this.broker.url);
      this.peaks.rss = Math.max(this.peaks.rss, rssBytes(this.broker.pid));
      this.peaks.held = Math.max(this.peaks.held, metrics.get("aviso_queue_memory_bytes") ?? 0);
      this.peaks.paged = Math.max(this.peaks.paged, metrics.get("aviso_queue_paged_bytes") ?? 0);
      await sleep(settings.sampleMs);
    }
  }
}

/** Times publish → receive of one small message on another queue, every 200 ms, until stopped; per phase. */
class LatencyProbe {
  latency = new Histogram();
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly broker: Broker,
    private readonly queue: string,
  ) {
    // Kept, not thrown at once: an unhandled rejection would skip the cleanups; stop() rethrows.
    this.done = this.loop();
    this.done.catch(() => {});
  }

  /** Latencies since the last call; starts a new phase. */
  phase(): Histogram {
    const latency = this.latency;
    this.latency = new Histogram();
    return latency;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async loop(): Promise<void> {
    for (let n = 0; this.running; n += 1) {
      const started = performance.now();
      await postJson(this.broker, `/v1/queues/${this.queue}/messages`, { payload: { probe: n } });
      const got = (await postJson(this.broker, `/v1/queues/${this.queue}/receive`, {
        max: 1,
        waitMs: 5000,
      })) as {
        messages: Array<{ receipt: string }>;
      };
      this.latency.recordMillis(performance.now() - started);
      const receipts = got.messages.map((message) => message.receipt);
      if (receipts.length > 0) await postJson(this.broker, `/v1/queues/${this.queue}/ack`, { receipts });
      await sleep(200);
    }
  }
}

async function fill(broker: Broker, queue: string): Promise<void> {
  const pad = "x".repeat(Math.max(0, settings.payloadBytes - 32));
  let next = 0;
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  const publisher = async () => {
    while (next < messages) {
      if (Date.now() > deadline) throw new Error("fill took too long");
      const first = next;
      const count = Math.min(settings.batch, messages - first);
      next += count;
      const batch = Array.from({ length: count }, (_, i) => ({ payload: { n: first + i, pad } }));
      await postJson(broker, `/v1/queues/${queue}/messages`, { messages: batch });
    }
  };
  await Promise.all(Array.from({ length: settings.publishers }, publisher));
}

/**
 * Receives and acks until every message came; checks each comes once, in
 * queue (id) order. Publishers run in parallel, so ids, not payloads, give the order.
 */
async function drain(broker: Broker, queue: string): Promise<{ inOrder: boolean; received: number }> {
  let received = 0;
  let lastId = 0;
  let inOrder = true;
  const seen = new Uint8Array(messages);
  const started = performance.now();
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  while (received < messages) {
    if (Date.now() > deadline) throw new Error(`drain took too long (${received} of ${messages})`);
    if (settings.drainRate > 0) {
      const due = started + (received / settings.drainRate) * 1000;
      if (due > performance.now()) await sleep(due - performance.now());
    }
    const got = (await postJson(broker, `/v1/queues/${queue}/receive`, {
      max: settings.receiveMax,
      waitMs: 2000,
    })) as { messages: Array<{ id: string; receipt: string; payload: { n: number }; deliveries: number }> };
    for (const message of got.messages) {
      const id = Number(message.id);
      if (id <= lastId || message.deliveries !== 1 || seen[message.payload.n] !== 0) inOrder = false;
      seen[message.payload.n] = 1;
      lastId = id;
      received += 1;
    }
    const receipts = got.messages.map((message) => message.receipt);
    if (receipts.length > 0) await postJson(broker, `/v1/queues/${queue}/ack`, { receipts });
  }
  return { inOrder: inOrder && seen.every((flag) => flag === 1), received };
}

async function run(): Promise<void> {
  const loadBefore = loadAverage();
  const broker = await startBroker({
    store: settings.store,
    mysqlUrl: optionalString(values, "mysql"),
    env: {
      AVISO_QUEUE_MEMORY_BYTES: String(settings.windowMiB * MiB),
      // One user fills the whole backlog: its stored-bytes quota must not stop it first.
      AVISO_MAX_STORED_BYTES_PER_USER: String(4 * settings.totalMiB * MiB),
      AVISO_MAX_BODY_BYTES: String(Math.max(8 * MiB, 2 * settings.batch * settings.payloadBytes)),
      AVISO_MAX_RESPONSE_BYTES: String(Math.max(8 * MiB, 2 * settings.receiveMax * settings.payloadBytes)),
      ...(settings.heapMiB > 0 ? { NODE_OPTIONS: `--max-old-space-size=${settings.heapMiB}` } : {}),
    },
  });
  const queue = `backlog-${Date.now().toString(36)}`;
  const other = `${queue}-other`;
  await postJson(broker, "/v1/queues", { name: queue });
  await postJson(broker, "/v1/queues", { name: other });
  await sleep(1000);
  const rssIdle = rssBytes(broker.pid);
  const sampler = new Sampler(broker);
  const probe = new LatencyProbe(broker, other);
  await sleep(5000);
  const idle = probe.phase().percentilesMs();
  sampler.phase();
  note(
    `filling ${queue} with ${messages} messages of ${settings.payloadBytes} bytes (${settings.totalMiB} MiB), window ${settings.windowMiB} MiB`,
  );
  const fillStarted = performance.now();
  await fill(broker, queue);
  const fillSeconds = (performance.now() - fillStarted) / 1000;
  const fillPeaks = sampler.phase();
  const duringFill = probe.phase().percentilesMs();
  const rssFilled = rssBytes(broker.pid);
  note(`filled in ${fillSeconds.toFixed(1)} s; holding it ${settings.holdSeconds} s`);
  await sleep(settings.holdSeconds * 1000);
  const duringHold = probe.phase().percentilesMs();
  sampler.phase();
  note(`draining with one consumer${settings.drainRate > 0 ? ` at ${settings.drainRate} msgs/s` : ""}`);
  const drainStarted = performance.now();
  const drained = await drain(broker, queue);
  const drainSeconds = (performance.now() - drainStarted) / 1000;
  const drainPeaks = sampler.phase();
  const duringDrain = probe.phase().percentilesMs();
  await probe.stop();
  await sampler.stop();
  const rssEnd = rssBytes(broker.pid);
  const loadAfter = loadAverage();
  const mib = (bytes: number) => bytes / MiB;
  printResult(
    {
      bench: "backlog",
      store: broker.storeLabel,
      totalMiB: settings.totalMiB,
      windowMiB: settings.windowMiB,
      heapMiB: settings.heapMiB,
      messages,
      payloadBytes: settings.payloadBytes,
      drainRate: settings.drainRate > 0 ? settings.drainRate : "max",
      fillSeconds,
      drainSeconds,
      rssIdleMiB: mib(rssIdle),
      rssPeakFillMiB: mib(fillPeaks.rss),
      rssFilledMiB: mib(rssFilled),
      rssPeakDrainMiB: mib(drainPeaks.rss),
      rssEndMiB: mib(rssEnd),
      heldPeakMiB: mib(Math.max(fillPeaks.held, drainPeaks.held)),
      pagedPeakMiB: mib(fillPeaks.paged),
      inOrderOnce: drained.inOrder,
      received: drained.received,
      otherIdleP50Ms: idle.p50,
      otherIdleP99Ms: idle.p99,
      otherFillP50Ms: duringFill.p50,
      otherFillP99Ms: duringFill.p99,
      otherHeldP50Ms: duringHold.p50,
      otherHeldP99Ms: duringHold.p99,
      otherDrainP50Ms: duringDrain.p50,
      otherDrainP99Ms: duringDrain.p99,
      loadBefore: loadBefore[0],
      loadAfter: loadAfter[0],
    },
    [
      ["store", broker.storeLabel],
      ["backlog", settings.totalMiB, `MiB (${messages} × ${settings.payloadBytes} B)`],
      ["window (queueMemoryBytes)", settings.windowMiB, "MiB"],
      ["--max-old-space-size", settings.heapMiB > 0 ? settings.heapMiB : "Node's default", "MiB"],
      ["fill / drain", `${fillSeconds.toFixed(1)} / ${drainSeconds.toFixed(1)}`, "s"],
      ["drain rate", settings.drainRate > 0 ? settings.drainRate : "as fast as it goes", "msgs/s"],
      ["RSS idle before fill", mib(rssIdle), "MiB"],
      ["RSS peak while filling", mib(fillPeaks.rss), "MiB"],
      ["RSS peak while draining", mib(drainPeaks.rss), "MiB"],
      ["RSS at the end", mib(rssEnd), "MiB"],
      ["queue memory gauge peak", mib(Math.max(fillPeaks.held, drainPeaks.held)), "MiB"],
      ["every message once, in order", drained.inOrder && drained.received === messages],
      [
        "other queue publish→receive p50 / p99, idle",
        `${idle.p50.toFixed(1)} / ${idle.p99.toFixed(1)}`,
        "ms",
      ],
      ["… while filling", `${duringFill.p50.toFixed(1)} / ${duringFill.p99.toFixed(1)}`, "ms"],
      ["… while the backlog is held", `${duringHold.p50.toFixed(1)} / ${duringHold.p99.toFixed(1)}`, "ms"],
      ["… while draining", `${duringDrain.p50.toFixed(1)} / ${duringDrain.p99.toFixed(1)}`, "ms"],
      ["load average (1 min) before / after", `${loadBefore[0]} / ${loadAfter[0]}`],
    ],
    optionalString(values, "out"),
  );
}

runBench("backlog", HELP, values.help === true, async () => {
  try {
    await run();
  } finally {
    await runCleanups();
  }
});
