import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compilePattern, patternProblem, routingKeyProblem } from "../../src/broker/pattern.ts";

/** The AMQP topic rule, written the slow obvious way: `*` is one word, `#` zero or more. */
function reference(pattern: readonly string[], key: readonly string[]): boolean {
  if (pattern.length === 0) return key.length === 0;
  const [word, ...rest] = pattern;
  if (word === "#") return reference(rest, key) || (key.length > 0 && reference(pattern, key.slice(1)));
  if (key.length === 0) return false;
  return (word === "*" || word === key[0]) && reference(rest, key.slice(1));
}

const keyWords = fc.array(fc.constantFrom("a", "b", "c"), { maxLength: 6 });
const patternWords = fc.array(fc.constantFrom("a", "b", "*", "#"), { minLength: 1, maxLength: 5 });

describe("compilePattern against the reference rule", () => {
  it("matches exactly the keys the rule matches, for every pattern shape", () => {
    fc.assert(
      fc.property(patternWords, fc.array(keyWords, { minLength: 1, maxLength: 20 }), (pattern, keys) => {
        const matcher = compilePattern(pattern.join("."));
        for (const key of keys)
          expect(matcher(key.join(".")), `${pattern.join(".")} ~ ${key.join(".")}`).toBe(
            reference(pattern, key),
          );
      }),
      { numRuns: 2000 },
    );
  });

  it("says why a key or pattern is refused", () => {
    expect(patternProblem("")).toMatch(/not empty.*`#`/);
    expect(patternProblem("a".repeat(256))).toMatch(/at most 255 characters/);
    expect(patternProblem("a.b*")).toMatch(/`\*` and `#` stand alone/);
    expect(patternProblem("a.*.#")).toBeUndefined();
    expect(routingKeyProblem("a".repeat(256))).toMatch(/at most 255 characters/);
    expect(routingKeyProblem("a..b")).toMatch(/non-empty words separated by dots/);
    expect(routingKeyProblem("")).toBeUndefined();
    expect(routingKeyProblem("a".repeat(255))).toBeUndefined();
    // A lone surrogate would be stored as U+FFFD: a replayed message would carry another key.
    expect(routingKeyProblem("a.\ud800")).toMatch(/no lone surrogate/);
    expect(routingKeyProblem("\udc00b")).toMatch(/no lone surrogate/);
    expect(patternProblem("a.\ud800.#")).toMatch(/no lone surrogate/);
    expect(routingKeyProblem("a.😀")).toBeUndefined();
    expect(patternProblem("😀.*")).toBeUndefined();
  });
});
