import { describe, expect, it } from "vitest";
import {
  assertLookupName,
  assertValidName,
  isExternalUsername,
  isValidName,
  patternOrEverything,
} from "../../src/app/names.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";

function thrownBy(action: () => unknown): AvisoError {
  try {
    action();
  } catch (error) {
    if (error instanceof AvisoError) return error;
    throw error;
  }
  throw new Error("expected an AvisoError, nothing was thrown");
}

describe("names", () => {
  it("accepts a name of exactly the maximum length and refuses one character more", () => {
    expect(isValidName("a".repeat(128), 128)).toBe(true);
    expect(isValidName("a".repeat(129), 128)).toBe(false);
    expect(isValidName("a", 1)).toBe(true);
    expect(isValidName("", 1)).toBe(false);
  });

  it("refuses an over-long name as INVALID_NAME", () => {
    expect(() => assertValidName("queue", "q".repeat(10), 10)).not.toThrow();
    expect(() => assertValidName("queue", "q".repeat(11), 10)).toThrow(
      expect.objectContaining({ reason: "INVALID_NAME" }),
    );
  });

  it("accepts letters, digits, dots, underscores and dashes after a leading letter or digit", () => {
    expect(isValidName("Orders-2024_eu.v1", 64)).toBe(true);
    expect(isValidName("9lives", 64)).toBe(true);
  });

  it("refuses a name that does not start with a letter or digit, even when the rest is valid", () => {
    expect(isValidName("-orders", 64)).toBe(false);
    expect(isValidName(".orders", 64)).toBe(false);
  });

  it("refuses a name with a character outside the rule anywhere, the last one included", () => {
    expect(isValidName("orders!", 64)).toBe(false);
    expect(isValidName("ord ers", 64)).toBe(false);
    expect(isValidName("orders:", 64)).toBe(false);
  });

  it("tells external user names (`<prefix>:<claim>`) from local ones by the colon", () => {
    expect(isExternalUsername("oidc:alice")).toBe(true);
    expect(isExternalUsername("alice")).toBe(false);
    expect(isExternalUsername("")).toBe(false);
  });

  it("says in the refusal which kind of name it was and its maximum length", () => {
    const refusal = thrownBy(() => assertValidName("topic", "-bad", 32));
    expect(refusal.reason).toBe("INVALID_NAME");
    expect(refusal.message).toContain("A topic name is 1–32 characters");
  });

  it("returns the refused name in the details, cut to the maximum length plus 8 characters", () => {
    const refusal = thrownBy(() => assertValidName("user", "u".repeat(100), 10));
    expect(refusal.details).toEqual({ name: "u".repeat(18) });
  });

  it("refuses a looked-up name that no resource can have as INVALID_NAME, quoting at most 64 characters", () => {
    const refusal = thrownBy(() => assertLookupName("topic", `!${"a".repeat(99)}`));
    expect(refusal.reason).toBe("INVALID_NAME");
    expect(refusal.message).toBe(`"!${"a".repeat(63)}" cannot be a topic name.`);
  });

  it("lets a lookup through for any name the rule allows, whatever its length", () => {
    expect(() => assertLookupName("queue", "orders.eu-1")).not.toThrow();
    expect(() => assertLookupName("queue", "q".repeat(1000))).not.toThrow();
    expect(() => assertLookupName("queue", "orders!")).toThrow(
      expect.objectContaining({ reason: "INVALID_NAME" }),
    );
  });

  it("takes `#` (everything) when no pattern is given and a valid pattern as it is", () => {
    expect(patternOrEverything(undefined)).toBe("#");
    expect(patternOrEverything("orders.*.eu")).toBe("orders.*.eu");
    expect(patternOrEverything("#")).toBe("#");
  });

  it("refuses a malformed pattern as INVALID_PATTERN, naming the pattern and the problem", () => {
    const refusal = thrownBy(() => patternOrEverything("orders.eu*"));
    expect(refusal.reason).toBe("INVALID_PATTERN");
    expect(refusal.message).toMatch(/^Pattern "orders\.eu\*": a pattern is words/);
    expect(thrownBy(() => patternOrEverything("")).reason).toBe("INVALID_PATTERN");
  });
});
