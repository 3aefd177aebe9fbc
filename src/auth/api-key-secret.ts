import { createHash, randomBytes } from "node:crypto";

/** Every API key starts with this, so a bearer credential is told apart from a JWT without parsing it. */
export const apiKeyPrefix = "avk_";

/** A new key secret: 256 random bits, base64url. */
export function newApiKeySecret(): string {
  return `${apiKeyPrefix}${randomBytes(32).toString("base64url")}`;
}

export function isApiKeySecret(token: string): boolean {
  return token.startsWith(apiKeyPrefix);
}

/**
 * SHA-256, not bcrypt: bcrypt's cost protects guessable passwords; a 256-bit
 * random secret cannot be guessed however fast the hash, and a fast,
 * deterministic hash lets the store find the key by an index on it.
 */
export function hashApiKeySecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}
