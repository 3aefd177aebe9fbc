/**
 * Cleanups that run however a run ends: normally (call runCleanups in a
 * finally), on an exception, or on Ctrl-C / SIGTERM. Newest first, each once,
 * each bounded in time so one stuck step cannot keep the rest from running.
 */
import { withTimeout } from "./bounded.ts";

const cleanups: Array<{ what: string; run: () => Promise<void> }> = [];
const CLEANUP_TIMEOUT_MS = 30_000;

export function onCleanup(what: string, run: () => Promise<void>): void {
  cleanups.push({ what, run });
}

export async function runCleanups(): Promise<void> {
  for (let step = cleanups.pop(); step !== undefined; step = cleanups.pop()) {
    try {
      await withTimeout(`cleanup "${step.what}"`, step.run(), CLEANUP_TIMEOUT_MS);
    } catch (error) {
      process.stderr.write(`cleanup "${step.what}" failed: ${String(error)}\n`);
    }
  }
}

let installed = false;

/** On SIGINT/SIGTERM: clean up (stops the node and MariaDB we started), then exit 130. */
export function cleanUpOnSignals(): void {
  if (installed) return;
  installed = true;
  const stop = () => {
    void runCleanups().finally(() => process.exit(130));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

/** A bench's entry point: print help, or run with cleanups on signals and exit 0, or 1 with the error. */
export function runBench(name: string, help: string, wantHelp: boolean, run: () => Promise<void>): void {
  if (wantHelp) {
    process.stdout.write(`${help}\n`);
    return;
  }
  cleanUpOnSignals();
  run().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(
        `${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
