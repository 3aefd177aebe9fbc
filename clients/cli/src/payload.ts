import { InvalidArgumentError } from "commander";
import { UsageError } from "./exit-codes.ts";

/** A command-line payload: JSON when it parses (`{"a":1}`, `42`, `true`), else the text itself. */
export function parsePayload(text: string, forceString: boolean): unknown {
  if (forceString) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `-H key=value` options into a headers object. */
export function parseHeaders(pairs: readonly string[] = []): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    if (equals <= 0) throw new UsageError(`Header "${pair}" is not key=value.`);
    headers[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return headers;
}

/** A whole number option (commander passes strings). */
export function parseInteger(name: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0) {
      throw new InvalidArgumentError(`${name} must be a whole number, got "${value}".`);
    }
    return number;
  };
}

/** `latest`, `earliest` or an offset. */
export function parseFrom(value: string): "latest" | "earliest" | number {
  if (value === "latest" || value === "earliest") return value;
  return parseInteger("--from")(value);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Reads all of stdin (for `publish <name> -`). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\n$/, "");
}
