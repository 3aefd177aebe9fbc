import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** A process the launcher started (or found left over), known by pid. */
export interface LaunchedProcess {
  /** "zookeeper", "mariadb", "node-1", … */
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
}

const pollIntervalMs = 50;

/**
 * True while `pid` runs and is not a zombie; with `marker`, only if its
 * command line also contains it (so a recycled pid is never mistaken for ours).
 */
export function isAlive(pid: number, marker?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state letter follows the parenthesised command name.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
    if (marker === undefined) return true;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
  } catch {
    return false;
  }
}

/** Resolves true once `pid` is gone, false if it still runs at the deadline. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(pollIntervalMs);
  }
  return true;
}

/**
 * Sends `signal` (SIGCONT first, since a stopped process ignores SIGTERM),
 * waits up to `graceMs`, then SIGKILLs. Resolves true when it went on its own.
 */
export async function stopPid(
  pid: number,
  graceMs: number,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<boolean> {
  if (!isAlive(pid)) return true;
  signalPid(pid, "SIGCONT");
  signalPid(pid, signal);
  if (await waitGone(pid, graceMs)) return true;
  signalPid(pid, "SIGKILL");
  await waitGone(pid, 5_000);
  return false;
}

export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Spawns a long-running child in its own process group (so a Ctrl-C in the
 * terminal reaches only the launcher, which then stops things in order),
 * with stdout and stderr appended to `logFile`.
 */
export function spawnLogged(
  command: string,
  args: readonly string[],
  options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
): ChildProcess {
  const fd = openSync(options.logFile, "a");
  try {
    // Logs are kept across runs: mark where this one starts.
    writeSync(fd, `--- ${new Date().toISOString()} npm run cluster started ${command} ---\n`);
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    return child;
  } finally {
    closeSync(fd);
  }
}

/** The last `lines` lines of a log file, for error messages. */
export function logTail(path: string, lines = 20): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log yet)";
  }
}
