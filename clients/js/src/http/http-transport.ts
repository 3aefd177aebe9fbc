import { AvisoClientError, isRecord } from "../errors.ts";
import { backoffDelayMs, type ClientOptions } from "../options.ts";
import { sleep } from "../util/runtime.ts";
import type { NodeChoice, NodeList } from "./node-list.ts";
import { type ResourceRef, ServingNodeHints } from "./serving-node-hints.ts";

/**
 * When a failed call may be sent again (to the next node):
 * - "idempotent": after any network error, timeout or 503 — repeating it cannot do harm
 *   (reads, deletes, publishes carrying an idempotency key, acks, receives);
 * - "unsent-only": only when the request surely did not take effect (connection refused,
 *   or a 503 that says nothing was done), e.g. creating a queue.
 */
export type RetryPolicy = "idempotent" | "unsent-only";

export interface HttpCall {
  method: "GET" | "POST" | "DELETE";
  /** Path with query, already encoded: `/v1/queues/jobs`. */
  path: string;
  body?: unknown;
  /** Send the bearer token (every route but register, login and health). */
  auth: boolean;
  retry: RetryPolicy;
  /** One attempt's timeout; default requestTimeoutMs. */
  timeoutMs?: number;
  /** The queue or topic the call is about: with `preferServingNodes` it goes to the node serving it. */
  resource?: ResourceRef;
}

/** Where REST calls get their bearer token; `refresh` answers null when no fresh one can be had. */
export interface TokenProvider {
  token(): Promise<string>;
  refreshAfterRejection(rejected: string): Promise<string | null>;
}

/** Network error codes that mean the request never reached a node. */
const UNSENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** How long a lookup's answer is used before it is asked again. */
const SERVING_NODE_HINT_TTL_MS = 30_000;
/** Not a position in the node list: advancePast() leaves the list alone for it. */
const HINTED = -1;

/** JSON over fetch with retries across the node list, typed errors and in-call token refresh. */
export class HttpTransport {
  private readonly servingNodes: ServingNodeHints | undefined;

  constructor(
    private readonly options: Readonly<ClientOptions>,
    private readonly nodes: NodeList,
    private readonly tokens: TokenProvider,
    private readonly closed: AbortSignal,
  ) {
    this.servingNodes = options.preferServingNodes
      ? new ServingNodeHints(options.urls, (resource) => this.lookup(resource), SERVING_NODE_HINT_TTL_MS)
      : undefined;
  }

  async call<T>(call: HttpCall): Promise<T> {
    const deadline = Date.now() + this.options.retryForMs;
    let refreshedToken = false;
    let hinted = call.resource === undefined ? undefined : this.servingNodes?.urlFor(call.resource);
    for (let attempt = 1; ; attempt++) {
      const node: NodeChoice = hinted === undefined ? this.nodes.current() : { index: HINTED, url: hinted };
      let failure: AvisoClientError;
      let retryable: boolean;
      try {
        const token = call.auth ? await this.tokens.token() : undefined;
        const response = await this.send(node.url, call, token);
        if (response.ok) return response.body as T;
        failure = response.error;
        if (token !== undefined && failure.status === 401 && !refreshedToken && isStaleToken(failure)) {
          refreshedToken = true;
          if ((await this.tokens.refreshAfterRejection(token)) !== null) continue;
        }
        // The server says whether the failure is transient and whether the call may have taken effect.
        retryable =
          failure.retry === "always" || (failure.retry === "if-idempotent" && call.retry === "idempotent");
      } catch (thrown) {
        failure = this.classify(thrown);
        if (failure.reason !== "NETWORK_ERROR" && failure.reason !== "TIMEOUT") throw failure;
        retryable = call.retry === "idempotent" || isUnsent(thrown);
      }
      if (!retryable || this.closed.aborted || Date.now() >= deadline) throw failure;
      if (hinted !== undefined && call.resource !== undefined) {
        // The serving node failed the call: forget it and go on through the node list.
        this.servingNodes?.forget(call.resource);
        hinted = undefined;
        continue;
      }
      this.nodes.advancePast(node);
      // A full round over the nodes without success: back off before the next round.
      const round = Math.floor(attempt / this.nodes.urls.length);
      if (attempt % this.nodes.urls.length === 0) {
        await sleep(
          Math.min(backoffDelayMs(round, this.options.reconnect), deadline - Date.now()),
          this.closed,
        );
      }
    }
  }

  private async lookup(resource: ResourceRef): Promise<string> {
    const path = `/v1/${resource.kind}/${encodeURIComponent(resource.name)}/lookup`;
    const found = await this.call<{ httpUrl: string }>({
      method: "GET",
      path,
      auth: true,
      retry: "idempotent",
    });
    return found.httpUrl;
  }

  private async send(
    baseUrl: string,
    call: HttpCall,
    token: string | undefined,
  ): Promise<{ ok: true; body: unknown } | { ok: false; error: AvisoClientError }> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (call.body !== undefined) headers["content-type"] = "application/json";
    const fetchImpl = this.options.fetch ?? globalThis.fetch;
    const signal = AbortSignal.any([
      this.closed,
      AbortSignal.timeout(call.timeoutMs ?? this.options.requestTimeoutMs),
    ]);
    const response = await fetchImpl(`${baseUrl}${call.path}`, {
      method: call.method,
      headers,
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      signal,
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch (cause) {
      return {
        ok: false,
        error: new AvisoClientError({
          code: "internal",
          reason: "UNEXPECTED_RESPONSE",
          message: `${call.method} ${call.path} answered ${response.status} with a body that is not JSON.`,
          status: response.status,
          cause,
        }),
      };
    }
    if (response.ok) return { ok: true, body };
    const error = isRecord(body) && isRecord(body.error) ? body.error : { message: text };
    return { ok: false, error: AvisoClientError.fromServer(error, response.status) };
  }

  private classify(thrown: unknown): AvisoClientError {
    if (thrown instanceof AvisoClientError) return thrown;
    if (this.closed.aborted)
      return AvisoClientError.client("CLIENT_CLOSED", "The client was closed.", thrown);
    const name = thrown instanceof Error ? thrown.name : "";
    if (name === "TimeoutError" || name === "AbortError") {
      return AvisoClientError.client("TIMEOUT", "The node did not answer in time.", thrown);
    }
    const detail = errorCode(thrown) ?? (thrown instanceof Error ? thrown.message : String(thrown));
    return AvisoClientError.client("NETWORK_ERROR", `Could not reach the node (${detail}).`, thrown);
  }
}

function isStaleToken(error: AvisoClientError): boolean {
  return error.reason === "TOKEN_EXPIRED" || error.reason === "TOKEN_INVALID";
}

/** fetch wraps the socket error: Node's undici puts it in `cause` (sometimes an AggregateError). */
function errorCode(thrown: unknown): string | undefined {
  let current: unknown = thrown;
  for (let depth = 0; depth < 4 && isRecord(current); depth++) {
    if (typeof current.code === "string") return current.code;
    const errors = current.errors;
    if (Array.isArray(errors) && isRecord(errors[0]) && typeof errors[0].code === "string")
      return errors[0].code;
    current = current.cause;
  }
  return undefined;
}

function isUnsent(thrown: unknown): boolean {
  const code = errorCode(thrown);
  return code !== undefined && UNSENT_CODES.has(code);
}
