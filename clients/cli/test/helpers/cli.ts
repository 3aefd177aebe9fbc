import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildCli } from "../../scripts/build.ts";
import { saveConfig } from "../../src/config-store.ts";

const bin = fileURLToPath(new URL("../../bin/aviso.js", import.meta.url));
let built: Promise<void> | null = null;

/** Builds dist/aviso.js once per test worker (atomic writes: workers may race). */
export function ensureCliBuilt(): Promise<void> {
  built ??= buildCli();
  return built;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A config file of its own for one simulated user of the CLI. */
export async function cliHome(
  servers: string[],
  login: { username: string; token: string } | null = null,
): Promise<{ configPath: string; cleanUp(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "aviso-cli-"));
  const configPath = join(dir, "aviso", "config.json");
  await saveConfig(configPath, { servers, ...login });
  return { configPath, cleanUp: () => rm(dir, { recursive: true, force: true }) };
}

/** A running `aviso` process whose output a test can wait on. */
export class CliProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<CliResult>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (chunk: Buffer) => {
      this.stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) =>
      child.on("close", (code) => resolve({ code, stdout: this.stdout, stderr: this.stderr })),
    );
  }

  /** Resolves when stdout (or stderr) matches, counting from `since` characters; fails at the deadline. */
  async waitFor(
    pattern: RegExp,
    options: { since?: number; stream?: "stdout" | "stderr"; timeoutMs?: number } = {},
  ) {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    const read = () => (options.stream === "stderr" ? this.stderr : this.stdout).slice(options.since ?? 0);
    while (!pattern.test(read())) {
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no ${pattern} in output:\n${read()}\n--- stderr:\n${this.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  }

  write(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }
}

export function startCli(
  args: readonly string[],
  configPath: string,
  env: Record<string, string> = {},
): CliProcess {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, AVISO_CLI_CONFIG: configPath, NO_COLOR: "1", FORCE_COLOR: "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  return new CliProcess(child);
}

/** Runs `aviso …args` to completion; stdin gets `input` (then closes). */
export async function runCli(
  args: readonly string[],
  configPath: string,
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const running = startCli(args, configPath, options.env);
  running.child.stdin?.end(options.input ?? "");
  return running.exited;
}

/** Runs a command that must succeed with --json and answers its parsed stdout. */
export async function runJson<T = Record<string, unknown>>(
  args: readonly string[],
  configPath: string,
): Promise<T> {
  const result = await runCli(["--json", ...args], configPath);
  if (result.code !== 0) throw new Error(`aviso ${args.join(" ")} exited ${result.code}:\n${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
