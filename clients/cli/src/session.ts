import { type AvisoClient, createClient } from "@aviso/client";
import { type CliConfig, DEFAULT_SERVER, loadConfig, saveConfig } from "./config-store.ts";
import type { Output } from "./output.ts";

/** A person at a prompt would rather hear "unreachable" soon than wait out the SDK's 15 s of retries. */
export const CLI_RETRY_FOR_MS = 3000;

/**
 * One CLI run: where the config lives, which servers to use (flags win over
 * the config file, which wins over the default), and the SDK client built
 * from the saved token. Commands get it instead of reading globals.
 */
export class CliSession {
  private clientValue: AvisoClient | null = null;
  private configValue: CliConfig | null = null;

  constructor(
    readonly configPath: string,
    readonly output: Output,
    private readonly serverFlags: readonly string[] | undefined,
  ) {}

  async config(): Promise<CliConfig> {
    this.configValue ??= await loadConfig(this.configPath);
    return this.configValue;
  }

  async updateConfig(change: (config: CliConfig) => CliConfig): Promise<void> {
    this.configValue = change(await this.config());
    await saveConfig(this.configPath, this.configValue);
  }

  async servers(): Promise<string[]> {
    if (this.serverFlags !== undefined && this.serverFlags.length > 0) {
      return this.serverFlags
        .flatMap((flag) => flag.split(","))
        .map((url) => url.trim())
        .filter(Boolean);
    }
    const saved = (await this.config()).servers;
    return saved !== undefined && saved.length > 0 ? saved : [DEFAULT_SERVER];
  }

  /** A client carrying the saved token (none if logged out: calls then fail with NOT_LOGGED_IN). */
  async client(): Promise<AvisoClient> {
    if (this.clientValue === null) {
      const { token } = await this.config();
      this.clientValue = createClient({
        urls: await this.servers(),
        randomizeUrls: false,
        retryForMs: CLI_RETRY_FOR_MS,
        ...(token === undefined ? {} : { token }),
      });
    }
    return this.clientValue;
  }

  /** Replaces the client (after login/logout in the interactive menu). */
  async resetClient(): Promise<void> {
    const client = this.clientValue;
    this.clientValue = null;
    await client?.close();
  }

  async close(): Promise<void> {
    await this.resetClient();
  }
}
