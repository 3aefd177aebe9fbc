import type { ClusterMember } from "@aviso/client";
import { Command } from "commander";
import { addAuthCommands } from "./commands/auth-commands.ts";
import { addQueueCommands } from "./commands/queue-commands.ts";
import { addTopicCommands } from "./commands/topic-commands.ts";
import { configPath } from "./config-store.ts";
import { Output } from "./output.ts";
import { collect } from "./payload.ts";
import { CliSession } from "./session.ts";

export const VERSION = "0.1.0";

export interface GlobalOptions {
  json?: boolean;
  server?: string[];
  config?: string;
}

/**
 * The `aviso` command tree. The session is built from the global options
 * when the first subcommand action asks for it (commander parses them first).
 */
export function buildProgram(onSession: (session: CliSession) => void): Command {
  const program = new Command("aviso");
  let session: CliSession | null = null;
  const current = (): CliSession => {
    if (session === null) {
      const options = program.opts<GlobalOptions>();
      session = new CliSession(
        options.config ?? configPath(),
        new Output(options.json === true),
        options.server,
      );
      onSession(session);
    }
    return session;
  };

  program
    .description("Aviso from the command line. Without a command: an interactive menu.")
    .version(VERSION)
    .option("--json", "print JSON (one document, or one line per message when streaming)")
    .option(
      "-s, --server <url>",
      "node URL, repeatable or comma-separated (default: saved by login)",
      collect,
    )
    .option("--config <path>", "config file (default: $AVISO_CLI_CONFIG or ~/.config/aviso/config.json)")
    .showHelpAfterError("(aviso --help lists the commands)")
    .exitOverride();

  addAuthCommands(program, current);
  addQueueCommands(program, current);
  addTopicCommands(program, current);

  program
    .command("cluster")
    .description("the nodes of the cluster and what the answering node owns")
    .action(async () => {
      const session = current();
      const cluster = await (await session.client()).cluster();
      if (session.output.json) {
        session.output.line(JSON.stringify(cluster));
        return;
      }
      session.output.line(
        `Mode: ${cluster.mode}; answering node: ${cluster.self.id} (${cluster.self.httpUrl})`,
      );
      session.output.table<ClusterMember>(
        cluster.members,
        [
          { header: "node", value: (member) => member.id },
          { header: "http", value: (member) => member.httpUrl },
          { header: "peer", value: (member) => member.peerUrl },
        ],
        "No members.",
      );
      // Only operators are told what a node owns.
      if (cluster.owned !== undefined) {
        session.output.line(
          `Owned here: ${cluster.owned.queues.length} queues, ${cluster.owned.topics.length} topics.`,
        );
      }
    });

  for (const command of program.commands) command.exitOverride();
  return program;
}
