import { AuthApi } from "./api/auth-api.ts";
import type { ClientContext } from "./api/context.ts";
import { QueuesApi } from "./api/queues-api.ts";
import {
  type RequestOptions,
  RequestReply,
  type ServeHandler,
  type ServeOptions,
} from "./api/request-reply.ts";
import { TopicsApi } from "./api/topics-api.ts";
import { TokenKeeper } from "./auth/token-keeper.ts";
import { AvisoClientError } from "./errors.ts";
import { HttpTransport } from "./http/http-transport.ts";
import { NodeList } from "./http/node-list.ts";
import { type ClientOptionsInput, resolveClientOptions } from "./options.ts";
import { Connection } from "./socket/connection.ts";
import type { ConnectionStatus } from "./socket/status.ts";
import type { QueueSubscription } from "./subscriptions/queue-subscription.ts";
import type { ClusterView, Me, TokenInfo } from "./types.ts";
import { AsyncQueue } from "./util/async-queue.ts";

export interface ClientEvents {
  /** Every connection state change of the client's WebSocket. */
  status: ConnectionStatus;
}

/** An Aviso client: REST for management and publishing, one WebSocket for everything pushed. */
export interface AvisoClient {
  readonly auth: AuthApi;
  readonly queues: QueuesApi;
  readonly topics: TopicsApi;
  /** Members of the cluster and what the answering node owns. */
  cluster(): Promise<ClusterView>;
  /** Sends `payload` to a service queue and waits for the reply (see `serve`). */
  request<Response = unknown>(queue: string, payload: unknown, options?: RequestOptions): Promise<Response>;
  /** Answers requests arriving on `queue` with `handler`'s result. Close the subscription to stop. */
  serve<Request = unknown, Response = unknown>(
    queue: string,
    handler: ServeHandler<Request, Response>,
    options?: ServeOptions,
  ): QueueSubscription<Request>;
  /** Opens the WebSocket now (it opens by itself on the first subscribe or socket publish). */
  connect(): Promise<void>;
  /** The current connection state. */
  readonly connectionStatus: ConnectionStatus;
  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void;
  /** Connection states as an async iterator, ending when the client closes (nats.js's `status()`). */
  statusChanges(): AsyncIterableIterator<ConnectionStatus>;
  /** Unsubscribes, deletes the reply queue, closes the socket. Calls after it fail with CLIENT_CLOSED. */
  close(): Promise<void>;
}

/** Creates a client. Nothing connects until the first call that needs to. */
export function createClient(input: ClientOptionsInput): AvisoClient {
  const options = resolveClientOptions(input);
  const stopHttp = new AbortController();
  const nodes = new NodeList(options.urls, options.randomizeUrls);
  let closed = false;
  // The keeper and the transport need each other (login goes over HTTP); the cycle is closed here.
  let http: HttpTransport | null = null;
  const tokens = new TokenKeeper({
    login: (credentials) =>
      (http as HttpTransport).call<TokenInfo>({
        method: "POST",
        path: "/v1/auth/login",
        body: credentials,
        auth: false,
        retry: "idempotent",
      }),
    // Called right after `use(token)`, so the call carries that token.
    expiryOf: async () => {
      const me = await (http as HttpTransport).call<Me>({
        method: "GET",
        path: "/v1/me",
        auth: true,
        retry: "idempotent",
      });
      return me.tokenExpiresAt;
    },
    getToken: options.getToken,
    refreshMarginMs: options.tokenRefreshMarginMs,
  });
  http = new HttpTransport(options, nodes, tokens, stopHttp.signal);
  if (options.username !== undefined && options.password !== undefined) {
    tokens.setCredentials({ username: options.username, password: options.password });
  }
  if (options.token !== undefined) tokens.use({ token: options.token });
  const connection = new Connection(options, nodes, tokens);
  const context: ClientContext = {
    options,
    http,
    connection,
    tokens,
    subscriptions: new Set(),
    assertOpen() {
      if (closed) throw AvisoClientError.client("CLIENT_CLOSED", "The client was closed.");
    },
  };
  const auth = new AuthApi(context);
  const queues = new QueuesApi(context);
  const topics = new TopicsApi(context);
  const requestReply = new RequestReply(queues, auth, options.requestTimeoutMs);
  let closing: Promise<void> | null = null;

  return {
    auth,
    queues,
    topics,
    cluster() {
      context.assertOpen();
      return context.http.call({ method: "GET", path: "/v1/cluster", auth: true, retry: "idempotent" });
    },
    request(queue, payload, requestOptions) {
      context.assertOpen();
      return requestReply.request(queue, payload, requestOptions);
    },
    serve(queue, handler, serveOptions) {
      context.assertOpen();
      return requestReply.serve(queue, handler, serveOptions);
    },
    connect() {
      context.assertOpen();
      return connection.connect();
    },
    get connectionStatus() {
      return connection.status;
    },
    on(event, listener) {
      return connection.events.on(event, listener);
    },
    statusChanges() {
      const queue = new AsyncQueue<ConnectionStatus>(() => off());
      const off = connection.events.on("status", (status) => {
        queue.push(status);
        if (status.state === "closed" && status.reason === "client-closed") {
          off();
          queue.end();
        }
      });
      if (closed) queue.end();
      return queue;
    },
    close() {
      closing ??= (async () => {
        await Promise.all([...context.subscriptions].map((subscription) => subscription.close()));
        await requestReply.close();
        closed = true;
        connection.close();
        tokens.stop();
        stopHttp.abort();
      })();
      return closing;
    },
  };
}
