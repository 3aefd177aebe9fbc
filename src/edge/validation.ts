import { KindGuard, type TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import { AvisoError } from "../errors/aviso-error.ts";

export interface Validator<T> {
  /** Returns the value typed, or throws VALIDATION_FAILED naming each problem's path. */
  check(value: unknown, where: string): T;
}

const MAX_REPORTED_PROBLEMS = 5;

/** Compiles a schema once; the compiled check is what runs per request. */
export function createValidator<T>(schema: TSchema): Validator<T> {
  const compiled: TypeCheck<TSchema> = TypeCompiler.Compile(schema);
  // For a top-level union, "expected union value" helps nobody: report the closest branch's problems.
  const branches = KindGuard.IsUnion(schema)
    ? schema.anyOf.map((branch) => TypeCompiler.Compile(branch))
    : [];
  return {
    check(value, where) {
      if (compiled.Check(value)) return value as T;
      const candidates = branches.length > 0 ? branches : [compiled];
      const errorLists = candidates.map((candidate) => [...candidate.Errors(value)]);
      errorLists.sort((a, b) => a.length - b.length);
      const problems = (errorLists[0] ?? []).slice(0, MAX_REPORTED_PROBLEMS).map((error) => ({
        path: error.path === "" ? "/" : error.path,
        message: error.message,
      }));
      const first = problems[0];
      throw new AvisoError(
        "VALIDATION_FAILED",
        first === undefined ? `Invalid ${where}.` : `Invalid ${where}: ${first.path} ${first.message}.`,
        { details: { problems } },
      );
    },
  };
}

/** Query strings are text: convert "5" → 5 and "true" → true where the schema wants them, then check. */
export function createQueryValidator<T>(schema: TSchema): Validator<T> {
  const validator = createValidator<T>(schema);
  return {
    check(value, where) {
      return validator.check(keepLossyNumbersAsText(value, Value.Convert(schema, Value.Clone(value))), where);
    },
  };
}

/** Value.Convert turns "1.5" and "1e3" into the integer 1; keep such text as text so the check refuses it. */
function keepLossyNumbersAsText(raw: unknown, converted: unknown): unknown {
  if (typeof raw !== "object" || raw === null || typeof converted !== "object" || converted === null) {
    return converted;
  }
  const result: Record<string, unknown> = { ...(converted as Record<string, unknown>) };
  for (const [key, text] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof text === "string" && typeof result[key] === "number" && Number(text) !== result[key]) {
      result[key] = text;
    }
  }
  return result;
}
