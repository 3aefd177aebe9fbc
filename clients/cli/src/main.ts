import { CommanderError } from "commander";
import { configPath } from "./config-store.ts";
import { ExitCode, exitCodeOf, UsageError } from "./exit-codes.ts";
import { runMenu } from "./interactive/menu.ts";
import { Output } from "./output.ts";
import { buildProgram, type GlobalOptions } from "./program.ts";
import type { CliSession } from "./session.ts";

/** Runs one `aviso …` invocation and answers its exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const menu = menuRequest(argv);
  if (typeof menu === "number") return menu;
  if (menu !== null) {
    return runMenu({
      configPath: menu.config ?? configPath(),
      servers: menu.server,
      input: process.stdin,
      output: process.stdout,
    });
  }
  let session: CliSession | null = null;
  const program = buildProgram((created) => {
    session = created;
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "fail" with exit code 0; parse errors are already printed by commander.
      return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    const output = (session as CliSession | null)?.output ?? new Output(argv.includes("--json"));
    output.error(error);
    return error instanceof UsageError ? ExitCode.Usage : exitCodeOf(error);
  } finally {
    await (session as CliSession | null)?.close();
  }
}

/**
 * Global options and no command (`aviso`, `aviso -s URL`, `aviso --config f`) open the
 * interactive menu with those options; anything else is a command line for commander.
 * A number is an exit code: the options were already answered (`--version`) or wrong.
 */
function menuRequest(argv: readonly string[]): GlobalOptions | number | null {
  const probe = buildProgram(() => {});
  try {
    const { operands, unknown } = probe.parseOptions([...argv]);
    return operands.length === 0 && unknown.length === 0 ? probe.opts<GlobalOptions>() : null;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    throw error;
  }
}

const code = await main(process.argv.slice(2));
// Exit explicitly: an interrupted subscription may leave sockets that would keep the process alive.
process.exit(code);
