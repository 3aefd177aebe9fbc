import { hashPassword, isPasswordTooLong, verifyLogin } from "../auth/passwords.ts";
import type { Config } from "../config/schema.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { AppContext, Principal } from "./context.ts";
import { assertValidName } from "./names.ts";

/** Whether the `operators` setting names this user. */
export function isOperator(config: Pick<Config, "operators">, username: string): boolean {
  return config.operators !== "" && config.operators.split(",").includes(username);
}

export interface Credentials {
  username: string;
  password: string;
}

/** Registration, login and token checks. */
export class UserService {
  constructor(private readonly ctx: AppContext) {}

  async register({ username, password }: Credentials): Promise<{ username: string; createdAt: number }> {
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

  /** The same answer for an unknown user and a wrong password; failures are rate limited per user and address. */
  async login(
    { username, password }: Credentials,
    ip: string,
  ): Promise<{ token: string; expiresAt: number }> {
    const { config, store, loginLimiter, tokens } = this.ctx;
    loginLimiter.check(username, ip);
    const user = await store.getUser(username);
    const ok = await verifyLogin(password, user?.passwordHash, config.bcryptCost, this.ctx.passwords);
    if (!ok) {
      loginLimiter.recordFailure(username, ip);
      throw new AvisoError("BAD_CREDENTIALS", "Unknown user or wrong password.");
    }
    loginLimiter.recordSuccess(username, ip);
    const issued = await tokens.issue(username);
    return { token: issued.token, expiresAt: issued.expiresAt };
  }

  /** An API key, a token of the external issuer (S14), or else one of Aviso's own tokens. */
  async authenticate(token: string): Promise<Principal> {
    const other = await this.ctx.credentials.authenticate(token);
    if (other !== undefined) return other;
    const claims = await this.ctx.tokens.verify(token);
    return {
      username: claims.username,
      tokenExpiresAt: claims.expiresAt,
      operator: isOperator(this.ctx.config, claims.username),
    };
  }
}
