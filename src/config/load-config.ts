import { readFileSync } from "node:fs";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { clientEnvNames } from "./client-env.ts";
import { ConfigError } from "./config-error.ts";
import { crossFieldProblems } from "./cross-checks.ts";
import { type Config, type ConfigKey, type ConfigKeyInfo, configKeys, configSchema } from "./schema.ts";

export interface LoadConfigInput {
  /** Command-line arguments after the script name (`process.argv.slice(2)`). */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}

/** Env var and flag that name the JSON config file; not config keys themselves. */
const configFileEnv = "AVISO_CONFIG";
const configFileFlag = "--config";

const checker = TypeCompiler.Compile(configSchema);
const byKey = new Map<string, ConfigKeyInfo>(configKeys.map((info) => [info.key, info]));
const byEnv = new Map<string, ConfigKeyInfo>(configKeys.map((info) => [info.env, info]));
const byFlag = new Map<string, ConfigKeyInfo>(configKeys.map((info) => [info.flag, info]));

/** Values whose text must never appear in an error message (the store URL may hold a password). */
const secretKeys: ReadonlySet<ConfigKey> = new Set<ConfigKey>([
  "tokenSecret",
  "clusterSecret",
  "zkAuth",
  "metricsToken",
  "store",
]);

/** Where a value came from, for error messages. */
type Origin = (value: unknown) => string;

interface Layer {
  values: Map<ConfigKey, unknown>;
  origins: Map<ConfigKey, Origin>;
}

/**
 * Build the node's configuration: defaults ← JSON file (`--config` /
 * AVISO_CONFIG) ← AVISO_* env ← flags. Throws one ConfigError listing every
 * problem (bad values, unknown keys/env vars/flags, cross-field rules).
 */
export function loadConfig({ argv, env }: LoadConfigInput): Config {
  const problems: string[] = [];
  const flags = parseFlags(argv, problems);
  const envLayer = parseEnv(env, problems);
  const configPath = flags.configPath ?? nonEmpty(env[configFileEnv]);
  const fileLayer = configPath === undefined ? emptyLayer() : readConfigFile(configPath, problems);

  const candidate: Record<string, unknown> = {};
  const origins = new Map<ConfigKey, Origin>();
  for (const info of configKeys) if (info.default !== undefined) candidate[info.key] = info.default;
  for (const layer of [fileLayer, envLayer, flags.layer]) {
    for (const [key, value] of layer.values) candidate[key] = value;
    for (const [key, origin] of layer.origins) origins.set(key, origin);
  }

  const invalidKeys = new Set<ConfigKey>();
  for (const error of checker.Errors(candidate)) {
    const key = error.path.split("/")[1] as ConfigKey | undefined;
    if (key === undefined || !byKey.has(key)) continue; // unknown keys were reported by their layer
    invalidKeys.add(key);
    const origin = origins.get(key)?.(error.value) ?? `${key} (default)`;
    problems.push(`${origin}: ${explain(error.message, error.schema)}`);
  }

  // Cross-field rules run on the keys that passed; failed ones fall back to their default so each
  // problem is reported once, by the rule it broke.
  const settled: Record<string, unknown> = { ...candidate };
  for (const key of invalidKeys) {
    const fallback = byKey.get(key)?.default;
    if (fallback === undefined) delete settled[key];
    else settled[key] = fallback;
  }
  problems.push(...crossFieldProblems(settled as Config));

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(candidate as Config);
}

function emptyLayer(): Layer {
  return { values: new Map(), origins: new Map() };
}

function parseFlags(
  argv: readonly string[],
  problems: string[],
): { layer: Layer; configPath: string | undefined } {
  const layer = emptyLayer();
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (!token.startsWith("--")) {
      problems.push(`unexpected argument "${token}" (flags look like --port 8080 or --port=8080)`);
      continue;
    }
    const eq = token.indexOf("=");
    const name = eq === -1 ? token : token.slice(0, eq);
    let text = eq === -1 ? undefined : token.slice(eq + 1);
    const next = argv[i + 1];
    const nextIsValue = next !== undefined && !next.startsWith("--");
    const info = byFlag.get(name);

    if (text === undefined) {
      if (info?.kind === "boolean" && !nextIsValue) {
        text = "true"; // a bare boolean flag switches it on
      } else if (nextIsValue) {
        text = next;
        i++;
      }
    }
    if (name === configFileFlag) {
      if (text === undefined) problems.push(`${configFileFlag} needs a file path`);
      else configPath = text;
      continue;
    }
    if (info === undefined) {
      problems.push(`unknown flag ${name}${suggest(name, [...byFlag.keys(), configFileFlag])}`);
      continue;
    }
    if (text === undefined) {
      problems.push(`${name} needs a value`);
      continue;
    }
    const shown = display(info.key, text);
    addString(layer, info, text, () => `${name} ${shown}`, problems);
  }
  return { layer, configPath };
}

function parseEnv(env: Readonly<Record<string, string | undefined>>, problems: string[]): Layer {
  const layer = emptyLayer();
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith("AVISO_") || name === configFileEnv || text === undefined) continue;
    if (Object.hasOwn(clientEnvNames, name)) continue; // a client's or tool's variable, not the node's
    const info = byEnv.get(name);
    if (info === undefined) {
      const known = [...byEnv.keys(), configFileEnv, ...Object.keys(clientEnvNames)];
      problems.push(`unknown environment variable ${name}${suggest(name, known)}`);
      continue;
    }
    // An empty variable counts as unset, as compose files and shells commonly produce them.
    const value = nonEmpty(text);
    if (value === undefined) continue;
    const shown = display(info.key, value);
    addString(layer, info, value, () => `${name}=${shown}`, problems);
  }
  return layer;
}

function readConfigFile(path: string, problems: string[]): Layer {
  const layer = emptyLayer();
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT" ? "file not found" : error instanceof Error ? error.message : String(error);
    problems.push(`config file "${path}": ${reason}`);
    return layer;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    problems.push(`config file "${path}": must hold a JSON object of config keys`);
    return layer;
  }
  for (const [key, value] of Object.entries(parsed)) {
    if (key === "$schema") continue; // lets editors validate the file
    const info = byKey.get(key);
    if (info === undefined) {
      problems.push(`config file "${path}": unknown key "${key}"${suggest(key, [...byKey.keys()])}`);
      continue;
    }
    layer.values.set(info.key, value);
    layer.origins.set(info.key, (shown) => `"${key}": ${display(info.key, shown)} in config file "${path}"`);
  }
  return layer;
}

/** Convert an env/flag string to the key's type; unconvertible text is a problem, not a silent default. */
function addString(
  layer: Layer,
  info: ConfigKeyInfo,
  text: string,
  origin: () => string,
  problems: string[],
): void {
  const value = convert(info, text);
  if (value === undefined) {
    problems.push(`${origin()}: expected ${expectedText[info.kind]}`);
    return;
  }
  layer.values.set(info.key, value);
  layer.origins.set(info.key, origin);
}

const expectedText = {
  integer: "an integer",
  number: "a number",
  boolean: "true, false, 1 or 0",
  string: "a string",
} as const;

function convert(info: ConfigKeyInfo, text: string): string | number | boolean | undefined {
  const trimmed = text.trim();
  switch (info.kind) {
    case "integer":
      return /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : undefined;
    case "number": {
      const value = Number(trimmed);
      return trimmed !== "" && Number.isFinite(value) ? value : undefined;
    }
    case "boolean": {
      const lower = trimmed.toLowerCase();
      if (lower === "true" || lower === "1") return true;
      if (lower === "false" || lower === "0") return false;
      return undefined;
    }
    case "string":
      return text;
  }
}

function display(key: ConfigKey, value: unknown): string {
  if (!secretKeys.has(key) || typeof value !== "string") return JSON.stringify(value) ?? String(value);
  if (key === "store") return JSON.stringify(value.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@"));
  return `<secret, ${value.length} chars>`;
}

/** Turn TypeBox's schema wording into advice where it is too terse. */
function explain(message: string, schema: { anyOf?: unknown; examples?: unknown }): string {
  const members: unknown = schema.anyOf;
  if (Array.isArray(members)) {
    const allowed = members.map((member: { const?: unknown }) => String(member.const));
    return `expected one of ${allowed.join(", ")}`;
  }
  if (message.startsWith("Expected string to match") && Array.isArray(schema.examples)) {
    return `expected a value like ${schema.examples.map((example) => JSON.stringify(example)).join(" or ")}`;
  }
  return message.charAt(0).toLowerCase() + message.slice(1);
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === "" ? undefined : text;
}

/** " (did you mean X?)" for a near miss, so a typo is fixed on the first read. */
function suggest(name: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === undefined ? "" : ` (did you mean ${best}?)`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
