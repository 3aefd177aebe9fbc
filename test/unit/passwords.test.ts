import bcrypt from "bcryptjs";
import { describe, expect, it } from "vitest";
import {
  dummyPasswordHash,
  hashPassword,
  isPasswordTooLong,
  verifyLogin,
  verifyPassword,
} from "../../src/auth/passwords.ts";

// Cost 4 is the minimum bcrypt allows: fast enough for unit tests.
const cost = 4;

describe("passwords", () => {
  it("hashes with bcrypt at the requested cost and a fresh salt", async () => {
    const first = await hashPassword("correct horse", cost);
    const second = await hashPassword("correct horse", cost);
    expect(first).toMatch(/^\$2[aby]\$04\$/);
    expect(bcrypt.getRounds(first)).toBe(cost);
    expect(first).not.toBe(second);
  });

  it("verifies the right password and rejects a wrong one", async () => {
    const hash = await hashPassword("correct horse", cost);
    expect(await verifyPassword("correct horse", hash)).toBe(true);
    expect(await verifyPassword("correct hors", hash)).toBe(false);
    expect(await verifyPassword("", hash)).toBe(false);
  });

  it("verifyLogin answers false for an unknown user, after a compare against the dummy hash", async () => {
    const hash = await hashPassword("pw-of-alice", cost);
    expect(await verifyLogin("pw-of-alice", hash, cost)).toBe(true);
    expect(await verifyLogin("pw-of-alice", undefined, cost)).toBe(false);
  });

  it("verifyLogin refuses a password over 72 bytes even when its first 72 bytes match, comparing it with the dummy", async () => {
    const stored = "s".repeat(72);
    const hash = await hashPassword(stored, cost);
    expect(await verifyLogin(stored, hash, cost)).toBe(true);
    const compared: string[] = [];
    const recording = {
      hash: (password: string, rounds: number) => bcrypt.hash(password, rounds),
      compare: (password: string, against: string) => {
        compared.push(against);
        return bcrypt.compare(password, against);
      },
      close: async () => {},
    };
    expect(await verifyLogin(`${stored}!`, hash, cost, recording)).toBe(false);
    expect(compared).toEqual([dummyPasswordHash(cost)]);
  });

  it("has a well-formed dummy hash for every allowed cost, matching that cost", () => {
    for (let dummyCost = 4; dummyCost <= 15; dummyCost++) {
      const hash = dummyPasswordHash(dummyCost);
      expect(hash).toHaveLength(60);
      expect(bcrypt.getRounds(hash)).toBe(dummyCost);
    }
    expect(() => dummyPasswordHash(16)).toThrow(RangeError);
  });

  it("flags passwords bcrypt would truncate (over 72 UTF-8 bytes)", () => {
    expect(isPasswordTooLong("a".repeat(72))).toBe(false);
    expect(isPasswordTooLong("a".repeat(73))).toBe(true);
    expect(isPasswordTooLong("é".repeat(37))).toBe(true); // 74 bytes in 37 characters
  });
});
