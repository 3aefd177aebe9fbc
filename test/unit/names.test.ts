import { describe, expect, it } from "vitest";
import { assertValidName, isValidName } from "../../src/app/names.ts";

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
});
