import { AvisoError } from "../errors/aviso-error.ts";

/**
 * How deep a request body or frame may nest arrays and objects. JSON.parse
 * takes any depth, but everything after it recurses (the validator, cloning,
 * JSON.stringify when a payload is stored or delivered) and overflows the
 * stack near 10,000 levels. Real messages nest a handful of levels; 64 leaves
 * a payload some 60 levels of its own. docs/errors.md, docs/protocol.md.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * VALIDATION_FAILED when `text` nests arrays/objects deeper than `maxDepth`.
 * One pass over the characters, before JSON.parse, so a hostile body costs
 * no more than reading it. Brackets inside strings do not count; text that is
 * not JSON at all is left for JSON.parse to refuse.
 */
export function assertJsonDepth(text: string, maxDepth: number = MAX_JSON_DEPTH): void {
  if (fewOpeningBrackets(text, maxDepth)) return;
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c)
        index++; // backslash: the next character is escaped
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      depth++;
      if (depth > maxDepth) throw tooDeep(maxDepth);
    } else if (char === 0x5d || char === 0x7d) depth--;
  }
}

/**
 * Whether `text` holds at most `max` "{" and "[" in all (strings included):
 * then it cannot nest deeper than `max`. indexOf runs natively, so a typical
 * frame (a few dozen brackets) costs ~0.1 µs here instead of ~2 µs per KB
 * for the character loop above (bench/RESULTS.md "CPU per message").
 */
function fewOpeningBrackets(text: string, max: number): boolean {
  let count = 0;
  for (const bracket of ["{", "["]) {
    for (let at = text.indexOf(bracket); at !== -1; at = text.indexOf(bracket, at + 1)) {
      if (++count > max) return false;
    }
  }
  return true;
}

function tooDeep(maxDepth: number): AvisoError {
  const message = `JSON nested deeper than ${maxDepth} levels`;
  return new AvisoError("VALIDATION_FAILED", `Invalid JSON: ${message}.`, {
    details: { problems: [{ path: "/", message }] },
  });
}
