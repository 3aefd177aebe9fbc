import type { TokenKeeper } from "../auth/token-keeper.ts";
import { AvisoClientError } from "../errors.ts";
import type { HttpTransport } from "../http/http-transport.ts";
import type { ClientOptions } from "../options.ts";
import type { Connection } from "../socket/connection.ts";
import type { OkFrame, RequestFrame } from "../socket/frames.ts";
import { sleep } from "../util/runtime.ts";

/** What the API groups share; built once by createClient. */
export interface ClientContext {
  readonly options: Readonly<ClientOptions>;
  readonly http: HttpTransport;
  readonly connection: Connection;
  readonly tokens: TokenKeeper;
  /** Open subscriptions, closed with the client. */
  readonly subscriptions: Set<{ close(): Promise<void> }>;
  /** Throws CLIENT_CLOSED once close() was called. */
  assertOpen(): void;
}

/** `/v1/queues/{name}…` with the name encoded. */
export function resourcePath(kind: "queues" | "topics", name: string, rest = ""): string {
  return `/v1/${kind}/${encodeURIComponent(name)}${rest}`;
}

/**
 * Publishes one message over the socket: resent on the next socket if this
 * one drops, and retried while the node answers 503, for up to retryForMs —
 * safe because the frame carries an idempotency key.
 */
export async function publishOverSocket(context: ClientContext, frame: RequestFrame): Promise<OkFrame> {
  const deadline = Date.now() + context.options.retryForMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await context.connection.request(frame, {
        resend: true,
        timeoutMs: Math.max(1, deadline - Date.now()),
      });
    } catch (thrown) {
      const error = AvisoClientError.from(thrown);
      if (error.code !== "unavailable" || Date.now() >= deadline) throw error;
      await sleep(Math.min(100 * 2 ** attempt, 2000, Math.max(0, deadline - Date.now())));
    }
  }
}

/** A fresh idempotency key unless the caller gave one. */
export function withIdempotencyKey<T extends { idempotencyKey?: string }>(
  message: T,
  newKey: () => string,
): T & { idempotencyKey: string } {
  return { ...message, idempotencyKey: message.idempotencyKey ?? newKey() };
}

/** Drops undefined fields so bodies stay minimal (the node refuses unknown fields, not absent ones). */
export function compact<T extends Record<string, unknown>>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;
}
