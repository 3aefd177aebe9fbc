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

export function encodeHeaders(headers: Record<string, string> | undefined): JsonText | null {
  if (headers === undefined) return null;
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
