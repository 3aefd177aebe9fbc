import { describe, expect, it } from "vitest";
import {
  compilePattern,
  MAX_KEY_LENGTH,
  patternProblem,
  routingKeyProblem,
} from "../../src/broker/pattern.ts";

// [pattern, key, expected]
const table: Array<[string, string, boolean]> = [
  ["a.b.c", "a.b.c", true],
  ["a.b.c", "a.b", false],
  ["a.*.c", "a.b.c", true],
  ["a.*.c", "a.c", false],
  ["a.*.c", "a.b.b.c", false],
  ["a.#", "a", true],
  ["a.#", "a.b", true],
  ["a.#", "a.b.c.d", true],
  ["a.#", "b.a", false],
  ["a.#", "ab", false],
  ["#", "", true],
  ["#", "a", true],
  ["#", "a.b.c", true],
  ["*", "", false],
  ["*", "a", true],
  ["*", "a.b", false],
  ["*.b", "a.b", true],
  ["*.b", "b", false],
  ["*.b", "a.b.b", false],
  ["#.b", "b", true],
  ["#.b", "a.a.b", true],
  ["#.b", "a.b.c", false],
  ["a.#.c", "a.c", true],
  ["a.#.c", "a.b.x.c", true],
  ["a.#.c", "a.b.c.d", false],
  ["#.#", "", true],
  ["#.#", "a.b", true],
  ["#.*", "", false],
  ["#.*", "a", true],
  ["*.#", "a.b.c", true],
  ["a.#.b.#.c", "a.x.b.y.z.c", true],
  ["a.#.b.#.c", "a.x.y.c", false],
  ["a.#.#", "a", true],
  ["orders.eu.created", "orders.eu.created", true],
  ["orders.*.created", "orders.us.created", true],
  ["orders.*.created", "orders.us.deleted", false],
  ["a", "", false],
];

describe("compilePattern", () => {
  it.each(table)("pattern %j against key %j matches: %s", (pattern, key, expected) => {
    expect(patternProblem(pattern)).toBeUndefined();
    expect(compilePattern(pattern)(key)).toBe(expected);
  });
});

describe("patternProblem", () => {
  it.each(["", "a..b", ".a", "a.", "a.b*", "a#", "a b", "x".repeat(256)])("rejects %j", (pattern) => {
    expect(patternProblem(pattern)).toEqual(expect.any(String));
  });
});

describe("length limits", () => {
  it("accept a key and a pattern of exactly MAX_KEY_LENGTH characters and refuse one more", () => {
    const longest = `${"w.".repeat((MAX_KEY_LENGTH - 1) / 2)}w`;
    expect(longest).toHaveLength(MAX_KEY_LENGTH);
    expect(routingKeyProblem(longest)).toBeUndefined();
    expect(patternProblem(longest)).toBeUndefined();
    expect(routingKeyProblem(`${longest}w`)).toEqual(expect.any(String));
    expect(patternProblem(`${longest}w`)).toEqual(expect.any(String));
    expect(MAX_KEY_LENGTH).toBe(255);
  });
});

describe("routingKeyProblem", () => {
  it("accepts the empty key and dotted words", () => {
    expect(routingKeyProblem("")).toBeUndefined();
    expect(routingKeyProblem("orders.eu-west.created_1")).toBeUndefined();
  });
  it.each(["a..b", "a.*", "#", "a.", " a", "x".repeat(256)])("rejects %j", (key) => {
    expect(routingKeyProblem(key)).toEqual(expect.any(String));
  });
});
