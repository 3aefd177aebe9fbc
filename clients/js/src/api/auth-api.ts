import type { Credentials } from "../auth/token-keeper.ts";
import { AvisoClientError } from "../errors.ts";
import type { Me, TokenInfo } from "../types.ts";
import type { ClientContext } from "./context.ts";

/** Accounts and the client's login. */
export class AuthApi {
  constructor(private readonly context: ClientContext) {}

  /** Creates a user (POST /v1/auth/register). Does not log in. */
  register(credentials: Credentials): Promise<{ username: string; createdAt: number }> {
    this.context.assertOpen();
    return this.context.http.call({
      method: "POST",
      path: "/v1/auth/register",
      body: credentials,
      auth: false,
      retry: "unsent-only",
    });
  }

  /**
   * Logs in and uses the token from now on. The credentials are kept in
   * memory to log in again before the token expires. Without arguments it
   * uses the username and password given to createClient.
   */
  async login(credentials?: Credentials): Promise<TokenInfo> {
    this.context.assertOpen();
    const using = credentials ?? this.optionCredentials();
    const info = await this.context.http.call<TokenInfo>({
      method: "POST",
      path: "/v1/auth/login",
      body: using,
      auth: false,
      retry: "idempotent",
    });
    this.context.tokens.setCredentials(using);
    this.context.tokens.use(info);
    return info;
  }

  /** Forgets the token and credentials; calls that need a login fail with NOT_LOGGED_IN until the next login. */
  logout(): void {
    this.context.tokens.forget();
  }

  /** Who the token belongs to and when it expires. */
  me(): Promise<Me> {
    this.context.assertOpen();
    return this.context.http.call({ method: "GET", path: "/v1/me", auth: true, retry: "idempotent" });
  }

  private optionCredentials(): Credentials {
    const { username, password } = this.context.options;
    if (username === undefined || password === undefined) {
      throw AvisoClientError.client("INVALID_ARGUMENT", "login() needs a username and password.");
    }
    return { username, password };
  }
}
