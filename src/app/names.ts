import { patternProblem } from "../broker/pattern.ts";
import { AvisoError } from "../errors/aviso-error.ts";

/** Queue, topic and user names: ASCII letters, digits, `.`, `_`, `-`; starting with a letter or digit. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether `name` passes the rule for a name of at most `maxLength` characters. */
export function isValidName(name: string, maxLength: number): boolean {
  return name.length > 0 && name.length <= maxLength && NAME.test(name);
}

/**
 * External users (docs/security.md S14) are named `<prefix>:<claim>`; local
 * names cannot hold `:`, so the two never collide.
 */
export function isExternalUsername(name: string): boolean {
  return name.includes(":");
}

export function assertValidName(kind: "queue" | "topic" | "user", name: string, maxLength: number): void {
  if (!isValidName(name, maxLength)) {
    throw new AvisoError(
      "INVALID_NAME",
      `A ${kind} name is 1–${maxLength} characters of letters, digits, ".", "_" or "-", starting with a letter or digit.`,
      { details: { name: name.slice(0, maxLength + 8) } },
    );
  }
}

/** Names no resource can have are refused as invalid, not reported as missing. */
export function assertLookupName(kind: "queue" | "topic", name: string): void {
  if (!NAME.test(name)) {
    throw new AvisoError("INVALID_NAME", `"${name.slice(0, 64)}" cannot be a ${kind} name.`);
  }
}

/** A subscription pattern, `#` (everything) when none is given; a malformed one is refused. */
export function patternOrEverything(pattern: string | undefined): string {
  const chosen = pattern ?? "#";
  const problem = patternProblem(chosen);
  if (problem !== undefined) throw new AvisoError("INVALID_PATTERN", `Pattern "${chosen}": ${problem}.`);
  return chosen;
}
