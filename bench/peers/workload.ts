/**
 * The one load generator every broker in bench/peers gets: P publishers
 * keeping a window of publishes in flight and waiting for each confirm, C
 * consumers with a prefetch acking in batches, a warm-up, a measured window
 * (CPU from /proc of the broker's processes), then a drain that checks every
 * confirmed publish was consumed. A broker plugs in by giving a `Target`.
 */
import { sleep, waitUntil } from "../lib/bounded.ts";
import { Histogram } from "../lib/histogram.ts";
import { CpuWindow, loadAverage } from "../lib/proc.ts";
import { note } from "../lib/report.ts";

/** What the driver reads from a publisher (bench/lib/ws-publisher.ts has this shape). */
export interface LoadPublisher {
  readonly oks: number;
  readonly inFlight: number;
  readonly errors: number;
  readonly lastError: string;
  readonly latency: Histogram;
  stop(): void;
  close(): void;
}

/** What the driver reads from a consumer (bench/queue/consumer.ts has this shape). */
export interface LoadConsumer {
  readonly received: number;
  readonly acked: number;
  readonly redelivered: number;
  readonly errors: number;
  readonly lastError: string;
  readonly endToEnd: Histogram;
  flush(): void;
  close(): void;
}

export interface WorkloadSettings {
  publishers: number;
  consumers: number;
  inflight: number;
  prefetch: number;
  ackBatch: number;
  ackEveryMs: number;
  payloadBytes: number;
  warmupS: number;
  seconds: number;
}

/** A started broker with a fresh durable queue, ready for the load generator. */
export interface Target {
  name: string;
  /** How it stores and confirms, for the report. */
  detail: string;
  /** The broker's processes; every one's CPU counts as the broker's (e.g. node + mariadbd). */
  pids: Record<string, number>;
  publisher(index: number, measuring: () => boolean): Promise<LoadPublisher>;
  consumer(index: number, measuring: () => boolean): Promise<LoadConsumer>;
  /** Messages still in the queue, ready or unacknowledged. */
  remaining(): Promise<number>;
}

const DRAIN_TIMEOUT_MS = 60_000;

const sum = <T>(items: readonly T[], of: (item: T) => number) =>
  items.reduce((total, item) => total + of(item), 0);

/** Waits like waitUntil but reports a timeout as false instead of throwing: the loss check counts it. */
async function drained(what: string, done: () => boolean | Promise<boolean>): Promise<boolean> {
  try {
    await waitUntil(what, done, { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: 50 });
    return true;
  } catch (error) {
    note(String(error));
    return false;
  }
}

export async function runWorkload(target: Target, settings: WorkloadSettings, loadBefore: number[]) {
  let measuring = false;
  const isMeasuring = () => measuring;
  const consumers: LoadConsumer[] = [];
  const publishers: LoadPublisher[] = [];
  try {
    for (let i = 0; i < settings.consumers; i++) consumers.push(await target.consumer(i, isMeasuring));
    for (let i = 0; i < settings.publishers; i++) publishers.push(await target.publisher(i, isMeasuring));
    note(`${target.name}: warm-up ${settings.warmupS} s`);
    await sleep(settings.warmupS * 1000);

    const window = new CpuWindow({ ...target.pids, loadgen: process.pid });
    const ackedBefore = sum(consumers, (c) => c.acked);
    const publishedBefore = sum(publishers, (p) => p.oks);
    window.start();
    measuring = true;
    note(`${target.name}: measuring for ${settings.seconds} s`);
    await sleep(settings.seconds * 1000);
    measuring = false;
    const usage = window.stop();
    const acked = sum(consumers, (c) => c.acked) - ackedBefore;
    const published = sum(publishers, (p) => p.oks) - publishedBefore;

    note(`${target.name}: draining`);
    for (const publisher of publishers) publisher.stop();
    await drained("publishes in flight to complete", () => sum(publishers, (p) => p.inFlight) === 0);
    const confirmed = sum(publishers, (p) => p.oks);
    const consumed = () => sum(consumers, (c) => c.received - c.redelivered);
    await drained("every confirmed publish to be consumed", () => consumed() >= confirmed);
    for (const consumer of consumers) consumer.flush();
    const emptied = await drained("the queue to be empty", async () => (await target.remaining()) === 0);

    const confirm = new Histogram();
    for (const publisher of publishers) confirm.merge(publisher.latency.toData());
    const endToEnd = new Histogram();
    for (const consumer of consumers) endToEnd.merge(consumer.endToEnd.toData());
    const pub = confirm.percentilesMs();
    const e2e = endToEnd.percentilesMs();
    const seconds = usage.wallSeconds;
    const brokerCpu = sum(Object.keys(target.pids), (name) => usage.cpu[name] ?? Number.NaN);
    const databaseCpu = usage.cpu.database ?? null;
    const all = [...publishers, ...consumers];
    return {
      broker: target.name,
      detail: target.detail,
      ...settings,
      windowSeconds: seconds,
      ackedPerSec: acked / seconds,
      confirmedPerSec: published / seconds,
      confirmP50Ms: pub.p50,
      confirmP99Ms: pub.p99,
      confirmMaxMs: pub.max,
      e2eP50Ms: e2e.p50,
      e2eP99Ms: e2e.p99,
      e2eMaxMs: e2e.max,
      brokerCpuPct: (brokerCpu / seconds) * 100,
      brokerCpuUsPerMsg: (brokerCpu / acked) * 1e6,
      msgsPerBrokerCpuSec: acked / brokerCpu,
      databaseCpuUsPerMsg: databaseCpu === null ? null : (databaseCpu / acked) * 1e6,
      loadgenCpuPct: ((usage.cpu.loadgen ?? Number.NaN) / seconds) * 100,
      othersCpuPct: (usage.othersCpu / seconds) * 100,
      confirmedTotal: confirmed,
      consumedTotal: consumed(),
      lost: Math.max(0, confirmed - consumed()),
      queueEmptied: emptied,
      redelivered: sum(consumers, (c) => c.redelivered),
      errors: sum(all, (x) => x.errors),
      firstError: all.find((x) => x.lastError !== "")?.lastError ?? "",
      load1Before: loadBefore[0] ?? Number.NaN,
      load5Before: loadBefore[1] ?? Number.NaN,
      load1After: loadAverage()[0],
    };
  } finally {
    for (const publisher of publishers) publisher.close();
    for (const consumer of consumers) consumer.close();
  }
}

export type WorkloadResult = Awaited<ReturnType<typeof runWorkload>>;
