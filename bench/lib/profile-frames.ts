/**
 * What bench/profile-top.ts (CPU) and bench/alloc-top.ts (allocations) share:
 * reading one profile file named on the command line, and naming the file
 * or package a V8 call frame belongs to.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** The repository's root as a file: URL; frames under it are shown relative to it. */
export const repo = new URL("../..", import.meta.url).href;

/** The frame's URL relative to the repository when it is inside it. */
export function relativeUrl(frame: CallFrame): string {
  return frame.url.startsWith(repo) ? frame.url.slice(repo.length) : frame.url;
}

/** A file or package bucket for the by-file table. */
export function bucketOf(frame: CallFrame): string {
  const url = relativeUrl(frame);
  if (url === "") return frame.functionName.startsWith("(") ? frame.functionName : "(native / V8 builtins)";
  const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (packaged) return `pkg ${packaged[1]}`;
  if (url.startsWith("node:")) return "node: internals";
  return url;
}

/** Parses the arguments, reads the profile file they name (or prints `usage` and exits 2). */
export function readProfile<T>(
  usage: string,
  options: Record<string, { type: "string" }>,
): { profile: T; file: string; values: Record<string, string | undefined> } {
  const { values, positionals } = parseArgs({ allowPositionals: true, options });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  // Piped into head: stop quietly when the reader goes away.
  process.stdout.on("error", () => process.exit(0));
  return {
    profile: JSON.parse(readFileSync(file, "utf8")) as T,
    file,
    values: values as Record<string, string | undefined>,
  };
}
