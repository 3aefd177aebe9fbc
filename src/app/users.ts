import { hashPassword, isPasswordTooLong, verifyLogin } from "../auth/passwords.ts";
import type { Config } from "../config/schema.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { AppContext, Principal } from "./context.ts";
import { assertValidName } from "./names.ts";

/** Whether the `operators` setting names this user. */
export function isOperator(config: Pick<Config, "operators">, username: string): boolean {
  return config.operators !== "" && config.operators.split(",").includes(username);
}

function assertOperator(principal: Principal, action: string): void {
  if (!principal.operator) throw new AvisoError("OPERATOR_REQUIRED", `Only an operator may ${action}.`);
}

export interface Credentials {
  username: string;
  password: string;
}

/** Registration, login, token checks, revocation and deletion (docs/security.md S9). */
export class UserService {
  constructor(private readonly ctx: AppContext) {}

  /** Self-service registration: refused when closed, limited per address. */
  async register(credentials: Credentials, ip: string): Promise<{ username: string; createdAt: number }> {
    if (this.ctx.config.registration === "closed") {
      throw new AvisoError(
        "REGISTRATION_CLOSED",
        "Registration is closed on this node; ask an operator to create your user.",
      );
    }
    this.ctx.registrationLimiter.take(ip);
    return this.create(credentials);
  }

  /** An operator creates a user (POST /v1/users), open registration or not. */
  async createByOperator(
    principal: Principal,
    credentials: Credentials,
  ): Promise<{ username: string; createdAt: number }> {
    assertOperator(principal, "create users");
    return this.create(credentials);
  }

  /** The same answer for an unknown or deleted user and a wrong password; attempts are rate limited per user and address. */
  async login(
    { username, password }: Credentials,
    ip: string,
  ): Promise<{ token: string; expiresAt: number }> {
    const { config, store, tokens } = this.ctx;
    // The slot is taken before bcrypt, so guesses in flight count like failures.
    const attempt = this.ctx.loginLimiter.begin(username, ip);
    let user: Awaited<ReturnType<typeof store.getUser>>;
    let ok: boolean;
    try {
      user = await store.getUser(username);
      const live = user?.deletedAt === undefined ? user : undefined;
      ok = await verifyLogin(password, live?.passwordHash, config.bcryptCost, this.ctx.passwords);
    } catch (error) {
      attempt.abandoned();
      throw error;
    }
    if (!ok || user === undefined) {
      attempt.failed();
      throw new AvisoError("BAD_CREDENTIALS", "Unknown user or wrong password.");
    }
    attempt.succeeded();
    const issued = await tokens.issue(username, user.tokenVersion);
    return { token: issued.token, expiresAt: issued.expiresAt };
  }

  /** An API key, a token of the external issuer (S14), or else one of Aviso's own tokens. */
  async authenticate(token: string): Promise<Principal> {
    const other = await this.ctx.credentials.authenticate(token);
    if (other !== undefined) {
      // A key belongs to a local user and dies with them (S9), on every node within the user cache's time.
      if (other.apiKey !== undefined) await this.assertNotRevoked(other.username);
      return other;
    }
    const claims = await this.ctx.tokens.verify(token);
    await this.assertNotRevoked(claims.username, claims.version);
    return {
      username: claims.username,
      tokenExpiresAt: claims.expiresAt,
      operator: isOperator(this.ctx.config, claims.username),
    };
  }

  /** Log out everywhere: every token of the caller stops working, on every node. */
  async logoutAll(principal: Principal): Promise<void> {
    mustHaveBeenLive(await this.revokeTokens(principal.username), principal.username, true);
  }

  /** An operator logs a user out everywhere. */
  async logoutAllByOperator(principal: Principal, username: string): Promise<void> {
    assertOperator(principal, "log other users out");
    mustHaveBeenLive(await this.revokeTokens(username), username, false);
  }

  /** Deletes the caller. */
  async deleteSelf(principal: Principal): Promise<void> {
    mustHaveBeenLive(await this.remove(principal.username), principal.username, true);
  }

  /** An operator deletes any user. */
  async deleteByOperator(principal: Principal, username: string): Promise<void> {
    assertOperator(principal, "delete other users");
    mustHaveBeenLive(await this.remove(username), username, false);
  }

  /** Subscribe to "userRevoked": every revocation this node learns of, made here or by a peer. */
  onUserRevoked(listener: (username: string) => void): () => void {
    return this.ctx.userDirectory.onRevoked(listener);
  }

  private async create({
    username,
    password,
  }: Credentials): Promise<{ username: string; createdAt: number }> {
    const { config, store, clock } = this.ctx;
    assertValidName("user", username, config.maxNameLength);
    if (password.length < config.minPasswordLength) {
      throw new AvisoError(
        "WEAK_PASSWORD",
        `A password has at least ${config.minPasswordLength} characters.`,
      );
    }
    if (isPasswordTooLong(password)) throw new AvisoError("PASSWORD_TOO_LONG");
    const createdAt = clock.now();
    const passwordHash = await hashPassword(password, config.bcryptCost, this.ctx.passwords);
    await store.createUser({ username, passwordHash, createdAt });
    return { username, createdAt };
  }

  /** Bumps the user's token version and tells every node; false if no live user has the name. */
  private async revokeTokens(username: string): Promise<boolean> {
    if ((await this.ctx.store.revokeTokens(username)) === undefined) return false;
    await this.ctx.userDirectory.revoked(username);
    return true;
  }

  /**
   * Soft-deletes a user: the name stays taken, every token is revoked, the
   * grants they hold go (caches and peers learn through catalog.changed),
   * the queues and topics they created stay. False if no live user has the name.
   */
  private async remove(username: string): Promise<boolean> {
    const { store, clock, catalog, userDirectory } = this.ctx;
    const removedGrants = await store.deleteUser(username, clock.now());
    if (removedGrants === undefined) return false;
    await userDirectory.revoked(username);
    await Promise.all(removedGrants.map(({ kind, resource }) => catalog.changed(kind, resource)));
    return true;
  }

  /**
   * A credential counts only while its user is live; a login token also only
   * at the user's current token version (an API key has none: it is revoked by itself).
   */
  private async assertNotRevoked(username: string, version?: number): Promise<void> {
    const standing = await this.ctx.userDirectory.standing(username);
    const stale = version !== undefined && standing?.tokenVersion !== version;
    if (standing === undefined || standing.deleted || stale) throw revokedError();
  }
}

function revokedError(): AvisoError {
  return new AvisoError("TOKEN_REVOKED", "This token was revoked; log in again.");
}

/**
 * After acting on a user who turned out not to be live: a caller acting on
 * themselves was deleted meanwhile (their token is revoked); anyone else
 * named no live user.
 */
function mustHaveBeenLive(live: boolean, username: string, self: boolean): void {
  if (live) return;
  if (self) throw revokedError();
  throw new AvisoError("USER_NOT_FOUND", `No user is named "${username}".`);
}
