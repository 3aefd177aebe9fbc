import { type AvisoClient, eachItem, type ListPage, type PageOptions } from "@aviso/client";
import type { Command } from "commander";
import type { Column, Output } from "../output.ts";
import { parseInteger } from "../payload.ts";

export interface PageFlags {
  limit?: number;
  after?: string;
}

/** `--limit` and `--after` on a list command: without them it prints every page. */
export function pageFlags(command: Command): Command {
  return command
    .option(
      "--limit <n>",
      "print one page of at most n (the server's maximum by default)",
      parseInteger("--limit"),
    )
    .option("--after <cursor>", "print the page after this cursor (from the previous page's hint)");
}

/** What a list command prints: the answer's field, the command (for the hint), the table and the page source. */
export interface Listing<T> {
  field: string;
  command: string;
  columns: ReadonlyArray<Column<T>>;
  empty: string;
  page: (page: PageOptions) => Promise<ListPage<T>>;
}

/**
 * Prints a listing: every page in one table by default; with --limit or
 * --after one page, and how to ask for the next one (with --json, the page
 * as the server answered it: `{<field>: [...], next}`).
 */
export async function printListing<T>(output: Output, flags: PageFlags, listing: Listing<T>): Promise<void> {
  if (flags.limit === undefined && flags.after === undefined) {
    const rows: T[] = [];
    for await (const row of eachItem(listing.page)) rows.push(row);
    output.table(rows, listing.columns, listing.empty);
    return;
  }
  const page = await listing.page(flags);
  if (output.json) {
    output.line(JSON.stringify({ [listing.field]: page.items, next: page.next }));
    return;
  }
  output.table(page.items, listing.columns, listing.empty);
  const limit = flags.limit === undefined ? "" : ` --limit ${flags.limit}`;
  if (page.next !== null) output.note(`More: ${listing.command}${limit} --after ${page.next}`);
}

/** The queue or topic listing of `aviso <kind> list` and the interactive menu. */
export function resourceListing<T>(
  client: AvisoClient,
  kind: "queues" | "topics",
  columns: ReadonlyArray<Column<T>>,
  empty: string,
): Listing<T> {
  return {
    field: kind,
    command: `aviso ${kind.slice(0, -1)} list`,
    columns,
    empty,
    // The columns given match the kind's view (queueColumns with queues, topicColumns with topics).
    page: (page) => client[kind].list(page) as Promise<ListPage<unknown>> as Promise<ListPage<T>>,
  };
}
