import { AvisoClientError } from "./errors.ts";
import type { WebSocketConstructor } from "./socket/websocket.ts";

/** What `getToken` may answer: a token, or a token with its expiry (epoch ms) so it is refreshed in time. */
export type TokenAnswer = string | { token: string; expiresAt?: number };

export interface ReconnectOptions {
  /** Wait before the first reconnect attempt; doubles per failed attempt. Default 100. */
  initialDelayMs: number;
  /** Longest wait between attempts. Default 5000. */
  maxDelayMs: number;
  /** Fraction (0–1) of each wait that is randomised, so many clients don't reconnect in step. Default 0.5. */
  jitter: number;
}

export interface ClientOptions {
  /** HTTP(S) base URLs of the nodes, e.g. `["https://a.example:8080", "https://b.example:8080"]`. Required. */
  urls: readonly string[];
  /** Credentials to log in with (and to log in again when the token nears expiry). */
  username?: string;
  password?: string;
  /** A token obtained elsewhere. Without credentials or `getToken` it cannot be refreshed. */
  token?: string;
  /** Called whenever a fresh token is needed (first use and before expiry); wins over credentials. */
  getToken?: () => Promise<TokenAnswer> | TokenAnswer;
  /** Longest wait for one HTTP answer or WebSocket reply. Default 10000. */
  requestTimeoutMs: number;
  /** How long a retryable failure (503, network error, dropped socket) is retried across the nodes. Default 15000. */
  retryForMs: number;
  /** Backoff of socket reconnects and request retries. */
  reconnect: ReconnectOptions;
  /** Refresh the token this long before it expires. Default 60000 (at most half the token's life). */
  tokenRefreshMarginMs: number;
  /** Ping the node when the socket was silent this long, and reconnect if still silent after as long again. 0: off. Default 20000. */
  heartbeatIntervalMs: number;
  /** Start at a random node of `urls` so clients spread over a cluster. Default true. */
  randomizeUrls: boolean;
  /**
   * Send REST calls about a queue or topic (publish, receive, ack, nack) straight to the node
   * serving it, found with the lookup and kept for 30 s — if that node is one of `urls`. Saves the
   * hop between nodes; WebSocket subscriptions stay on the client's socket. Default false.
   */
  preferServingNodes: boolean;
  /** Default transport for publishes: `"http"` (REST) or `"socket"` (the client's WebSocket). Default "http". */
  publishVia: "http" | "socket";
  /** A WebSocket implementation; default: the platform's, or the `ws` package on Node.js without one. */
  WebSocket?: WebSocketConstructor;
  /** A fetch implementation; default: the global fetch. */
  fetch?: typeof fetch;
}

export type ClientOptionsInput = Partial<Omit<ClientOptions, "reconnect">> & {
  urls: readonly string[];
  reconnect?: Partial<ReconnectOptions>;
  /** @deprecated The former name of `preferServingNodes`, still read when that is not given. */
  preferOwners?: boolean;
};

export const DEFAULT_OPTIONS = {
  requestTimeoutMs: 10_000,
  retryForMs: 15_000,
  reconnect: { initialDelayMs: 100, maxDelayMs: 5_000, jitter: 0.5 },
  tokenRefreshMarginMs: 60_000,
  heartbeatIntervalMs: 20_000,
  randomizeUrls: true,
  preferServingNodes: false,
  publishVia: "http",
} as const satisfies Omit<ClientOptions, "urls">;

/** Fills every default once and reports every problem together (fastify's config habit). */
export function resolveClientOptions(input: ClientOptionsInput): Readonly<ClientOptions> {
  const reconnect: ReconnectOptions = { ...DEFAULT_OPTIONS.reconnect, ...input.reconnect };
  const { preferOwners, ...given } = input;
  const options: ClientOptions = {
    ...DEFAULT_OPTIONS,
    ...withoutUndefined(given),
    urls: (input.urls ?? []).map((url) => url.replace(/\/+$/, "")),
    reconnect,
    preferServingNodes: input.preferServingNodes ?? preferOwners ?? DEFAULT_OPTIONS.preferServingNodes,
  };
  const problems: string[] = [];
  if (options.urls.length === 0) problems.push("urls: give at least one node URL");
  for (const url of options.urls) {
    if (!/^https?:\/\/[^/]+/.test(url)) problems.push(`urls: "${url}" is not an http(s) URL`);
    else if (/[?#]/.test(url)) problems.push(`urls: "${url}" must be a base URL without query or fragment`);
  }
  if ((options.username === undefined) !== (options.password === undefined))
    problems.push("username and password go together");
  const positive = ["requestTimeoutMs", "retryForMs", "tokenRefreshMarginMs"] as const;
  for (const key of positive) {
    if (!(Number.isFinite(options[key]) && options[key] > 0))
      problems.push(`${key} must be a positive number`);
  }
  if (!(options.heartbeatIntervalMs >= 0)) problems.push("heartbeatIntervalMs must be 0 (off) or positive");
  if (!(reconnect.initialDelayMs >= 0)) problems.push("reconnect.initialDelayMs must be ≥ 0");
  if (!(reconnect.maxDelayMs >= reconnect.initialDelayMs))
    problems.push("reconnect.maxDelayMs must be ≥ reconnect.initialDelayMs");
  if (!(reconnect.jitter >= 0 && reconnect.jitter <= 1)) problems.push("reconnect.jitter must be within 0–1");
  if (options.publishVia !== "http" && options.publishVia !== "socket")
    problems.push('publishVia must be "http" or "socket"');
  if (problems.length > 0) {
    throw AvisoClientError.client("INVALID_ARGUMENT", `Invalid client options: ${problems.join("; ")}.`);
  }
  return Object.freeze(options);
}

/** Wait before reconnect attempt `attempt` (1-based): exponential, capped, with jitter taken off the top. */
export function backoffDelayMs(attempt: number, reconnect: ReconnectOptions, random = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(reconnect.maxDelayMs, reconnect.initialDelayMs * 2 ** Math.min(exponent, 30));
  return Math.round(base * (1 - reconnect.jitter * random()));
}

function withoutUndefined<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as Partial<T>;
}
