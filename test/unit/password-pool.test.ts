import { afterAll, describe, expect, it } from "vitest";
import { createPasswordPool } from "../../src/auth/password-pool.ts";
import { verifyPassword } from "../../src/auth/passwords.ts";

const pool = createPasswordPool(2);
afterAll(() => pool.close());

describe("password pool", () => {
  it("hashes on worker threads into hashes the inline check accepts", async () => {
    const hash = await pool.hash("correct horse", 4);
    expect(hash).toMatch(/^\$2[aby]\$04\$/);
    expect(await verifyPassword("correct horse", hash)).toBe(true);
    expect(await pool.compare("correct horse", hash)).toBe(true);
    expect(await pool.compare("wrong horse", hash)).toBe(false);
  });

  it("answers many concurrent jobs, each with its own result", async () => {
    const passwords = Array.from({ length: 8 }, (_, i) => `password-${i}`);
    const hashes = await Promise.all(passwords.map((password) => pool.hash(password, 4)));
    const checks = await Promise.all(
      hashes.map((hash, i) => pool.compare(passwords[(i + 1) % 8] as string, hash)),
    );
    expect(checks.every((ok) => ok === false)).toBe(true);
    expect(await Promise.all(hashes.map((hash, i) => pool.compare(passwords[i] as string, hash)))).toEqual(
      passwords.map(() => true),
    );
  });
});
