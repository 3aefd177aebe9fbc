/**
 * Soak: does a node's memory plateau under steady durable load? Measures the
 * durable queue path's maximum briefly (unpaced publishers), then publishes at
 * a steady fraction of it (default 80 %) for a bounded time, sampling the
 * node's RSS (from /proc) and its V8 heap and external memory (its /metrics)
 * every few seconds; then drains, checks that every message was consumed and
 * acked, and samples once more after an idle pause, before and after forcing
 * a full garbage collection through the node's inspector (garbage vs retained).
 *
 *   node --import tsx bench/soak.ts [--store sqlite|mysql] [--seconds 600] …
 *   (npm run bench:soak -- --help for every flag)
 */
import { appendFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { choiceArg, numberArg, optionalString, stringFlags } from "./lib/args.ts";
import { sleep, waitUntil } from "./lib/bounded.ts";
import { type Broker, getJson, postJson, startBroker } from "./lib/broker.ts";
import { runBench, runCleanups } from "./lib/cleanup.ts";
import { scrapeMetrics } from "./lib/node-metrics.ts";
import { Pacer, payloadOfBytes } from "./lib/pacer.ts";
import { loadAverage, rssBytes } from "./lib/proc.ts";
import { note, printResult } from "./lib/report.ts";
import { WsPublisher } from "./lib/ws-publisher.ts";
import { QueueConsumer } from "./queue/consumer.ts";

const HELP = `soak: durable queue at a steady fraction of its measured maximum, node memory sampled
  --store sqlite|mysql     store of the node (default sqlite; mysql launches MariaDB)
  --mysql URL              use this mysql://user:pass@host:port/db instead of launching MariaDB
  --max-seconds S          unpaced window that measures the maximum (default 15, after 5 s warm-up)
  --fraction F             steady rate as a fraction of the maximum (default 0.8; 1 = unpaced)
  --seconds S              steady phase (default 600)
  --sample-every S         memory sample interval (default 5)
  --idle-seconds S         pause after draining before the idle sample (default 30)
  --node-options=TEXT      NODE_OPTIONS for the node (with "=": --node-options="--max-semi-space-size=8")
  --publishers P --consumers C   (default 4 / 4), 1 KB payloads (--payload-bytes N)
  --samples FILE           append every sample as a JSON line to FILE
  --out FILE               append the result JSON line to FILE
  --label TEXT             a name for this run in the result`;

const { values } = parseArgs({
  options: {
    ...stringFlags([
      "store",
      "mysql",
      "max-seconds",
      "fraction",
      "seconds",
      "sample-every",
      "idle-seconds",
      "node-options",
      "publishers",
      "consumers",
      "payload-bytes",
      "samples",
      "out",
      "label",
    ]),
    help: { type: "boolean" },
  },
});

const settings = {
  store: choiceArg(values, "store", ["sqlite", "mysql"] as const, "sqlite"),
  maxSeconds: numberArg(values, "max-seconds", 15),
  fraction: numberArg(values, "fraction", 0.8),
  seconds: numberArg(values, "seconds", 600),
  sampleEveryS: Math.max(1, numberArg(values, "sample-every", 5)),
  idleSeconds: numberArg(values, "idle-seconds", 30),
  nodeOptions: optionalString(values, "node-options"),
  publishers: numberArg(values, "publishers", 4),
  consumers: numberArg(values, "consumers", 4),
  payloadBytes: numberArg(values, "payload-bytes", 1024),
};
const WARMUP_MS = 5000;
const WINDOW = 64;
/** A run never publishes more than this per publisher: a bound on the loop, not a target. */
const MAX_MESSAGES_PER_PUBLISHER = 50_000_000;
const DRAIN_TIMEOUT_MS = 120_000;
const MiB = 1024 * 1024;

interface MemorySample {
  atS: number;
  phase: string;
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  acked: number;
}

const sum = <T>(items: readonly T[], of: (item: T) => number) =>
  items.reduce((total, item) => total + of(item), 0);

class Sampler {
  readonly samples: MemorySample[] = [];
  private readonly startedAt = performance.now();

  constructor(
    private readonly broker: Broker,
    private readonly acked: () => number,
    private readonly file: string | undefined,
  ) {}

  async sample(phase: string): Promise<MemorySample> {
    const metrics = await scrapeMetrics(this.broker.url);
    const mib = (name: string) => (metrics.get(name) ?? Number.NaN) / MiB;
    const sample = {
      atS: Math.round((performance.now() - this.startedAt) / 1000),
      phase,
      rssMiB: rssBytes(this.broker.pid) / MiB,
      heapUsedMiB: mib("nodejs_heap_size_used_bytes"),
      heapTotalMiB: mib("nodejs_heap_size_total_bytes"),
      externalMiB: mib("nodejs_external_memory_bytes"),
      acked: this.acked(),
    };
    this.samples.push(sample);
    if (this.file !== undefined) appendFileSync(this.file, `${JSON.stringify(sample)}\n`);
    return sample;
  }
}

function startPublishers(broker: Broker, queue: string, rate: number | null): Promise<WsPublisher[]> {
  const payloadJson = payloadOfBytes(settings.payloadBytes);
  return Promise.all(
    Array.from({ length: settings.publishers }, () =>
      WsPublisher.start({
        wsUrl: broker.wsUrl,
        token: broker.token,
        target: { queue },
        payloadJson,
        window: WINDOW,
        maxMessages: MAX_MESSAGES_PER_PUBLISHER,
        pacer: new Pacer(rate === null ? null : rate / settings.publishers),
        measuring: () => false,
      }),
    ),
  );
}

/** Stops the publishers, waits for their publishes and for the consumers to ack everything; returns what was published. */
async function drain(broker: Broker, queue: string, publishers: WsPublisher[], consumers: QueueConsumer[]) {
  for (const publisher of publishers) publisher.stop();
  await waitUntil("publishes in flight to complete", () => sum(publishers, (p) => p.inFlight) === 0, {
    timeoutMs: DRAIN_TIMEOUT_MS,
  });
  const published = sum(publishers, (p) => p.oks);
  const errors = sum(publishers, (p) => p.errors);
  const firstError = publishers.find((p) => p.lastError !== "")?.lastError ?? "";
  for (const publisher of publishers) publisher.close();
  await waitUntil(
    "the queue to be empty",
    async () => {
      for (const consumer of consumers) consumer.flush();
      const view = (await getJson(broker, `/v1/queues/${queue}`)) as { depth: number; inFlight: number };
      return view.depth === 0 && view.inFlight === 0;
    },
    { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: 100 },
  );
  return { published, errors, firstError };
}

async function run(): Promise<void> {
  const loadBefore = loadAverage();
  const broker = await startBroker({
    store: settings.store,
    mysqlUrl: optionalString(values, "mysql"),
    env: settings.nodeOptions === undefined ? {} : { NODE_OPTIONS: settings.nodeOptions },
    inspect: true,
  });
  const queue = `soak-${Date.now().toString(36)}`;
  await postJson(broker, "/v1/queues", { name: queue });
  const consumers: QueueConsumer[] = [];
  const sampler = new Sampler(
    broker,
    () => sum(consumers, (c) => c.acked),
    optionalString(values, "samples"),
  );
  try {
    const boot = await sampler.sample("boot");
    for (let i = 0; i < settings.consumers; i++) {
      consumers.push(
        await QueueConsumer.start(
          {
            wsUrl: broker.wsUrl,
            token: broker.token,
            queue,
            prefetch: 256,
            ackBatch: 32,
            ackEveryMs: 5,
            measuring: () => false,
          },
          i,
        ),
      );
    }

    note(`maximum: unpaced for ${settings.maxSeconds} s after ${WARMUP_MS / 1000} s warm-up`);
    const maxPublishers = await startPublishers(broker, queue, null);
    await sleep(WARMUP_MS);
    const ackedBefore = sum(consumers, (c) => c.acked);
    const maxStarted = performance.now();
    await sleep(settings.maxSeconds * 1000);
    const maxRate =
      (sum(consumers, (c) => c.acked) - ackedBefore) / ((performance.now() - maxStarted) / 1000);
    const maxDrain = await drain(broker, queue, maxPublishers, consumers);
    const afterMax = await sampler.sample("after max");

    const rate = settings.fraction >= 1 ? null : Math.max(1, Math.round(maxRate * settings.fraction));
    note(`steady: ${rate ?? "unpaced"} msgs/s for ${settings.seconds} s (max ${Math.round(maxRate)})`);
    const publishers = await startPublishers(broker, queue, rate);
    const steadyAckedBefore = sum(consumers, (c) => c.acked);
    const steadyStarted = performance.now();
    const steadyEnd = steadyStarted + settings.seconds * 1000;
    const maxSamples = Math.ceil(settings.seconds / settings.sampleEveryS) + 1;
    for (let i = 0; i < maxSamples && performance.now() < steadyEnd; i++) {
      await sleep(Math.min(settings.sampleEveryS * 1000, Math.max(0, steadyEnd - performance.now())));
      const s = await sampler.sample("steady");
      if (i % 12 === 0)
        note(`rss ${s.rssMiB.toFixed(0)} MiB, heap ${s.heapUsedMiB.toFixed(0)}/${s.heapTotalMiB.toFixed(0)}`);
    }
    const steadyRate =
      (sum(consumers, (c) => c.acked) - steadyAckedBefore) / ((performance.now() - steadyStarted) / 1000);
    const steadyDrain = await drain(broker, queue, publishers, consumers);
    note(`drained; idle for ${settings.idleSeconds} s`);
    await sleep(settings.idleSeconds * 1000);
    const idle = await sampler.sample("idle");
    // What a full collection frees was garbage; what it leaves is retained.
    await broker.inspector?.call("HeapProfiler.collectGarbage");
    const collected = await sampler.sample("idle after full GC");

    const steady = sampler.samples.filter((s) => s.phase === "steady");
    const first = steady[0] ?? afterMax;
    const last = steady.at(-1) ?? afterMax;
    const peak = (of: (s: MemorySample) => number) => Math.max(...steady.map(of));
    const published = maxDrain.published + steadyDrain.published;
    const acked = sum(consumers, (c) => c.acked);
    const errors = maxDrain.errors + steadyDrain.errors + sum(consumers, (c) => c.errors);
    const record = {
      bench: "soak",
      label: optionalString(values, "label") ?? "",
      store: broker.storeLabel,
      nodeOptions: settings.nodeOptions ?? "",
      payloadBytes: settings.payloadBytes,
      maxPerSec: maxRate,
      targetPerSec: rate ?? "max",
      steadyAckedPerSec: steadyRate,
      steadySeconds: settings.seconds,
      rssBootMiB: boot.rssMiB,
      rssAfterMaxMiB: afterMax.rssMiB,
      rssSteadyFirstMiB: first.rssMiB,
      rssSteadyEndMiB: last.rssMiB,
      rssSteadyMaxMiB: peak((s) => s.rssMiB),
      rssIdleMiB: idle.rssMiB,
      heapUsedSteadyMaxMiB: peak((s) => s.heapUsedMiB),
      heapTotalSteadyMaxMiB: peak((s) => s.heapTotalMiB),
      externalSteadyMaxMiB: peak((s) => s.externalMiB),
      heapUsedIdleMiB: idle.heapUsedMiB,
      heapTotalIdleMiB: idle.heapTotalMiB,
      rssAfterFullGcMiB: collected.rssMiB,
      heapUsedAfterFullGcMiB: collected.heapUsedMiB,
      heapTotalAfterFullGcMiB: collected.heapTotalMiB,
      published,
      acked,
      // The queue is empty after draining: every published message was acked (redeliveries are acked twice).
      lost: Math.max(0, published - acked),
      redelivered: sum(consumers, (c) => c.redelivered),
      errors,
      firstError: maxDrain.firstError || steadyDrain.firstError,
      load1Before: loadBefore[0],
      load1After: loadAverage()[0],
    };
    printResult(
      record,
      [
        ["store", record.store],
        ["node options", record.nodeOptions || "(none)"],
        ["maximum (unpaced)", maxRate, "msgs/s"],
        ["steady target / achieved", `${rate ?? "max"} / ${Math.round(steadyRate)}`, "msgs/s"],
        ["RSS boot / after max", `${boot.rssMiB.toFixed(0)} / ${afterMax.rssMiB.toFixed(0)}`, "MiB"],
        [
          "RSS steady first / end / max",
          `${first.rssMiB.toFixed(0)} / ${last.rssMiB.toFixed(0)} / ${record.rssSteadyMaxMiB.toFixed(0)}`,
          "MiB",
        ],
        [
          "idle RSS / heap used: before, after a full GC",
          `${idle.rssMiB.toFixed(0)} / ${idle.heapUsedMiB.toFixed(0)}, ${collected.rssMiB.toFixed(0)} / ${collected.heapUsedMiB.toFixed(0)}`,
          "MiB",
        ],
        [
          "heap used / total max (steady)",
          `${record.heapUsedSteadyMaxMiB.toFixed(0)} / ${record.heapTotalSteadyMaxMiB.toFixed(0)}`,
          "MiB",
        ],
        ["external max (steady)", record.externalSteadyMaxMiB, "MiB"],
        ["published / acked / lost", `${published} / ${acked} / ${record.lost}`],
        ["errors / redelivered", `${errors} / ${record.redelivered}`],
        ["load average before, after", `${record.load1Before}, ${record.load1After}`],
      ],
      optionalString(values, "out"),
    );
    if (record.lost !== 0 || errors !== 0)
      throw new Error(`messages lost or errors: ${JSON.stringify(record)}`);
  } finally {
    for (const consumer of consumers) consumer.close();
    await runCleanups();
  }
}

runBench("soak", HELP, values.help === true, run);
