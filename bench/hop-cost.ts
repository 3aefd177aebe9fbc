/**
 * What one request/answer hop between two processes costs in CPU per message.
 *
 *   node --import tsx bench/hop-cost.ts [--rates 500,2000,4000] [--seconds 5] [--transports tcp,h2]
 *
 * A message that crosses nodes in a cluster costs about twice the broker CPU
 * of a single node (bench/cross-node.ts). The suspicion: on a small VM every
 * process wake-up is expensive, so each hop costs a lot per message whatever
 * the transport. This measures the floor: a client (this process) and a
 * server (this file re-run as a child with --serve) on loopback, the client
 * paced by a `--tick-ms` interval that sends every message due by the target
 * rate as one frame in one write (k payloads concatenated — the peer link
 * batches per loop turn the same way), the server answering each frame with
 * 40 bytes. Transports:
 *
 * - `tcp`: node:net with setNoDelay, frames = 1 byte 0 + uint32 BE length + body;
 * - `h2`: node:http2, one long-lived POST stream (application/grpc), the same framing;
 * - `grpc-js`: a @grpc/grpc-js bidi stream with identity serializers (Buffers in and out);
 * - `wake`: the client's interval alone, doing nothing: the CPU of one wake-up.
 *
 * CPU is process.cpuUsage() of each side at the window's edges (the server
 * reports its own over a line on stdin/stdout), divided by the messages and
 * by the frames ("batches") sent in the window. Compare µs per batch with
 * the wake baseline: what is left is the transport's share. Each transport
 * gets a fresh server and one connection for all its rates, first driven
 * unmeasured for `--prime` seconds: for its first ~10 s a Node process costs
 * more per wake-up (V8 tiering up, memory-reducer GCs in both isolates — tsx's
 * loader thread has its own), which would land in the first rate's window.
 */
import { parseArgs } from "node:util";
import { LINK_TRANSPORTS, type LinkTransport } from "./hop/framing.ts";
import { type HopLink, type HopServer, openLink, startServer } from "./hop/hop-link.ts";
import { serve } from "./hop/hop-server.ts";
import { choiceArg, numberArg, optionalString } from "./lib/args.ts";
import { sleep, waitUntil, withTimeout } from "./lib/bounded.ts";
import { runBench, runCleanups } from "./lib/cleanup.ts";
import { Pacer } from "./lib/pacer.ts";
import { loadAverage, machineBusySeconds } from "./lib/proc.ts";
import { note, printResult } from "./lib/report.ts";

const HELP = `bench/hop-cost.ts — CPU per message of one request/answer hop between two processes
  --rates LIST          msgs/s to run at, comma-separated (500,2000,4000)
  --seconds S           measured window per run (5)
  --warmup S            warm-up before each window (1)
  --prime S             unmeasured run of each transport before its first window (10)
  --payload-bytes N     bytes per message; a batch frame holds k of them (256)
  --tick-ms MS          the client's send interval: one frame per tick (2)
  --transports LIST     any of tcp,h2,grpc-js,wake (all; wake runs once, not per rate)
  --label TEXT          names the run in the JSON line
  --out FILE            append each run's JSON line to FILE`;

const TRANSPORTS = [...LINK_TRANSPORTS, "wake"] as const;

const { values } = parseArgs({
  options: {
    rates: { type: "string" },
    seconds: { type: "string" },
    warmup: { type: "string" },
    prime: { type: "string" },
    "payload-bytes": { type: "string" },
    "tick-ms": { type: "string" },
    transports: { type: "string" },
    label: { type: "string" },
    out: { type: "string" },
    serve: { type: "string" },
    help: { type: "boolean" },
  },
});

const ANSWER_GRACE_MS = 1000;

// ---- measuring ----

interface Counts {
  ticks: number;
  messages: number;
  batches: number;
}

/** Every tick, sends the messages due by `rate` as one batch (nothing when none are due). */
function startSender(link: HopLink, rate: number, tickMs: number): { counts: Counts; stop(): void } {
  const counts: Counts = { ticks: 0, messages: 0, batches: 0 };
  const pacer = new Pacer(rate);
  const timer = setInterval(() => {
    counts.ticks++;
    const due = pacer.allowance(counts.messages);
    if (due === 0) return;
    link.sendBatch(due);
    counts.messages += due;
    counts.batches++;
  }, tickMs);
  return { counts, stop: () => clearInterval(timer) };
}

/** Fails the run unless the link has `expected` answers (one per batch sent) within ANSWER_GRACE_MS. */
async function expectAnswers(link: HopLink, expected: number, what: string): Promise<void> {
  const settled = () => link.answers >= expected || link.failure !== undefined;
  await waitUntil("answers", settled, { timeoutMs: ANSWER_GRACE_MS, intervalMs: 5 }).catch(() => {});
  if (link.failure !== undefined) throw new Error(`${what}: the connection failed`, { cause: link.failure });
  if (link.answers !== expected)
    throw new Error(
      `${what}: ${link.answers} answers to ${expected} batches ${ANSWER_GRACE_MS} ms after sending`,
    );
}

/** Paces `link` for `ms` without measuring, then waits for every answer. */
async function paceFor(link: HopLink, rate: number, ms: number, settings: Settings, what: string) {
  const expected = link.answers;
  const sender = startSender(link, rate, settings.tickMs);
  await sleep(ms).finally(sender.stop);
  await expectAnswers(link, expected + sender.counts.batches, what);
}

async function snapshot(server: HopServer, link: HopLink, counts: Counts) {
  const serverCpu = await server.cpuUsage();
  return {
    ...counts,
    atMs: performance.now(),
    answers: link.answers,
    client: process.cpuUsage(),
    server: serverCpu,
    machineBusySeconds: machineBusySeconds(),
  };
}

const cpuMicros = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;

/** One paced run on an open link: warm-up, measured window, then every answer in. */
async function measureHop(
  transport: LinkTransport,
  rate: number,
  server: HopServer,
  link: HopLink,
  settings: Settings,
) {
  const expectedBefore = link.answers;
  const load1Before = loadAverage()[0];
  const sender = startSender(link, rate, settings.tickMs);
  let before: Awaited<ReturnType<typeof snapshot>>;
  let after: typeof before;
  try {
    await sleep(settings.warmupSeconds * 1000);
    before = await snapshot(server, link, sender.counts);
    await sleep(settings.windowSeconds * 1000);
    after = await snapshot(server, link, sender.counts);
  } finally {
    sender.stop();
  }
  await expectAnswers(link, expectedBefore + sender.counts.batches, `${transport} @ ${rate}`);
  const windowSeconds = (after.atMs - before.atMs) / 1000;
  const messages = after.messages - before.messages;
  const batches = after.batches - before.batches;
  const client = cpuMicros(after.client) - cpuMicros(before.client);
  const serverCpu = cpuMicros(after.server) - cpuMicros(before.server);
  const machineBusy = after.machineBusySeconds - before.machineBusySeconds;
  return {
    bench: "hop-cost",
    label: settings.label,
    transport,
    rate,
    tickMs: settings.tickMs,
    payloadBytes: settings.payloadBytes,
    windowSeconds,
    /** Wake-ups of the send interval; a tick with nothing due sends nothing. */
    ticks: after.ticks - before.ticks,
    messages,
    batches,
    answers: after.answers - before.answers,
    msgsPerBatch: messages / batches,
    clientUsPerMsg: client / messages,
    serverUsPerMsg: serverCpu / messages,
    totalUsPerMsg: (client + serverCpu) / messages,
    clientUsPerBatch: client / batches,
    serverUsPerBatch: serverCpu / batches,
    totalUsPerBatch: (client + serverCpu) / batches,
    /** The kernel's share of each side's CPU, %. */
    clientSystemPct: (100 * (after.client.system - before.client.system)) / client,
    serverSystemPct: (100 * (after.server.system - before.server.system)) / serverCpu,
    /** CPU the rest of the machine used meanwhile, % of one core: runs on a busy machine are not comparable. */
    othersCpuPct: (100 * Math.max(0, machineBusy - (client + serverCpu) / 1e6)) / windowSeconds,
    load1Before,
    load1After: loadAverage()[0],
  } as const;
}
type HopResult = Awaited<ReturnType<typeof measureHop>>;

/** The client's interval alone, doing nothing: the CPU of one wake-up. */
async function measureWake(settings: Settings) {
  const load1Before = loadAverage()[0];
  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
  }, settings.tickMs);
  try {
    await sleep((settings.primeSeconds + settings.warmupSeconds) * 1000);
    const [ticksBefore, cpuBefore, startedAt] = [ticks, process.cpuUsage(), performance.now()];
    await sleep(settings.windowSeconds * 1000);
    const [wakeups, cpu] = [ticks - ticksBefore, process.cpuUsage(cpuBefore)];
    return {
      bench: "hop-cost",
      label: settings.label,
      transport: "wake",
      tickMs: settings.tickMs,
      windowSeconds: (performance.now() - startedAt) / 1000,
      ticks: wakeups,
      clientUsPerWake: cpuMicros(cpu) / wakeups,
      clientSystemPct: (100 * cpu.system) / cpuMicros(cpu),
      load1Before,
      load1After: loadAverage()[0],
    } as const;
  } finally {
    clearInterval(timer);
  }
}
type WakeResult = Awaited<ReturnType<typeof measureWake>>;

// ---- reporting ----

const fixed = (value: number, digits = 1): string => value.toFixed(digits);
const sides = (client: number, server: number, total: number): string =>
  [client, server, total].map((value) => fixed(value)).join(" / ");

function report(result: HopResult | WakeResult, outFile: string | undefined): void {
  if (result.transport === "wake") {
    printResult(
      result,
      [
        [`wake baseline, one ${result.tickMs} ms interval`, `${result.ticks} wake-ups`],
        ["client CPU per wake-up", result.clientUsPerWake, "µs"],
      ],
      outFile,
    );
    return;
  }
  const r = result;
  printResult(
    r,
    [
      [`${r.transport} @ ${r.rate} msgs/s`, `${r.messages} msgs in ${r.batches} batches`],
      ["per msg: client / server / total", sides(r.clientUsPerMsg, r.serverUsPerMsg, r.totalUsPerMsg), "µs"],
      [
        "per batch: client / server / total",
        sides(r.clientUsPerBatch, r.serverUsPerBatch, r.totalUsPerBatch),
        "µs",
      ],
      [
        "kernel share: client / server",
        `${fixed(r.clientSystemPct, 0)} / ${fixed(r.serverSystemPct, 0)}`,
        "%",
      ],
      ["other processes' CPU meanwhile", r.othersCpuPct, "% of a core"],
    ],
    outFile,
  );
}

/** A markdown table of every run, for RESULTS.md. */
function summarize(results: ReadonlyArray<HopResult | WakeResult>): void {
  const lines = [
    "| transport | msgs/s | msgs/batch | µs/msg client / server / total | µs/batch client / server / total |",
    "|---|---:|---:|---:|---:|",
    ...results.map((r) =>
      r.transport === "wake"
        ? `| wake (${r.tickMs} ms interval, nothing sent) | – | – | – | ${fixed(r.clientUsPerWake)} / – / – |`
        : `| ${r.transport} | ${r.rate} | ${fixed(r.msgsPerBatch)} | ${sides(r.clientUsPerMsg, r.serverUsPerMsg, r.totalUsPerMsg)} | ${sides(r.clientUsPerBatch, r.serverUsPerBatch, r.totalUsPerBatch)} |`,
    ),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

// ---- the run ----

/** A fresh server child and one connection per transport, kept across its rates. */
async function runTransport(transport: LinkTransport, settings: Settings): Promise<HopResult[]> {
  note(`${transport}: starting the server`);
  const server = await startServer(transport);
  const link = await withTimeout(
    `${transport} connect`,
    openLink(transport, server.port, settings.payloadBytes),
    10_000,
  );
  const results: HopResult[] = [];
  try {
    const primeMs = settings.primeSeconds * 1000;
    await paceFor(link, Math.max(...settings.rates), primeMs, settings, `${transport} priming`);
    for (const rate of settings.rates) {
      note(`${transport} @ ${rate} msgs/s`);
      const result = await measureHop(transport, rate, server, link, settings);
      report(result, settings.outFile);
      results.push(result);
    }
  } finally {
    link.close();
    await server.stop();
  }
  return results;
}

function readSettings() {
  const rates = (optionalString(values, "rates") ?? "500,2000,4000").split(",").map(Number);
  if (rates.some((rate) => !Number.isFinite(rate) || rate <= 0))
    throw new Error("--rates must be positive numbers, comma-separated");
  const transports = (optionalString(values, "transports") ?? TRANSPORTS.join(","))
    .split(",")
    .map((name) => choiceArg({ transports: name.trim() }, "transports", TRANSPORTS, "tcp"));
  const settings = {
    rates,
    windowSeconds: numberArg(values, "seconds", 5),
    warmupSeconds: numberArg(values, "warmup", 1),
    primeSeconds: numberArg(values, "prime", 10),
    payloadBytes: numberArg(values, "payload-bytes", 256),
    tickMs: numberArg(values, "tick-ms", 2),
    transports,
    label: optionalString(values, "label") ?? null,
    outFile: optionalString(values, "out"),
  };
  if (settings.windowSeconds <= 0 || settings.tickMs <= 0 || settings.payloadBytes < 1)
    throw new Error("--seconds and --tick-ms must be positive, --payload-bytes at least 1");
  return settings;
}
type Settings = ReturnType<typeof readSettings>;

async function run(): Promise<void> {
  const settings = readSettings();
  const results: Array<HopResult | WakeResult> = [];
  for (const transport of settings.transports) {
    if (transport === "wake") {
      note("wake baseline");
      const result = await measureWake(settings);
      report(result, settings.outFile);
      results.push(result);
    } else {
      results.push(...(await runTransport(transport, settings)));
    }
  }
  summarize(results);
}

const serveAs = optionalString(values, "serve");
if (serveAs !== undefined) {
  await serve(choiceArg(values, "serve", LINK_TRANSPORTS, "tcp"));
} else {
  runBench("hop-cost", HELP, values.help === true, () => run().finally(() => runCleanups()));
}
