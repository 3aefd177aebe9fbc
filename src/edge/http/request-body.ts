import type { HttpResponse } from "uWebSockets.js";
import { AvisoError } from "../../errors/aviso-error.ts";
import { assertJsonDepth } from "../json-depth.ts";

/**
 * Collects a request body, refusing more than `limitBytes`. uWS hands chunks
 * that are invalid after the callback returns, so each is copied.
 */
export function readBody(
  res: HttpResponse,
  limitBytes: number,
  declaredLength: number | undefined,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaredLength !== undefined && declaredLength > limitBytes) {
      reject(bodyTooLarge(limitBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    res.onData((chunk, isLast) => {
      if (failed) return;
      size += chunk.byteLength;
      if (size > limitBytes) {
        failed = true;
        reject(bodyTooLarge(limitBytes));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
  });
}

function bodyTooLarge(limitBytes: number): AvisoError {
  return new AvisoError("BODY_TOO_LARGE", `A request body is at most ${limitBytes} bytes.`);
}

/** Parses a JSON body; an empty body is `{}` (routes whose fields are all optional). Too deep: refused unparsed. */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  const text = body.toString("utf8");
  assertJsonDepth(text);
  try {
    return JSON.parse(text);
  } catch {
    throw new AvisoError("BAD_JSON", "The request body is not valid JSON.");
  }
}
