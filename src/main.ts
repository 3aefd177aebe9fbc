import { ConfigError } from "./config/config-error.ts";
import { helpText } from "./config/help.ts";
import { loadConfig } from "./config/load-config.ts";
import { logEvents } from "./log/events.ts";
import { createLogger } from "./log/logger.ts";
import { startupLine } from "./node/startup-line.ts";
import { startNode, VERSION } from "./node.ts";

/** Process entry: config → logger → node; SIGTERM/SIGINT → graceful close → exit 0. */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(helpText());
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
  // For a person, before the JSON log lines on the same stream (silent means silent).
  if (config.logLevel !== "silent") process.stdout.write(`${startupLine(config, VERSION)}\n`);
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

void main();
