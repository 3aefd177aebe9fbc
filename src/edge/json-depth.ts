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

function tooDeep(maxDepth: number): AvisoError {
  const message = `JSON nested deeper than ${maxDepth} levels`;
  return new AvisoError("VALIDATION_FAILED", `Invalid JSON: ${message}.`, {
    details: { problems: [{ path: "/", message }] },
  });
}
