import type { Command } from "commander";
import type { Column } from "../output.ts";
import type { CliSession } from "../session.ts";
import { type PageFlags, pageFlags, printListing, resourceListing } from "./list-pages.ts";

/** What `aviso queue` and `aviso topic` say differently about the commands they share. */
export interface ResourceCommandSpec<View> {
  kind: "queue" | "topic";
  description: string;
  columns: ReadonlyArray<Column<View>>;
  /** Adds the kind's settings and action to `create <name> [--private]`. */
  create(command: Command): void;
}

/**
 * `aviso <kind>` with the commands queues and topics share — list, create
 * and delete, in that order; the caller adds the rest to the group returned.
 */
export function addResourceCommands<View>(
  program: Command,
  session: () => CliSession,
  spec: ResourceCommandSpec<View>,
): Command {
  const { kind } = spec;
  const plural = `${kind}s` as const;
  const group = program.command(kind).description(spec.description);

  pageFlags(group.command("list").description(`${plural} you may use, by name`)).action(
    async (flags: PageFlags) => {
      const current = session();
      const client = await current.client();
      const empty = `No ${plural} yet: aviso ${kind} create <name>`;
      await printListing(current.output, flags, resourceListing(client, plural, spec.columns, empty));
    },
  );

  spec.create(
    group
      .command("create")
      .description(`create a ${kind} you own`)
      .argument("<name>")
      .option("--private", "only you and users you grant may use it"),
  );

  group
    .command("delete")
    .description(`delete a ${kind} you created`)
    .argument("<name>")
    .action(async (name: string) => {
      const current = session();
      await (await current.client())[plural].delete(name);
      current.output.result({ deleted: name }, `Deleted ${kind} ${name}.`);
    });

  return group;
}
