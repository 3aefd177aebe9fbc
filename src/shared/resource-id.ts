import { randomBytes } from "node:crypto";

/**
 * A new queue or topic id: 16 random bytes as 22 base64url characters. Ids
 * are opaque: rows that existed before ids (migration 003) got 32 hex
 * characters instead. Never reused, so a reference by id cannot silently
 * point at a later resource that took the same name (docs/security.md S4).
 */
export function newResourceId(): string {
  return randomBytes(16).toString("base64url");
}
