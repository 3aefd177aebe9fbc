import { CommanderError } from "commander";
import { configPath } from "./config-store.ts";
import { ExitCode, exitCodeOf, UsageError } from "./exit-codes.ts";
import { runMenu } from "./interactive/menu.ts";
import { Output } from "./output.ts";
import { buildProgram } from "./program.ts";
import type { CliSession } from "./session.ts";

/** Runs one `aviso …` invocation and answers its exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0) {
    return runMenu({ configPath: configPath(), input: process.stdin, output: process.stdout });
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

const code = await main(process.argv.slice(2));
// Exit explicitly: an interrupted subscription may leave sockets that would keep the process alive.
process.exit(code);
