/**
 * Results: one JSON line (`RESULT {…}`, for scripts and for appending to a
 * file with --out) followed by a table a person can read.
 */
import { appendFileSync } from "node:fs";

export type ResultValue = number | string | boolean | null;
export type ResultRecord = Record<string, ResultValue>;

/** A row of the readable table: what, value, unit. */
export type TableRow = [label: string, value: ResultValue, unit?: string];

function show(value: ResultValue): string {
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Rounds every number to at most 3 decimals so the JSON line stays readable. */
function tidy(record: ResultRecord): ResultRecord {
  const out: ResultRecord = {};
  for (const [key, value] of Object.entries(record)) {
    out[key] = typeof value === "number" && Number.isFinite(value) ? Math.round(value * 1000) / 1000 : value;
  }
  return out;
}

export function printResult(record: ResultRecord, rows: readonly TableRow[], outFile?: string): void {
  const line = JSON.stringify(tidy(record));
  process.stdout.write(`RESULT ${line}\n`);
  if (outFile !== undefined) appendFileSync(outFile, `${line}\n`);
  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const values = rows.map(([, value]) => show(value));
  const valueWidth = Math.max(...values.map((value) => value.length));
  const lines = rows.map(
    ([label, , unit], i) =>
      `  ${label.padEnd(labelWidth)}  ${(values[i] as string).padStart(valueWidth)}  ${unit ?? ""}`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** Progress lines go to stderr so stdout holds only results. */
export function note(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
}

/** p50 (lower median), max and min of a few samples (failover runs and the like). */
export function spread(values: readonly number[]): {
  p50Ms: number;
  maxMs: number;
  minMs: number;
  runs: number;
} {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50Ms: sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN,
    maxMs: sorted.at(-1) ?? Number.NaN,
    minMs: sorted[0] ?? Number.NaN,
    runs: sorted.length,
  };
}
