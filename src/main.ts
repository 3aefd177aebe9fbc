import { ConfigError } from "./config/config-error.ts";
import { loadConfig } from "./config/load-config.ts";
import { configKeys } from "./config/schema.ts";
import { logEvents } from "./log/events.ts";
import { createLogger } from "./log/logger.ts";
import { startNode } from "./node.ts";

/** Process entry: config → logger → node; SIGTERM/SIGINT → graceful close → exit 0. */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    printHelp();
    return;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ argv, env: process.env });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config);
  let node: Awaited<ReturnType<typeof startNode>>;
  try {
    node = await startNode(config, log);
  } catch (err) {
    logEvents.fatalError(log, { err });
    // The log line is for machines (and may be silenced); a person reads this one, which
    // says what to do for the refusals we expect (port in use, data directory held).
    process.stderr.write(`aviso: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logEvents.shuttingDown(log, { signal });
    node.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logEvents.fatalError(log, { err });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

function printHelp(): void {
  const lines = [
    "Usage: aviso [--flag value …]",
    "",
    "Every setting is also an AVISO_* environment variable:",
    "",
  ];
  for (const info of configKeys) {
    lines.push(`  ${info.flag.padEnd(30)} ${info.env.padEnd(34)} ${info.description}`);
  }
  lines.push(
    "",
    "  --config <file.json>           AVISO_CONFIG                       JSON file with any of the keys above.",
  );
  process.stdout.write(`${lines.join("\n")}\n`);
}

void main();
