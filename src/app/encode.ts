import { createHash } from "node:crypto";
import type { JsonText } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";

/** Serialises a payload once, refusing one larger than the configured limit. */
export function encodePayload(payload: unknown, maxPayloadBytes: number): JsonText {
  const text = JSON.stringify(payload);
  if (text === undefined) {
    throw new AvisoError("VALIDATION_FAILED", "`payload` must be a JSON value.", {
      details: { path: "/payload" },
    });
  }
  // UTF-8 is at most 3 bytes per UTF-16 unit; skip the exact count when it cannot matter.
  if (text.length * 3 > maxPayloadBytes && Buffer.byteLength(text) > maxPayloadBytes) {
    throw new AvisoError(
      "PAYLOAD_TOO_LARGE",
      `A payload is at most ${maxPayloadBytes} bytes of JSON; this one is ${Buffer.byteLength(text)}.`,
    );
  }
  return text;
}

/** Header names the broker sets itself (docs/protocol.md); a publisher may not (S8). */
const RESERVED_HEADER_PREFIX = "aviso-";

export function encodeHeaders(headers: Record<string, string> | undefined): JsonText | null {
  if (headers === undefined) return null;
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase().startsWith(RESERVED_HEADER_PREFIX)) {
      throw new AvisoError(
        "RESERVED_HEADER",
        `Header "${name.slice(0, 128)}" is reserved: only the broker sets headers named "aviso-…".`,
      );
    }
  }
  return Object.keys(headers).length === 0 ? null : JSON.stringify(headers);
}

export function assertBatchSize(count: number, maxBatchMessages: number): void {
  if (count === 0) {
    throw new AvisoError("VALIDATION_FAILED", "A batch holds at least one message.", {
      details: { path: "/messages" },
    });
  }
  if (count > maxBatchMessages) {
    throw new AvisoError("TOO_MANY_MESSAGES", `A batch holds at most ${maxBatchMessages} messages.`);
  }
}

/**
 * A client's idempotency key, scoped to its publisher (S6): the store keeps
 * keys per resource, so hashing in the username makes one user's key a
 * different key from another's. Hex SHA-256 never contains ":", so it never
 * meets the broker's own keys (`dead-letter:…`, src/app/engine-host.ts).
 */
export function publisherIdempotencyKey(username: string, key: string): string {
  return createHash("sha256").update(`${username}\0${key}`).digest("hex");
}
