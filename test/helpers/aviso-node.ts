import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DestinationStream } from "pino";
import { afterEach } from "vitest";
import { loadConfig } from "../../src/config/load-config.ts";
import { createLogger } from "../../src/log/logger.ts";
import { type RunningNode, startNode } from "../../src/node.ts";

/** Env every test node gets: any free port, fast bcrypt, quiet logs. */
function baseEnv(dataDir: string, store: string): Record<string, string> {
  return {
    AVISO_PORT: "0",
    AVISO_DATA_DIR: dataDir,
    AVISO_STORE: store,
    AVISO_BCRYPT_COST: "4",
    AVISO_LOG_LEVEL: "silent",
    // Tests register many users from one loopback address.
    AVISO_REGISTRATIONS_PER_ADDRESS_PER_HOUR: "100000",
  };
}

export interface TestNode {
  readonly url: string;
  readonly wsUrl: string;
  readonly dataDir: string;
  close(): Promise<void>;
}

/**
 * Starts a node in this process (port 0, temp data dir). `store` defaults to
 * SQLite in the data dir; `logTo` receives its log lines (set AVISO_LOG_LEVEL in `env`).
 */
export async function startTestNode(
  options: { store?: string; env?: Record<string, string>; logTo?: DestinationStream } = {},
): Promise<TestNode> {
  const dataDir = await mkdtemp(join(tmpdir(), "aviso-node-"));
  const env = { ...baseEnv(dataDir, options.store ?? "sqlite:"), ...options.env };
  const config = loadConfig({ argv: [], env });
  const node: RunningNode = await startNode(config, createLogger(config, options.logTo));
  return {
    url: node.httpUrl,
    wsUrl: `${node.httpUrl.replace(/^http/, "ws")}/v1/ws`,
    dataDir,
    async close() {
      await node.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ChildNode {
  readonly url: string;
  readonly wsUrl: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Everything the process wrote, for assertions and for debugging a failure. */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a node as a child process, for crash and shutdown tests: by default
 * the entry from source (src/main.ts through tsx, so tests need no build);
 * `entry: "npm start"` runs the documented command (build if stale, then the
 * compiled dist/main.js). Resolves once it logs that it listens.
 */
export async function spawnNode(options: SpawnOptions & { startTimeoutMs?: number }): Promise<ChildNode> {
  const child = spawnMain(options);
  let output = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`node did not start in time:\n${output}`)),
      options.startTimeoutMs ?? 30_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"event":"nodeListening","url":"([^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  return {
    url,
    wsUrl: `${url.replace(/^http/, "ws")}/v1/ws`,
    pid: child.pid as number,
    process: child,
    output: () => output,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) {
        // npm runs the node as its child: signal the whole process group it leads.
        if (options.entry === "npm start") process.kill(-(child.pid as number), signal);
        else child.kill(signal);
      }
      return exited;
    },
  };
}

interface SpawnOptions {
  dataDir: string;
  store?: string;
  env?: Record<string, string>;
  entry?: "source" | "npm start";
  /** Command-line flags after the entry (`npm start -- …args`), as a user would pass them. */
  args?: readonly string[];
}

/** A node as a child process with the test env (see spawnNode for `entry`). */
function spawnMain(options: SpawnOptions): ChildProcess {
  const env = {
    ...process.env,
    ...baseEnv(options.dataDir, options.store ?? "sqlite:"),
    AVISO_LOG_LEVEL: "info",
    ...options.env,
  };
  const flags = options.args ?? [];
  const [command, args] =
    options.entry === "npm start"
      ? ["npm", ["start", ...(flags.length > 0 ? ["--", ...flags] : [])]]
      : [process.execPath, ["--import", "tsx", "src/main.ts", ...flags]];
  return spawn(command, args, {
    cwd: new URL("../..", import.meta.url).pathname,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.entry === "npm start",
  });
}

/**
 * Starts a node that is expected to refuse to start, and resolves with how it
 * exited and what it wrote. A node that is still running after `timeoutMs`
 * (it started after all) is killed and reported with signal SIGKILL.
 */
export async function runRefusedNode(
  options: SpawnOptions & { timeoutMs?: number },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawnMain(options);
  const written = { stdout: "", stderr: "" };
  for (const stream of ["stdout", "stderr"] as const)
    child[stream]?.on("data", (chunk: Buffer) => {
      written[stream] += chunk.toString();
    });
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve) => child.on("close", (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal })),
  );
  clearTimeout(timer);
  return { code, signal, ...written };
}

/**
 * For a test file that spawns nodes: temp data dirs and child nodes made
 * through it are killed and removed after each test.
 */
export function childNodesPerTest(): {
  tempDir(): Promise<string>;
  spawn(options: Parameters<typeof spawnNode>[0]): Promise<ChildNode>;
} {
  const running: ChildNode[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((child) => child.kill("SIGKILL")));
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return {
    async tempDir() {
      const dir = await mkdtemp(join(tmpdir(), "aviso-node-"));
      dirs.push(dir);
      return dir;
    },
    async spawn(options) {
      const child = await spawnNode(options);
      running.push(child);
      return child;
    },
  };
}
