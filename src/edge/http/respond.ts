import type { HttpResponse } from "uWebSockets.js";
import type { AvisoError } from "../../errors/aviso-error.ts";
import { httpStatusText } from "../../errors/http-status.ts";
import type { Reply } from "./route.ts";

export function statusLine(status: number): string {
  return `${status} ${httpStatusText[status] ?? ""}`.trimEnd();
}

/** On every answer (S13): a browser never guesses a content type other than the one sent. */
const standardHeaders: Readonly<Record<string, string>> = { "X-Content-Type-Options": "nosniff" };

/**
 * Writes a whole reply in one corked write; does nothing if the client already went away.
 * `closeConnection` ends the connection after the reply: a request body we did not read
 * (refused before it was needed) is then never read at all.
 */
export function writeReply(
  res: HttpResponse,
  reply: Reply,
  extraHeaders: Record<string, string>,
  aborted: () => boolean,
  closeConnection = false,
) {
  if (aborted()) return;
  let body: string | undefined;
  let contentType = "application/json";
  if ("json" in reply) body = reply.json;
  else if ("text" in reply) {
    body = reply.text;
    contentType = reply.contentType;
  } else if (reply.body !== undefined) body = JSON.stringify(reply.body);
  res.cork(() => {
    res.writeStatus(statusLine(reply.status));
    for (const [name, value] of Object.entries(standardHeaders)) res.writeHeader(name, value);
    for (const [name, value] of Object.entries(extraHeaders)) res.writeHeader(name, value);
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.writeHeader(name, value);
    if (body === undefined) {
      res.end(undefined, closeConnection);
      return;
    }
    res.writeHeader("Content-Type", contentType);
    res.end(body, closeConnection);
  });
}

export function errorReply(error: AvisoError): Reply {
  const headers: Record<string, string> = {};
  if (error.code === "unauthenticated") headers["WWW-Authenticate"] = 'Bearer realm="aviso"';
  const retryAfterMs = error.details?.retryAfterMs;
  if (typeof retryAfterMs === "number")
    headers["Retry-After"] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  return { status: error.httpStatus, body: error.toBody(), headers };
}
