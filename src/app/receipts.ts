import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

/**
 * Sealed pull receipts (docs/security.md S5). The broker's receipt names a
 * delivery but is predictable (epoch, seq and lease count up), so the app
 * layer hands clients `raw + "." + tag`, where the tag is an HMAC over the
 * queue, the receiving user and the raw receipt. Only a receipt sealed for
 * this user on this queue opens; the serving node only ever sees raw receipts.
 */

/** 144 bits of HMAC-SHA256: base64url without padding, so every tag has exactly one spelling. */
const TAG_BYTES = 18;

/**
 * The receipt key, derived from the token secret. Every node of a cluster
 * holds the same token secret (docs/operations.md), so a receipt sealed on
 * one node opens on any other.
 */
export function deriveReceiptKey(tokenSecret: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", tokenSecret, new Uint8Array(0), "aviso receipt v1", 32));
}

function tagOf(key: Uint8Array, queue: string, username: string, raw: string): string {
  // Names and usernames never contain NUL (src/app/names.ts), so the fields cannot run together.
  const mac = createHmac("sha256", key).update(`${queue}\0${username}\0${raw}`).digest();
  return mac.subarray(0, TAG_BYTES).toString("base64url");
}

export function sealReceipt(key: Uint8Array, queue: string, username: string, raw: string): string {
  return `${raw}.${tagOf(key, queue, username, raw)}`;
}

/** The broker's receipt inside `receipt`, or undefined when it was not sealed for this user on this queue. */
export function openReceipt(
  key: Uint8Array,
  queue: string,
  username: string,
  receipt: string,
): string | undefined {
  const dot = receipt.lastIndexOf(".");
  if (dot <= 0) return undefined;
  const raw = receipt.slice(0, dot);
  const given = Buffer.from(receipt.slice(dot + 1));
  const expected = Buffer.from(tagOf(key, queue, username, raw));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  return raw;
}
