import { AvisoClientError } from "../errors.ts";
import type { TokenProvider } from "../http/http-transport.ts";
import type { TokenAnswer } from "../options.ts";
import type { TokenInfo } from "../types.ts";
import { Emitter } from "../util/emitter.ts";
import { backgroundTimer, type TimerHandle } from "../util/runtime.ts";

export interface Credentials {
  username: string;
  password: string;
}

export interface TokenKeeperDeps {
  /** POST /v1/auth/login without a token. */
  login(credentials: Credentials): Promise<TokenInfo>;
  /** GET /v1/me with the current token: learns the expiry of a token handed over without one. */
  expiryOf(): Promise<number>;
  getToken: (() => Promise<TokenAnswer> | TokenAnswer) | undefined;
  refreshMarginMs: number;
}

export interface TokenKeeperEvents extends Record<string, unknown> {
  /** A new token replaced the old one (login, refresh): the live socket re-authenticates with it. */
  refreshed: { token: string; expiresAt: number | undefined };
}

/**
 * Holds the client's token and gets a new one before it expires: from the
 * `getToken` callback, or by logging in again with the stored credentials.
 * One refresh at a time; every caller waiting for a token shares it.
 */
export class TokenKeeper implements TokenProvider {
  readonly events = new Emitter<TokenKeeperEvents>();
  private current: string | null = null;
  private expiresAt: number | undefined;
  private credentials: Credentials | null = null;
  private refreshing: Promise<string> | null = null;
  private refreshTimer: TimerHandle | null = null;
  private stopped = false;

  constructor(private readonly deps: TokenKeeperDeps) {}

  /** A token can be (re)obtained without the user: getToken or stored credentials. */
  get canRefresh(): boolean {
    return this.deps.getToken !== undefined || this.credentials !== null;
  }

  get username(): string | undefined {
    return this.credentials?.username;
  }

  get expiry(): number | undefined {
    return this.expiresAt;
  }

  /** A valid token: the current one, or a fresh one when it is missing or (nearly) expired. */
  async token(): Promise<string> {
    if (this.refreshing !== null) return this.refreshing;
    const expired = this.expiresAt !== undefined && Date.now() >= this.expiresAt - 1000;
    if (this.current !== null && !(expired && this.canRefresh)) return this.current;
    if (this.canRefresh) return this.refresh();
    throw AvisoClientError.client(
      "NOT_LOGGED_IN",
      "Not logged in: give the client a token, username and password, or getToken, or call auth.login().",
    );
  }

  /** The server refused `rejected` (expired, invalid): get another, or null when none can be had. */
  async refreshAfterRejection(rejected: string): Promise<string | null> {
    if (!this.canRefresh) return null;
    if (this.current !== null && this.current !== rejected) return this.current;
    return this.refresh();
  }

  /** Gets a new token now (single flight). */
  refresh(): Promise<string> {
    this.refreshing ??= this.obtain().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** Uses this token from now on (login answer, or one given by the application). */
  use(info: { token: string; expiresAt?: number | undefined }): void {
    this.current = info.token;
    this.expiresAt = info.expiresAt;
    this.scheduleRefresh();
    this.events.emit("refreshed", { token: info.token, expiresAt: info.expiresAt });
    if (info.expiresAt === undefined && this.deps.getToken !== undefined) void this.learnExpiry(info.token);
  }

  setCredentials(credentials: Credentials | null): void {
    this.credentials = credentials;
  }

  /** Forgets token and credentials (logout). */
  forget(): void {
    this.current = null;
    this.expiresAt = undefined;
    this.credentials = null;
    this.refreshTimer?.cancel();
    this.refreshTimer = null;
  }

  stop(): void {
    this.stopped = true;
    this.refreshTimer?.cancel();
    this.events.removeAll();
  }

  private async obtain(): Promise<string> {
    if (this.deps.getToken !== undefined) {
      const answer = await this.deps.getToken();
      const info = typeof answer === "string" ? { token: answer } : answer;
      this.use(info);
      return info.token;
    }
    if (this.credentials !== null) {
      const info = await this.deps.login(this.credentials);
      this.use(info);
      return info.token;
    }
    throw AvisoClientError.client("NOT_LOGGED_IN", "No credentials or getToken to obtain a new token with.");
  }

  /** Refresh ahead of expiry: the margin, but at most half of the remaining life (short test tokens). */
  private scheduleRefresh(): void {
    this.refreshTimer?.cancel();
    this.refreshTimer = null;
    if (this.stopped || this.expiresAt === undefined || !this.canRefresh) return;
    const remainingMs = this.expiresAt - Date.now();
    const marginMs = Math.min(this.deps.refreshMarginMs, remainingMs / 2);
    this.refreshTimer = backgroundTimer(Math.max(0, remainingMs - marginMs), () => {
      // A failed refresh is retried by the next caller that needs a token.
      this.refresh().catch(() => {});
    });
  }

  private async learnExpiry(token: string): Promise<void> {
    try {
      const expiresAt = await this.deps.expiryOf();
      if (this.current !== token) return;
      this.expiresAt = expiresAt;
      this.scheduleRefresh();
    } catch {
      // Without an expiry the token is refreshed when the server refuses it.
    }
  }
}
