import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { clientEnvNames } from "../../src/config/client-env.ts";
import { type ConfigKeyInfo, configKeys } from "../../src/config/schema.ts";

const doc = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");

const byKey = new Map<string, ConfigKeyInfo>(configKeys.map((info) => [info.key, info]));
const byEnv = new Map<string, ConfigKeyInfo>(configKeys.map((info) => [info.env, info]));

interface Table {
  header: string[];
  rows: string[][];
}

/** Every Markdown table of the page, cells trimmed (`\|` inside a cell is not a separator). */
function tables(): Table[] {
  const found: Table[] = [];
  let current: Table | null = null;
  for (const line of doc.split("\n")) {
    if (!line.startsWith("|")) {
      current = null;
      continue;
    }
    const cells = line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim());
    if (current === null) {
      current = { header: cells, rows: [] };
      found.push(current);
    } else if (!cells.every((cell) => /^-+$/.test(cell))) current.rows.push(cells);
  }
  return found;
}

/** Tables whose first column names settings: `setting` (by key) or `variable` (by AVISO_* name). */
const settingTables = tables().filter((table) => ["setting", "variable"].includes(table.header[0] ?? ""));

/** The names in a first cell: `a` / `b`, or `A`, `B`. */
const namesIn = (cell: string): string[] =>
  [...cell.matchAll(/`([A-Za-z_]+)`/g)].map((match) => match[1] as string);

const units: Record<string, number> = {
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  day: 86_400_000,
};

/**
 * A default as the page writes it, in the setting's own terms. The rule: `—`
 * is no default; a code span is the value itself (`""` the empty string,
 * `true`/`false` booleans); a number may carry thousands separators, a size
 * unit (KiB, MiB, GiB) or a duration unit (ms, s, min, h, day) converted to
 * the unit the key ends in (…Ms or …Sec), and a trailing `/s` (a rate); a
 * parenthesis after the value (a range, a note) is not part of it.
 */
function parseDefault(text: string, info: ConfigKeyInfo): string | number | boolean | undefined {
  const value = text.replace(/\s*\(.*\)$/, "").trim();
  if (value === "—") return undefined;
  const code = /^`(.*)`$/.exec(value);
  if (code !== null) {
    const literal = code[1] as string;
    if (literal === '""') return "";
    if (info.kind === "boolean") return literal === "true" ? true : literal === "false" ? false : literal;
    return info.kind === "string" ? literal : Number(literal);
  }
  const number = /^(\d[\d,]*)(?: (KiB|MiB|GiB|ms|s|min|h|day))?(\/s)?$/.exec(value);
  if (number === null) throw new Error(`${info.key}: cannot read the default "${text}"`);
  const amount = Number((number[1] as string).replaceAll(",", ""));
  const unit = number[2];
  if (unit === undefined) return amount;
  const scaled = amount * (units[unit] as number);
  if (unit.endsWith("B")) return scaled;
  if (info.key.endsWith("Ms")) return scaled;
  if (info.key.endsWith("Sec")) return scaled / 1000;
  throw new Error(`${info.key}: a duration default for a setting without a unit in its name`);
}

/** Each documented (setting, default) pair: `a` / `b` in the first cell pairs with `x / y` in the default column. */
function documentedDefaults(): { key: string; text: string }[] {
  const pairs: { key: string; text: string }[] = [];
  for (const table of settingTables) {
    const column = table.header.indexOf("default");
    if (column < 0) continue;
    for (const row of table.rows) {
      const keys = namesIn(row[0] as string);
      const texts = keys.length === 1 ? [row[column] as string] : (row[column] as string).split(" / ");
      expect(texts, `defaults of ${row[0]}`).toHaveLength(keys.length);
      keys.forEach((key, i) => {
        pairs.push({ key: byEnv.get(key)?.key ?? key, text: texts[i] as string });
      });
    }
  }
  return pairs;
}

describe("docs/operations.md", () => {
  it("names only settings that exist (and the client variables the node ignores)", () => {
    const unknown: string[] = [];
    for (const table of settingTables)
      for (const row of table.rows)
        for (const name of namesIn(row[0] as string)) {
          const known =
            table.header[0] === "setting" ? byKey.has(name) : byEnv.has(name) || name in clientEnvNames;
          if (!known) unknown.push(name);
        }
    expect(unknown).toEqual([]);
  });

  it("documents every setting with its variable and default", () => {
    const reference = settingTables.find(
      (table) => table.header.join("|") === "setting|variable|default|meaning",
    );
    expect(reference, "the Settings table").toBeDefined();
    const rows = (reference as Table).rows.map(([key, variable, defaultText]) => {
      const info = byKey.get(namesIn(key as string)[0] ?? "");
      return info === undefined
        ? { key, variable }
        : {
            key: info.key,
            variable: namesIn(variable as string)[0],
            default: parseDefault(defaultText as string, info),
          };
    });
    expect(rows).toEqual(
      configKeys.map((info) => ({ key: info.key, variable: info.env, default: info.default })),
    );
  });

  it("gives every setting's schema default wherever a table has a default column", () => {
    // Unknown names are the first test's finding.
    const wrong = documentedDefaults()
      .flatMap(({ key, text }) => {
        const info = byKey.get(key);
        return info === undefined
          ? []
          : [{ key, documented: parseDefault(text, info), schema: info.default }];
      })
      .filter(({ documented, schema }) => documented !== schema);
    expect(wrong).toEqual([]);
  });

  it("reads defaults by one rule", () => {
    const info = (key: string) => byKey.get(key) as ConfigKeyInfo;
    expect(parseDefault("10,000/s", info("publishRatePerUser"))).toBe(10_000);
    expect(parseDefault("1 MiB", info("maxPayloadBytes"))).toBe(1_048_576);
    expect(parseDefault("5 min", info("idempotencyWindowMs"))).toBe(300_000);
    expect(parseDefault("120 s", info("wsIdleTimeoutSec"))).toBe(120);
    expect(parseDefault("100 (1–1000)", info("maxListItems"))).toBe(100);
    expect(parseDefault("`false`", info("production"))).toBe(false);
    expect(parseDefault('`""`', info("corsOrigin"))).toBe("");
    expect(parseDefault("—", info("zk"))).toBeUndefined();
    expect(() => parseDefault("5 s", info("maxConnections"))).toThrow(/without a unit/);
  });
});
