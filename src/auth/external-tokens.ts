import { readFile } from "node:fs/promises";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import { AvisoError } from "../errors/aviso-error.ts";
import { type Clock, systemClock } from "../shared/clock.ts";
import type { TokenClaims } from "./tokens.ts";

/** What an external token proves: who, and until when (no Aviso token version: the issuer revokes by expiry). */
export type ExternalClaims = Omit<TokenClaims, "version">;

/**
 * Only asymmetric algorithms: the issuer keeps the private key, Aviso holds
 * public keys that cannot mint anything. HS256 would need a secret shared with
 * the issuer, and `none` proves nothing (docs/security.md S14).
 */
export const externalAlgorithms = ["RS256", "ES256", "EdDSA"] as const;

/** Seconds an external token's `exp`/`nbf` may be off because the issuer's clock is. */
export const clockSkewSec = 30;

export interface ExternalTokenOptions {
  issuer: string;
  audience: string;
  /** An http(s) URL or a file path holding a JWKS document. */
  jwks: string;
  /** Claim naming the user (`sub` by default). */
  usernameClaim: string;
  /** Put before the claim's value; ends in `:`, which local user names cannot hold. */
  userPrefix: string;
  /** Cooldown between refetches on an unknown `kid`; how often a file is re-read. */
  refreshMs: number;
  /** Aviso's user-name rule, applied to the claim's value with the room the prefix leaves. */
  isValidName(name: string, maxLength: number): boolean;
  maxNameLength: number;
  clock?: Pick<Clock, "now">;
}

export interface ExternalTokenVerifier {
  /** Whether the token claims to come from the external issuer (unverified: it only picks the verifier). */
  claimsIssuer(token: string): boolean;
  /** The mapped user and expiry; throws TOKEN_INVALID, TOKEN_EXPIRED or KEYS_UNAVAILABLE. */
  verify(token: string): Promise<ExternalClaims>;
}

/** Verifies JWTs minted by an application's own identity service (like Centrifugo's connection tokens). */
export function createExternalTokenVerifier(options: ExternalTokenOptions): ExternalTokenVerifier {
  const clock = options.clock ?? systemClock;
  const keys = /^https?:\/\//i.test(options.jwks)
    ? createRemoteJWKSet(new URL(options.jwks), {
        cooldownDuration: options.refreshMs,
        // Fetched keys are kept this long even when no token asks for a new one.
        cacheMaxAge: Math.max(options.refreshMs, 10 * 60_000),
      })
    : fileKeySet(options.jwks, options.refreshMs, clock);

  function claimsIssuer(token: string): boolean {
    try {
      return decodeJwt(token).iss === options.issuer;
    } catch {
      return false;
    }
  }

  async function verify(token: string): Promise<ExternalClaims> {
    let payload: Awaited<ReturnType<typeof jwtVerify>>["payload"];
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms: [...externalAlgorithms],
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ["exp", options.usernameClaim],
        clockTolerance: clockSkewSec,
        currentDate: new Date(clock.now()),
      }));
    } catch (error) {
      throw toAvisoError(error);
    }
    const value = payload[options.usernameClaim];
    const room = options.maxNameLength - options.userPrefix.length;
    if (typeof value !== "string" || !options.isValidName(value, room) || typeof payload.exp !== "number") {
      throw new AvisoError(
        "TOKEN_INVALID",
        `The token's "${options.usernameClaim}" claim is not a valid Aviso user name.`,
      );
    }
    return Object.freeze({
      username: `${options.userPrefix}${value}`,
      // The skew allowance that let the token in also keeps a socket open that long.
      expiresAt: (payload.exp + clockSkewSec) * 1000,
    });
  }

  return { claimsIssuer, verify };
}

/**
 * A JWKS file, re-read every `refreshMs` and on a token naming an unknown key
 * (at most once per `refreshMs`), so rotating keys needs no restart.
 */
function fileKeySet(path: string, refreshMs: number, clock: Pick<Clock, "now">): JWTVerifyGetKey {
  let current: { keys: JWTVerifyGetKey; loadedAt: number } | undefined;
  let loading: Promise<JWTVerifyGetKey> | undefined;

  const load = (): Promise<JWTVerifyGetKey> => {
    loading ??= readFile(path, "utf8")
      .then((text) => {
        const keys = createLocalJWKSet(JSON.parse(text) as JSONWebKeySet);
        current = { keys, loadedAt: clock.now() };
        return keys;
      })
      .catch((error: unknown) => {
        // Keep serving the last good set: a half-written file must not lock every user out.
        if (current !== undefined) return current.keys;
        throw new AvisoError("KEYS_UNAVAILABLE", `The JWKS file "${path}" cannot be read.`, { cause: error });
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  };
  const stale = () => current === undefined || clock.now() - current.loadedAt >= refreshMs;

  return async (header, token) => {
    const keys = stale() ? await load() : (current as { keys: JWTVerifyGetKey }).keys;
    try {
      return await keys(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || !stale()) throw error;
      return (await load())(header, token);
    }
  };
}

/** Map by jose's error class, never by message text. */
function toAvisoError(error: unknown): unknown {
  if (error instanceof AvisoError) return error;
  if (error instanceof joseErrors.JWTExpired)
    return new AvisoError("TOKEN_EXPIRED", undefined, { cause: error });
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid)
    return new AvisoError("KEYS_UNAVAILABLE", undefined, { cause: error });
  // Bad signature, unknown key, wrong alg/issuer/audience, missing claims: not a token we accept.
  if (error instanceof joseErrors.JOSEError)
    return new AvisoError("TOKEN_INVALID", undefined, { cause: error });
  // A JWKS URL that cannot be reached surfaces as fetch's own TypeError.
  if (error instanceof TypeError) return new AvisoError("KEYS_UNAVAILABLE", undefined, { cause: error });
  return error;
}
