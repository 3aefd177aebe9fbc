import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "./config-error.ts";
import type { Config } from "./schema.ts";

/** Shortest secret accepted, matching the schema's rule for tokenSecret (HS256 wants ≥ 256 bits). */
const minSecretChars = 32;

/**
 * The HS256 key for login tokens: `config.tokenSecret` when set, otherwise
 * the text of `<dataDir>/token-secret`, created on first start (32 random
 * bytes as hex, mode 0600) so a standalone node's tokens survive restarts.
 * Either way the key is the UTF-8 bytes of the text, so pasting the file's
 * content into AVISO_TOKEN_SECRET keeps existing tokens valid. `onCreated`
 * hears the path when this call created the file (the operator backs it up).
 */
export async function resolveTokenSecret(
  config: Pick<Config, "tokenSecret" | "dataDir">,
  onCreated?: (path: string) => void,
): Promise<Uint8Array> {
  if (config.tokenSecret !== undefined) return new TextEncoder().encode(config.tokenSecret);
  const path = join(config.dataDir, "token-secret");
  const text = (await readIfPresent(path)) ?? (await createSecretFile(config.dataDir, path, onCreated));
  if (text.length < minSecretChars) {
    throw new ConfigError([
      `token secret file "${path}" holds fewer than ${minSecretChars} characters; delete it to regenerate`,
    ]);
  }
  return new TextEncoder().encode(text);
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Write to a private temp file, then hard-link it into place: the link fails
 * if another process won the race, and no reader ever sees a half-written file.
 */
async function createSecretFile(
  dataDir: string,
  path: string,
  onCreated: ((path: string) => void) | undefined,
): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const text = randomBytes(32).toString("hex");
  const tempPath = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tempPath, `${text}\n`, { mode: 0o600, flag: "wx" });
  try {
    await link(tempPath, path);
    onCreated?.(path);
    return text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const winner = await readIfPresent(path);
    if (winner === undefined) throw error;
    return winner;
  } finally {
    await unlink(tempPath);
  }
}
