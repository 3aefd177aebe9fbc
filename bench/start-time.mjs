// Start time of a node: wall clock from spawning a command to the node's
// "node listening" log line, over several runs (each on a fresh data dir and
// port 0), then the median. Plain JavaScript so it measures the command, not tsx.
//
//   node bench/start-time.mjs [--runs 5] -- npm start
//   node bench/start-time.mjs -- node dist/main.js
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
const split = args.indexOf("--");
if (split === -1 || split === args.length - 1) {
  process.stderr.write("usage: node bench/start-time.mjs [--runs N] [--env NAME=VALUE …] -- <command …>\n");
  process.exit(2);
}
const options = args.slice(0, split);
const command = args.slice(split + 1);
let runs = 5;
const extraEnv = {};
for (let i = 0; i < options.length; i += 2) {
  if (options[i] === "--runs") runs = Number(options[i + 1]);
  else if (options[i] === "--env") {
    const [name, ...value] = String(options[i + 1]).split("=");
    extraEnv[name] = value.join("=");
  } else throw new Error(`unknown option ${options[i]}`);
}
const timeoutMs = 120_000;

function once() {
  const dataDir = mkdtempSync(join(tmpdir(), "aviso-start-time-"));
  const started = process.hrtime.bigint();
  // detached: the command (npm) runs the node in a child; kill the whole group afterwards.
  const child = spawn(command[0], command.slice(1), {
    env: { ...process.env, AVISO_PORT: "0", AVISO_DATA_DIR: dataDir, AVISO_LOG_LEVEL: "info", ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  return new Promise((resolve, reject) => {
    let output = "";
    let result;
    const finish = (outcome) => {
      if (result !== undefined) return;
      result = outcome;
      clearTimeout(timer);
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    };
    const timer = setTimeout(
      () => finish({ error: new Error(`no "node listening" in ${timeoutMs} ms:\n${output}`) }),
      timeoutMs,
    );
    const onData = (chunk) => {
      output += chunk;
      if (output.includes('"event":"nodeListening"'))
        finish({ ms: Number(process.hrtime.bigint() - started) / 1e6, cpuMs: nodeCpuMs(output) });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("close", (code) => {
      finish({ error: new Error(`exited ${code} before listening:\n${output}`) });
      rmSync(dataDir, { recursive: true, force: true });
      if (result.error) reject(result.error);
      else resolve(result);
    });
  });
}

/**
 * CPU time (user + system) the node process itself had used when it listened, from /proc: less
 * at the mercy of other load on a shared machine than the wall clock. Excludes npm and the build.
 */
function nodeCpuMs(output) {
  const pid = /"pid":(\d+)/.exec(output)?.[1];
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in 1/100 s ticks
  } catch {
    return Number.NaN;
  }
}

const median = (values) => Math.round([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]);
const results = [];
for (let i = 0; i < runs; i++) results.push(await once());
const wall = results.map((result) => result.ms);
const cpu = results.map((result) => result.cpuMs);
process.stdout.write(
  `${JSON.stringify({
    command: command.join(" "),
    env: extraEnv,
    runs,
    medianMs: median(wall),
    timesMs: wall.map(Math.round),
    medianNodeCpuMs: median(cpu),
    nodeCpuMs: cpu,
  })}\n`,
);
