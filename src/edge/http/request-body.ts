import type { HttpResponse } from "uWebSockets.js";
import { AvisoError } from "../../errors/aviso-error.ts";
import { assertJsonDepth } from "../json-depth.ts";

/** A request body being collected; see openBody. */
export interface PendingBody {
  /** Resolves with the whole body, or rejects with BODY_TOO_LARGE. */
  readonly body: Promise<Buffer>;
  /** True once the last chunk arrived and reading is not paused: the connection may serve another request. */
  readonly reusable: boolean;
  /** Stops uWS reading the socket: what is not read yet stays in the kernel, not in our memory. */
  pause(): void;
  resume(): void;
}

/**
 * Starts collecting a request body, refusing more than `limitBytes`. Must be
 * called in the request callback: uWS drops chunks that arrive while no
 * handler is registered. uWS hands chunks that are invalid after the callback
 * returns, so each is copied. A declared length over the limit is refused
 * without registering a handler.
 */
export function openBody(
  res: HttpResponse,
  limitBytes: number,
  declaredLength: number | undefined,
  aborted: () => boolean,
): PendingBody {
  let complete = false;
  let paused = false;
  const body = new Promise<Buffer>((resolve, reject) => {
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
      if (isLast) {
        complete = true;
        resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
      }
    });
  });
  // Callers that fail before awaiting the body (a bad token) must not leave an unhandled rejection.
  body.catch(() => undefined);
  return {
    body,
    get reusable() {
      return complete && !paused;
    },
    pause() {
      if (complete || paused || aborted()) return;
      paused = true;
      res.pause();
    },
    resume() {
      // Even when the last chunk came in while paused: the socket itself stays paused until resumed.
      if (!paused || aborted()) return;
      paused = false;
      res.resume();
    },
  };
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
