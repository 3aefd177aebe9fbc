import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import fc from "fast-check";

/**
 * fast-check arbitraries for hostile input (docs/security.md S11): JSON text
 * that JSON.stringify could never produce (1e999, -0, 30-digit integers,
 * duplicate and `__proto__` keys, lone surrogates), deep nesting, text that
 * is not JSON, bad percent escapes. Built as text, not values, so the bytes
 * on the wire are exactly the hostile ones.
 */

/** Keys named like JavaScript object internals. */
export const internalKeys = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "__defineGetter__",
  "then",
  "toJSON",
  "length",
] as const;

const scalarTexts = [
  "null",
  "true",
  "false",
  "0",
  "-0",
  "-1",
  "1.5",
  "1e308",
  "-1e308",
  "1e999",
  "-1e999",
  "5e-324",
  "9007199254740993",
  "123456789012345678901234567890",
  '"NaN"',
  '"Infinity"',
  '"-0"',
  '""',
  '" "',
  '"\\ud800"',
  '"\\udfff\\ud800"',
  '"\\u0000"',
  '"%00"',
  '"../../etc"',
  '"*"',
  '"#"',
  '"a.#.b"',
];

/** Hostile strings, used raw in paths, query values and names. */
export const hostileStrings = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom("", " ", "NaN", "-0", "1e999", "__proto__", "constructor", "toString", "\u0000", "\u202e"),
  fc.integer({ min: 1, max: 20_000 }).map((length) => "a".repeat(length)),
);

/** Any JSON scalar as text, including ones JSON.stringify never writes. */
const scalarText = fc.oneof(
  fc.constantFrom(...scalarTexts),
  hostileStrings.map((text) => JSON.stringify(text)),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => JSON.stringify(value)),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
);

/** A key for a generated object: the schema's own field names, object internals, or anything. */
function keyArbitrary(knownKeys: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...knownKeys, ...internalKeys),
    fc.constantFrom(...internalKeys),
    fc.string({ maxLength: 12 }),
  );
}

/** Arbitrary JSON text; objects use `knownKeys` often, so the fuzz reaches past the first check. */
export function jsonText(knownKeys: readonly string[]): fc.Arbitrary<string> {
  const key = keyArbitrary(knownKeys);
  const { value } = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
    value: fc.oneof({ depthSize: "small", maxDepth: 5 }, scalarText, tie("array"), tie("object")),
    array: fc.array(tie("value"), { maxLength: 5 }).map((items) => `[${items.join(",")}]`),
    object: fc
      .array(fc.tuple(key, tie("value")), { maxLength: 6 })
      .map((entries) => `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${item}`).join(",")}}`),
  }));
  return value;
}

/** Nesting `depth` levels deep, of arrays, objects or both. */
export function deepText(depth: number, shape: "array" | "object" | "mixed"): string {
  if (shape === "array") return `${"[".repeat(depth)}${"]".repeat(depth)}`;
  if (shape === "object") return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
  const open: string[] = [];
  const close: string[] = [];
  for (let level = 0; level < depth; level++) {
    open.push(level % 2 === 0 ? "[" : '{"__proto__":');
    close.push(level % 2 === 0 ? "]" : "}");
  }
  return `${open.join("")}0${close.reverse().join("")}`;
}

export const deepNesting = fc
  .tuple(
    fc.constantFrom(65, 100, 1_000, 10_000, 100_000),
    fc.constantFrom<"array" | "object" | "mixed">("array", "object", "mixed"),
  )
  .map(([depth, shape]) => deepText(depth, shape));

/** Every property name anywhere in a schema (objects, unions, arrays, records). */
export function schemaKeys(schema: TSchema | undefined): string[] {
  const keys = new Set<string>();
  const visit = (node: unknown): void => {
    if (typeof node !== "object" || node === null) return;
    const record = node as Record<string, unknown>;
    if (typeof record.properties === "object" && record.properties !== null) {
      for (const [name, child] of Object.entries(record.properties)) {
        keys.add(name);
        visit(child);
      }
    }
    for (const field of ["anyOf", "allOf", "oneOf"]) {
      const branches = record[field];
      if (Array.isArray(branches)) for (const branch of branches) visit(branch);
    }
    visit(record.items);
    if (typeof record.patternProperties === "object" && record.patternProperties !== null) {
      for (const child of Object.values(record.patternProperties)) visit(child);
    }
  };
  visit(schema);
  return [...keys];
}

const HOLE = "\u0001hole\u0001";

/** Paths (as key lists) to every value inside a JSON value. */
function valuePaths(value: unknown, prefix: string[] = []): string[][] {
  const paths: string[][] = [prefix];
  if (typeof value === "object" && value !== null) {
    for (const [key, child] of Object.entries(value)) paths.push(...valuePaths(child, [...prefix, key]));
  }
  return paths;
}

function withHole(value: unknown, path: readonly string[]): unknown {
  if (path.length === 0) return HOLE;
  const [head, ...rest] = path as [string, ...string[]];
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string, unknown>;
  copy[head] = withHole(copy[head], rest);
  return copy;
}

/**
 * Bodies one step from valid: the schema's default value (TypeBox's
 * `Value.Create`) with one value replaced by hostile text, or with extra
 * hostile keys. These get past the JSON parse to the validator and handler.
 */
export function nearValidBody(schema: TSchema, names: readonly string[]): fc.Arbitrary<string> {
  let base: unknown;
  try {
    base = Value.Create(schema);
  } catch {
    base = {};
  }
  const keys = schemaKeys(schema);
  const replacement = fc.oneof(
    jsonText(keys),
    deepNesting,
    fc.constantFrom(...names).map((name) => JSON.stringify(name)),
  );
  return fc
    .tuple(fc.constantFrom(...valuePaths(base)), replacement)
    .map(([path, text]) => JSON.stringify(withHole(base, path)).replace(JSON.stringify(HOLE), text));
}

/** Percent-encodes every byte of the UTF-8 text (lone surrogates become U+FFFD, as on the wire). */
export function percentEncode(text: string): string {
  return [...Buffer.from(text, "utf8")].map((byte) => `%${byte.toString(16).padStart(2, "0")}`).join("");
}

/** A query string: the schema's keys and hostile ones, values with bad percent escapes. */
export function queryString(knownKeys: readonly string[]): fc.Arbitrary<string> {
  const value = fc.oneof(
    hostileStrings.map((text) => percentEncode(text)),
    fc.constantFrom("%", "%zz", "%E0%A4%A", "%C0%AF", "%FF", "%00", "%2525", "-1", "1.5", "1e3", "1e999"),
    fc.constantFrom("99999999999999999999", "NaN", "true", "[]", "latest", "earliest", "0"),
  );
  const key = fc.oneof(
    fc.constantFrom(...knownKeys, ...internalKeys),
    fc.constantFrom("%", "%zz", "a[b]", "a[]"),
    fc.string({ maxLength: 8 }).map((text) => percentEncode(text)),
  );
  return fc
    .array(fc.tuple(key, value), { maxLength: 6 })
    .map((pairs) => pairs.map(([name, text]) => `${name}=${text}`).join("&"));
}

/** A path segment: an existing name, bad percent escapes, object internals, very long text. */
export function pathSegment(names: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...names),
    fc.constantFrom("%", "%zz", "%E0%A4%A", "%C0%AF", "%FF%FE", "%00", "%2F", "%2e%2e", "..", "."),
    fc.constantFrom(...internalKeys),
    hostileStrings.map((text) => percentEncode(text)),
    fc.integer({ min: 200, max: 3_000 }).map((length) => "n".repeat(length)),
  );
}
