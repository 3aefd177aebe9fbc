import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { createTokenService } from "../../src/auth/tokens.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock } from "../helpers/manual-clock.ts";

const secret = new TextEncoder().encode("a-test-secret-that-is-32-bytes-!");
const otherSecret = new TextEncoder().encode("another-secret-also-32-bytes-ok!");
const ttlMs = 60_000;

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AvisoError);
    return (error as AvisoError).reason;
  }
  throw new Error("expected a rejection");
}

describe("createTokenService", () => {
  it("issues a token that verifies to its username and expiry", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const tokens = createTokenService({ secret, ttlMs, clock });
    const issued = await tokens.issue("alice");
    expect(issued.expiresAt).toBe(1_700_000_060_000);
    expect(await tokens.verify(issued.token)).toEqual({
      username: "alice",
      expiresAt: issued.expiresAt,
      version: 0,
    });
  });

  it("carries the user's token version in `ver`; a token without it stands for version 0", async () => {
    const tokens = createTokenService({ secret, ttlMs });
    expect((await tokens.verify((await tokens.issue("alice", 7)).token)).version).toBe(7);
    const aliceToken = (claims: Record<string, unknown>) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256" })
        .setSubject("alice")
        .setIssuer("aviso")
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(secret);
    expect((await tokens.verify(await aliceToken({}))).version).toBe(0);
    for (const ver of [-1, 1.5, "2", null]) {
      expect(await reasonOf(tokens.verify(await aliceToken({ ver })))).toBe("TOKEN_INVALID");
    }
  });

  it("puts sub, iat, exp and issuer aviso in an HS256 token", async () => {
    const clock = new ManualClock(1_700_000_000_500);
    const { token } = await createTokenService({ secret, ttlMs, clock }).issue("bob");
    const [header, payload] = token
      .split(".")
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, "base64url").toString()));
    expect(header).toMatchObject({ alg: "HS256", typ: "JWT" });
    expect(payload).toEqual({ sub: "bob", ver: 0, iss: "aviso", iat: 1_700_000_000, exp: 1_700_000_060 });
  });

  it("rejects an expired token with TOKEN_EXPIRED, cached or not", async () => {
    const clock = new ManualClock();
    const issuer = createTokenService({ secret, ttlMs, clock });
    const { token } = await issuer.issue("alice");
    await issuer.verify(token); // now cached
    clock.advance(ttlMs);
    expect(await reasonOf(issuer.verify(token))).toBe("TOKEN_EXPIRED");
    const fresh = createTokenService({ secret, ttlMs, clock, cacheEntries: 0 });
    expect(await reasonOf(fresh.verify(token))).toBe("TOKEN_EXPIRED");
  });

  it("accepts a token until the moment before it expires", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const tokens = createTokenService({ secret, ttlMs, clock, cacheEntries: 0 });
    const { token } = await tokens.issue("alice");
    clock.advance(ttlMs - 1);
    expect((await tokens.verify(token)).username).toBe("alice");
  });

  it("rejects a tampered token with TOKEN_INVALID", async () => {
    const tokens = createTokenService({ secret, ttlMs });
    const { token } = await tokens.issue("alice");
    const [header, , signature] = token.split(".");
    const forgedPayload = Buffer.from(
      JSON.stringify({ sub: "admin", iss: "aviso", iat: 1, exp: 9_999_999_999 }),
    ).toString("base64url");
    expect(await reasonOf(tokens.verify(`${header}.${forgedPayload}.${signature}`))).toBe("TOKEN_INVALID");
    const flipped = token.slice(0, -2) + (token.endsWith("AA") ? "BB" : "AA");
    expect(await reasonOf(tokens.verify(flipped))).toBe("TOKEN_INVALID");
  });

  it("rejects a token signed with another secret with TOKEN_INVALID", async () => {
    const { token } = await createTokenService({ secret: otherSecret, ttlMs }).issue("alice");
    expect(await reasonOf(createTokenService({ secret, ttlMs }).verify(token))).toBe("TOKEN_INVALID");
  });

  it("rejects other algorithms, issuers and unsigned tokens with TOKEN_INVALID", async () => {
    const tokens = createTokenService({ secret, ttlMs });
    const hs512 = await new SignJWT({})
      .setProtectedHeader({ alg: "HS512" })
      .setSubject("alice")
      .setIssuer("aviso")
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(secret);
    const otherIssuer = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setIssuer("someone-else")
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(secret);
    const unsigned = new UnsecuredJWT({})
      .setSubject("alice")
      .setIssuer("aviso")
      .setIssuedAt()
      .setExpirationTime("1h");
    for (const token of [hs512, otherIssuer, unsigned.encode()]) {
      expect(await reasonOf(tokens.verify(token))).toBe("TOKEN_INVALID");
    }
  });

  it("rejects malformed text with TOKEN_INVALID, never an internal error", async () => {
    const tokens = createTokenService({ secret, ttlMs });
    for (const garbage of ["", "abc", "a.b.c", "...", "e30.e30.", "%%%.%%%.%%%", "x".repeat(5000)]) {
      expect(await reasonOf(tokens.verify(garbage)), garbage.slice(0, 20)).toBe("TOKEN_INVALID");
    }
  });

  it("serves repeat verifies from the cache and forgets the least recently used beyond cacheEntries", async () => {
    const clock = new ManualClock();
    const tokens = createTokenService({ secret, ttlMs, clock, cacheEntries: 2 });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((name) => tokens.issue(name)));
    // A cache hit returns the very claims object verified before; a miss verifies afresh.
    const aClaims = await tokens.verify(a!.token);
    const bClaims = await tokens.verify(b!.token);
    expect(await tokens.verify(a!.token)).toBe(aClaims); // hit; a is now the most recent
    await tokens.verify(c!.token); // evicts b, the least recently used
    expect(await tokens.verify(a!.token)).toBe(aClaims);
    const bAgain = await tokens.verify(b!.token);
    expect(bAgain).toEqual(bClaims);
    expect(bAgain).not.toBe(bClaims);
  });

  it("refuses a secret shorter than 32 bytes", () => {
    expect(() => createTokenService({ secret: new Uint8Array(16), ttlMs })).toThrow(RangeError);
  });
});
