import { hashApiKeySecret, isApiKeySecret } from "../auth/api-key-secret.ts";
import { createExternalTokenVerifier, type ExternalTokenVerifier } from "../auth/external-tokens.ts";
import type { Config } from "../config/schema.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { Clock } from "../shared/clock.ts";
import type { ApiKeyRecord } from "../store/api-key-record.ts";
import type { Store } from "../store/store.ts";
import type { Principal } from "./context.ts";
import { isValidName } from "./names.ts";

/** Keys never expire: the principal's expiry is the largest safe epoch. */
const noExpiry = Number.MAX_SAFE_INTEGER;

/**
 * The credentials other than Aviso's own login tokens (docs/security.md S14):
 * API keys (`avk_…`) and JWTs from the configured external issuer.
 */
export class Credentials {
  /** Verified keys by secret hash; an entry is trusted for apiKeyCacheMs, then read again. */
  private readonly keyCache = new Map<string, { record: ApiKeyRecord | undefined; readAt: number }>();
  /** Bounds memory: past it the cache starts over (keys are re-read, never trusted longer). */
  private readonly maxCachedKeys = 10_000;

  constructor(
    private readonly config: Config,
    private readonly store: Store,
    private readonly clock: Clock,
    readonly externalTokens: ExternalTokenVerifier | null,
  ) {}

  /**
   * A principal for an API key or an external token; undefined for anything
   * else (Aviso's own tokens are checked by the caller). The issuer is read
   * unverified only to choose the verifier: that verifier then checks
   * everything, and the external issuer can never be "aviso" (config).
   */
  async authenticate(token: string): Promise<Principal | undefined> {
    if (isApiKeySecret(token)) return this.authenticateApiKey(token);
    if (this.externalTokens?.claimsIssuer(token) === true) {
      const claims = await this.externalTokens.verify(token);
      // Operators are local users only: an external issuer cannot mint operator rights.
      return { username: claims.username, tokenExpiresAt: claims.expiresAt, operator: false };
    }
    return undefined;
  }

  /** Revocation on this node takes effect at once; other nodes drop their copy within apiKeyCacheMs. */
  forgetApiKey(secretHash: string): void {
    this.keyCache.delete(secretHash);
  }

  private async authenticateApiKey(secret: string): Promise<Principal> {
    const secretHash = hashApiKeySecret(secret);
    const now = this.clock.now();
    let cached = this.keyCache.get(secretHash);
    if (cached === undefined || now - cached.readAt >= this.config.apiKeyCacheMs) {
      cached = { record: await this.store.getApiKeyBySecretHash(secretHash), readAt: now };
      // Only keys that exist are remembered: guessed secrets cannot push real keys out.
      if (cached.record === undefined) this.keyCache.delete(secretHash);
      else if (this.config.apiKeyCacheMs > 0) {
        if (this.keyCache.size >= this.maxCachedKeys) this.keyCache.clear();
        this.keyCache.set(secretHash, cached);
      }
    }
    const { record } = cached;
    if (record === undefined) throw new AvisoError("TOKEN_INVALID", "Unknown or revoked API key.");
    if (record.expiresAt !== null && now >= record.expiresAt) throw new AvisoError("TOKEN_EXPIRED");
    return {
      username: record.username,
      tokenExpiresAt: record.expiresAt ?? noExpiry,
      // A key never carries operator rights: user management needs a login token (S14).
      operator: false,
      apiKey: { id: record.id, scope: record.scope },
    };
  }
}

export function createCredentials(config: Config, store: Store, clock: Clock): Credentials {
  const { jwtIssuer, jwtAudience, jwtJwks } = config;
  const externalTokens =
    jwtIssuer === undefined || jwtAudience === undefined || jwtJwks === undefined
      ? null
      : createExternalTokenVerifier({
          issuer: jwtIssuer,
          audience: jwtAudience,
          jwks: jwtJwks,
          usernameClaim: config.jwtUsernameClaim,
          userPrefix: config.jwtUserPrefix,
          refreshMs: config.jwtJwksRefreshMs,
          isValidName,
          maxNameLength: config.maxNameLength,
          clock,
        });
  return new Credentials(config, store, clock, externalTokens);
}
