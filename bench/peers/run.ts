/**
 * The durable queue workload against RabbitMQ (quorum queue), NATS JetStream
 * (file storage) and Aviso (MySQL, SQLite), one broker after another, each
 * started by this script on its own ports and data dir and stopped by PID
 * before the next starts. Same load generator and message shape for all
 * (bench/peers/workload.ts); prints one RESULT line per broker and run, then
 * a side-by-side table (medians over runs when --runs > 1).
 *
 *   npm run bench:peers -- [--brokers rabbitmq,nats,aviso-mysql,aviso-sqlite] [--seconds 20] [--runs 3]
 */
import { parseArgs } from "node:util";
import { numberArg, optionalString, stringFlags } from "../lib/args.ts";
import { runBench, runCleanups } from "../lib/cleanup.ts";
import { loadAverage } from "../lib/proc.ts";
import { note, printResult } from "../lib/report.ts";
import { startAviso } from "./aviso.ts";
import { startNats } from "./nats.ts";
import { startRabbitmq } from "./rabbitmq.ts";
import { runWorkload, type Target, type WorkloadResult, type WorkloadSettings } from "./workload.ts";

const HELP = `peers: the durable queue workload against RabbitMQ, NATS JetStream and Aviso, one after another
  --brokers LIST           any of rabbitmq,nats,aviso-mysql,aviso-sqlite (default all, in that order)
  --runs N                 full rounds over the brokers (default 1), each starting one broker later;
                           medians are printed when N > 1
  --publishers P           (default 4)          --consumers C   (default 4)
  --inflight N             unconfirmed publishes per publisher (default 64)
  --prefetch N             per consumer (default 256)
  --ack-batch N            ack after N deliveries (default 32) --ack-every-ms MS  or after MS (default 5)
  --payload-bytes N        message size (default 1024)
  --warmup S --seconds S   warm-up and measured window per broker (default 5 / 20)
  --out FILE               append each result JSON line to FILE
  --label TEXT             a name for this run in the results
Env PEERS_SECONDS / PEERS_RUNS set the defaults of --seconds / --runs.`;

const { values } = parseArgs({
  options: {
    ...stringFlags([
      "brokers",
      "runs",
      "publishers",
      "consumers",
      "inflight",
      "prefetch",
      "ack-batch",
      "ack-every-ms",
      "payload-bytes",
      "warmup",
      "seconds",
      "out",
      "label",
    ]),
    help: { type: "boolean" },
  },
});

const starters: Record<string, (settings: WorkloadSettings) => Promise<Target>> = {
  rabbitmq: startRabbitmq,
  nats: startNats,
  "aviso-mysql": (settings) => startAviso("mysql", settings),
  "aviso-sqlite": (settings) => startAviso("sqlite", settings),
};

const brokers = (optionalString(values, "brokers") ?? Object.keys(starters).join(",")).split(",");
for (const name of brokers) {
  if (!(name in starters))
    throw new Error(`--brokers: unknown ${name}; use ${Object.keys(starters).join(",")}`);
}
const runs = numberArg(values, "runs", Number(process.env.PEERS_RUNS ?? 1));
const settings: WorkloadSettings = {
  publishers: numberArg(values, "publishers", 4),
  consumers: numberArg(values, "consumers", 4),
  inflight: numberArg(values, "inflight", 64),
  prefetch: numberArg(values, "prefetch", 256),
  ackBatch: numberArg(values, "ack-batch", 32),
  ackEveryMs: numberArg(values, "ack-every-ms", 5),
  payloadBytes: numberArg(values, "payload-bytes", 1024),
  warmupS: numberArg(values, "warmup", 5),
  seconds: numberArg(values, "seconds", Number(process.env.PEERS_SECONDS ?? 20)),
};

const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const ms = (r: WorkloadResult[], of: (x: WorkloadResult) => number) => median(r.map(of)).toFixed(1);

const COLUMNS: Array<[string, (r: WorkloadResult[]) => string]> = [
  ["msgs/s", (r) => Math.round(median(r.map((x) => x.ackedPerSec))).toLocaleString("en-US")],
  ["confirm p50 / p99 ms", (r) => `${ms(r, (x) => x.confirmP50Ms)} / ${ms(r, (x) => x.confirmP99Ms)}`],
  ["e2e p50 / p99 ms", (r) => `${ms(r, (x) => x.e2eP50Ms)} / ${ms(r, (x) => x.e2eP99Ms)}`],
  ["broker CPU µs/msg", (r) => median(r.map((x) => x.brokerCpuUsPerMsg)).toFixed(1)],
  [
    "of which DB",
    (r) =>
      r[0]?.databaseCpuUsPerMsg == null ? "—" : median(r.map((x) => x.databaseCpuUsPerMsg ?? 0)).toFixed(1),
  ],
  [
    "msgs / broker CPU-s",
    (r) => Math.round(median(r.map((x) => x.msgsPerBrokerCpuSec))).toLocaleString("en-US"),
  ],
  ["others' CPU %", (r) => Math.round(median(r.map((x) => x.othersCpuPct))).toString()],
  ["lost (of confirmed)", (r) => r.map((x) => `${x.lost} of ${x.confirmedTotal}`).join(", ")],
];

function printTable(results: WorkloadResult[]): void {
  const names = [...new Set(results.map((r) => r.broker))];
  const lines = [
    `| broker | ${COLUMNS.map(([title]) => title).join(" | ")} |`,
    `|---|${COLUMNS.map(() => "---:").join("|")}|`,
    ...names.map((name) => {
      const mine = results.filter((r) => r.broker === name);
      return `| ${name} | ${COLUMNS.map(([, cell]) => cell(mine)).join(" | ")} |`;
    }),
  ];
  process.stdout.write(`\n${runs > 1 ? `medians over ${runs} runs` : "one run"}:\n${lines.join("\n")}\n`);
}

async function run(): Promise<void> {
  const results: WorkloadResult[] = [];
  for (let round = 1; round <= runs; round++) {
    // Each round starts one broker later, so none always runs first (or last) on a shared machine.
    const order = brokers.map((_, i) => brokers[(i + round - 1) % brokers.length] as string);
    for (const name of order) {
      const loadBefore = loadAverage();
      note(`run ${round}/${runs}: ${name} (load average ${loadBefore.join(" ")})`);
      try {
        const target = await (starters[name] as (s: WorkloadSettings) => Promise<Target>)(settings);
        const result = await runWorkload(target, settings, loadBefore);
        results.push(result);
        printResult(
          { bench: "peers", label: optionalString(values, "label") ?? "", run: round, ...result },
          [
            ["broker", result.broker],
            ["msgs/s acked", result.ackedPerSec],
            ["confirm p50 / p99 ms", `${result.confirmP50Ms} / ${result.confirmP99Ms}`],
            ["e2e p50 / p99 ms", `${result.e2eP50Ms} / ${result.e2eP99Ms}`],
            ["broker CPU µs/msg", result.brokerCpuUsPerMsg],
            ["lost / queue emptied", `${result.lost} / ${result.queueEmptied}`],
          ],
          optionalString(values, "out"),
        );
      } finally {
        // Each broker is stopped before the next one starts: it runs alone.
        await runCleanups();
      }
    }
  }
  printTable(results);
}

// A throw from a client library's callback must not end the run before the brokers are stopped.
let failing = false;
process.on("uncaughtException", (error) => {
  process.stderr.write(`peers: uncaught ${error.stack ?? String(error)}\n`);
  if (failing) return;
  failing = true;
  void runCleanups().finally(() => process.exit(1));
});
runBench("peers", HELP, values.help === true, run);
