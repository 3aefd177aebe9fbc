import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** What `aviso login` remembers between runs. */
export interface CliConfig {
  /** Base URLs of the nodes, tried in order. */
  servers?: string[];
  username?: string;
  token?: string;
  /** Token expiry, epoch ms. */
  expiresAt?: number;
}

export const DEFAULT_SERVER = "http://127.0.0.1:8080";

/**
 * The config file: AVISO_CLI_CONFIG if set, else $XDG_CONFIG_HOME/aviso/config.json,
 * else ~/.config/aviso/config.json. It holds a token, so it is written 0600 in a 0700 folder.
 */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AVISO_CLI_CONFIG !== undefined && env.AVISO_CLI_CONFIG !== "") return env.AVISO_CLI_CONFIG;
  const base =
    env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== ""
      ? env.XDG_CONFIG_HOME
      : join(homedir(), ".config");
  return join(base, "aviso", "config.json");
}

export async function loadConfig(path: string): Promise<CliConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null ? (parsed as CliConfig) : {};
  } catch {
    throw new Error(`${path} is not valid JSON; fix or delete it.`);
  }
}

export async function saveConfig(path: string, config: CliConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode applies only when it creates the file.
  await chmod(path, 0o600);
}

export async function deleteConfig(path: string): Promise<void> {
  await rm(path, { force: true });
}
