import type { TokenKeeper } from "../auth/token-keeper.ts";
import { AvisoClientError } from "../errors.ts";
import { type NodeChoice, type NodeList, webSocketUrl } from "../http/node-list.ts";
import { backoffDelayMs, type ClientOptions } from "../options.ts";
import { Emitter } from "../util/emitter.ts";
import { sleep } from "../util/runtime.ts";
import {
  type ErrorFrame,
  type OkFrame,
  parseServerFrame,
  type QueueMessageFrame,
  type ReplayedFrame,
  type RequestFrame,
  type TopicMessageFrame,
} from "./frames.ts";
import { openAuthenticatedSocket } from "./handshake.ts";
import { Heartbeat } from "./heartbeat.ts";
import { type ConnectionStatus, type DisconnectReason, disconnectReasonOf } from "./status.ts";
import { dropSocket, resolveWebSocket, type WebSocketLike } from "./websocket.ts";

/** Receives the frames of one server-side subscription (`sub`) on the current socket. */
export interface FrameSink {
  message(frame: QueueMessageFrame | TopicMessageFrame): void;
  replayed(frame: ReplayedFrame): void;
  /** The node ended the subscription (queue or topic deleted, …). */
  ended(error: AvisoClientError): void;
}

export interface ConnectionEvents extends Record<string, unknown> {
  status: ConnectionStatus;
  /** A socket is open and authenticated; subscriptions (re)subscribe on it. */
  connected: { generation: number };
  /** The socket of `generation` is gone, and every server-side subscription with it. */
  disconnected: { generation: number };
}

export interface RequestOptions {
  timeoutMs?: number;
  /** Send again on the next socket if this one drops before the reply (publishes with an idempotency key). */
  resend?: boolean;
  /** Runs synchronously when the ok frame arrives, before any later frame is handled. */
  onOk?: (frame: OkFrame) => void;
}

interface Pending {
  readonly id: number;
  readonly frame: RequestFrame;
  readonly options: RequestOptions;
  sentOnGeneration: number | null;
  readonly timer: ReturnType<typeof setTimeout>;
  resolve(frame: OkFrame): void;
  reject(error: AvisoClientError): void;
}

/**
 * The client's one WebSocket: connects (first-frame auth), reconnects with
 * backoff across the node list, re-authenticates in-band when the token is
 * refreshed, detects a silent socket with heartbeats, correlates requests
 * with replies and routes subscription frames to their sinks.
 */
export class Connection {
  readonly events = new Emitter<ConnectionEvents>();
  private statusValue: ConnectionStatus = { state: "idle" };
  private socket: WebSocketLike | null = null;
  private node: NodeChoice | null = null;
  private generationValue = 0;
  private connecting = false;
  private clientClosed = false;
  private readonly stopSignal = new AbortController();
  private readonly pending = new Map<number, Pending>();
  private readonly routes = new Map<string, FrameSink>();
  private nextId = 1;
  private heartbeat: Heartbeat | null = null;
  private lastServerError: AvisoClientError | undefined;

  constructor(
    private readonly options: Readonly<ClientOptions>,
    private readonly nodes: NodeList,
    private readonly tokens: TokenKeeper,
  ) {
    // In-band refresh: a fresh token is sent on the live socket before the old one expires.
    tokens.events.on("refreshed", ({ token }) => {
      if (this.socket !== null) this.request({ op: "auth", token }).catch(() => {});
    });
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  get isConnected(): boolean {
    return this.socket !== null;
  }

  /** Increments with every authenticated socket; ties acks to the socket that delivered. */
  get generation(): number {
    return this.generationValue;
  }

  /** Resolves once connected; rejects if the connection closes for good first. */
  async connect(): Promise<void> {
    if (this.socket !== null) return;
    this.ensureConnecting();
    await new Promise<void>((resolve, reject) => {
      const off = this.events.on("status", (status) => {
        if (status.state === "connected") {
          off();
          resolve();
        } else if (status.state === "closed") {
          off();
          reject(status.error ?? AvisoClientError.client("CLIENT_CLOSED", "The client was closed."));
        }
      });
    });
  }

  /** Starts connecting unless connected, connecting, or closed by the application. */
  ensureConnecting(): void {
    if (this.clientClosed || this.socket !== null || this.connecting) return;
    void this.connectLoop(0);
  }

  /** Sends a request frame (an `id` is added) and resolves with its `ok` reply. */
  request(frame: RequestFrame, options: RequestOptions = {}): Promise<OkFrame> {
    if (this.clientClosed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(AvisoClientError.client("TIMEOUT", `No answer to ${frame.op} within ${timeoutMs} ms.`));
      }, timeoutMs);
      const pending: Pending = { id, frame, options, sentOnGeneration: null, timer, resolve, reject };
      this.pending.set(id, pending);
      if (this.socket !== null) this.transmit(pending);
      else this.ensureConnecting();
    });
  }

  /** Sends a frame that needs no reply; false when no socket is open. */
  send(frame: RequestFrame): boolean {
    if (this.socket === null) return false;
    try {
      this.socket.send(JSON.stringify(frame));
    } catch {
      return false; // closing: its close event follows
    }
    return true;
  }

  route(sub: string, sink: FrameSink): void {
    this.routes.set(sub, sink);
  }

  unroute(sub: string, sink: FrameSink): void {
    if (this.routes.get(sub) === sink) this.routes.delete(sub);
  }

  /** Closes for good: pending requests fail with CLIENT_CLOSED. */
  close(): void {
    if (this.clientClosed) return;
    this.clientClosed = true;
    this.stopSignal.abort();
    this.stop("client-closed", undefined);
  }

  private async connectLoop(initialDelayMs: number): Promise<void> {
    this.connecting = true;
    try {
      if (initialDelayMs > 0) await sleep(initialDelayMs, this.stopSignal.signal);
      let refreshedForAuth = false;
      for (let attempt = 1; !this.clientClosed; attempt++) {
        const node = this.nodes.current();
        this.setStatus({ state: "connecting", url: node.url, attempt });
        try {
          await this.open(node);
          return;
        } catch (thrown) {
          if (this.clientClosed) return;
          const error = AvisoClientError.from(thrown);
          if (error.reason === "NOT_LOGGED_IN") {
            await this.waitForToken();
            attempt = 0;
            continue;
          }
          if (error.code === "unauthenticated") {
            // A refused token: get a fresh one once; refused again (or no way to refresh) is final.
            if (!this.tokens.canRefresh || refreshedForAuth) return this.stop("auth-failed", error);
            refreshedForAuth = true;
            const refreshed = await this.tokens.refresh().then(
              () => null,
              (refreshError: unknown) => AvisoClientError.from(refreshError),
            );
            if (refreshed === null) {
              attempt = 0;
              continue;
            }
            if (refreshed.code === "unauthenticated") return this.stop("auth-failed", refreshed);
          }
          this.nodes.advancePast(node);
          const delayMs = backoffDelayMs(attempt, this.options.reconnect);
          this.setStatus({
            state: "disconnected",
            url: node.url,
            reason: "network-error",
            error,
            reconnectInMs: delayMs,
          });
          await sleep(delayMs, this.stopSignal.signal);
        }
      }
    } finally {
      this.connecting = false;
    }
  }

  /** Opens a socket to `node` and authenticates with the first frame (the same path browsers must take). */
  /** Opens and authenticates a socket to `node`, then makes it the connection's socket. */
  private async open(node: NodeChoice): Promise<void> {
    const WebSocketImpl = await resolveWebSocket(this.options.WebSocket);
    const token = await this.tokens.token();
    if (this.clientClosed) throw closedError();
    const { socket, username } = await openAuthenticatedSocket({
      WebSocketImpl,
      url: webSocketUrl(node.url),
      token,
      authId: this.nextId++,
      timeoutMs: this.options.requestTimeoutMs,
      signal: this.stopSignal.signal,
    });
    this.attach(socket, node, username);
  }

  private attach(socket: WebSocketLike, node: NodeChoice, username: string): void {
    this.socket = socket;
    this.node = node;
    this.lastServerError = undefined;
    const generation = ++this.generationValue;
    socket.onmessage = (event) => this.handleFrame(socket, event.data);
    socket.onclose = (event) => this.handleDrop(socket, event.code, undefined);
    this.heartbeat = new Heartbeat(
      this.options.heartbeatIntervalMs,
      () => this.send({ op: "ping" }),
      () => {
        dropSocket(socket);
        this.handleDrop(socket, 1006, "heartbeat-timeout");
      },
    );
    this.setStatus({ state: "connected", url: node.url, username });
    this.events.emit("connected", { generation });
    for (const pending of this.pending.values()) {
      if (pending.sentOnGeneration !== generation) this.transmit(pending);
    }
  }

  private transmit(pending: Pending): void {
    if (this.socket === null) return;
    pending.sentOnGeneration = this.generationValue;
    try {
      this.socket.send(JSON.stringify({ ...pending.frame, id: pending.id }));
    } catch {
      // The socket is closing; its close event fails or re-queues the request.
    }
  }

  private handleFrame(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket) return;
    this.heartbeat?.heard();
    const frame = parseServerFrame(data);
    if (frame === null) return;
    switch (frame.op) {
      case "ok":
      case "error": {
        const pending = typeof frame.id === "number" ? this.pending.get(frame.id) : undefined;
        if (pending !== undefined) {
          this.pending.delete(pending.id);
          clearTimeout(pending.timer);
          if (frame.op === "ok") {
            pending.options.onOk?.(frame);
            pending.resolve(frame);
          } else pending.reject(AvisoClientError.fromServer(frame));
        } else if (frame.op === "error") {
          this.unsolicitedError(frame);
        }
        return;
      }
      case "message":
        this.routes.get(frame.sub)?.message(frame);
        return;
      case "replayed":
        this.routes.get(frame.sub)?.replayed(frame);
        return;
      case "ended": {
        const sink = this.routes.get(frame.sub);
        this.routes.delete(frame.sub);
        sink?.ended(AvisoClientError.fromServer({ ...frame, op: "error" }));
        return;
      }
      default:
        return;
    }
  }

  private unsolicitedError(frame: ErrorFrame): void {
    const error = AvisoClientError.fromServer(frame);
    // Sent just before the node closes the socket (TOKEN_EXPIRED, SHUTTING_DOWN, …): reported with the close.
    this.lastServerError = error;
  }

  private handleDrop(socket: WebSocketLike, code: number, override: DisconnectReason | undefined): void {
    if (socket !== this.socket) return;
    const node = this.node as NodeChoice;
    this.detach(socket);
    if (this.clientClosed) return;
    const reason = override ?? disconnectReasonOf(code);
    if (reason === "token-expired" && !this.tokens.canRefresh) {
      this.stop("token-expired", this.lastServerError);
      return;
    }
    if (reason === "network-error" || reason === "server-closed" || reason === "heartbeat-timeout") {
      this.nodes.advancePast(node);
    }
    // A node going away (1001) asks its clients to move at once; anything else backs off a little.
    const delayMs = code === 1001 ? 0 : backoffDelayMs(1, this.options.reconnect);
    this.setStatus({
      state: "disconnected",
      url: node.url,
      reason,
      code,
      ...(this.lastServerError === undefined ? {} : { error: this.lastServerError }),
      reconnectInMs: delayMs,
    });
    void this.connectLoop(delayMs);
  }

  /** Forgets the socket: its server-side subscriptions are gone, its unanswered requests fail or wait. */
  private detach(socket: WebSocketLike): void {
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.onerror = () => {};
    this.socket = null;
    this.heartbeat?.stop();
    this.heartbeat = null;
    this.routes.clear();
    const generation = this.generationValue;
    for (const pending of [...this.pending.values()]) {
      if (pending.sentOnGeneration === generation && pending.options.resend !== true) {
        this.pending.delete(pending.id);
        clearTimeout(pending.timer);
        pending.reject(
          AvisoClientError.client(
            "NETWORK_ERROR",
            `The socket closed before the ${pending.frame.op} was answered.`,
          ),
        );
      }
    }
    this.events.emit("disconnected", { generation });
  }

  /** The connection stops (client closed, or authentication is impossible); a new request revives it unless closed. */
  private stop(
    reason: "client-closed" | "auth-failed" | "token-expired",
    error: AvisoClientError | undefined,
  ): void {
    const socket = this.socket;
    if (socket !== null) {
      this.detach(socket);
      socket.close(1000, "client closed");
    }
    const failure = error ?? closedError();
    for (const pending of [...this.pending.values()]) {
      clearTimeout(pending.timer);
      pending.reject(failure);
    }
    this.pending.clear();
    this.setStatus({ state: "closed", reason, ...(error === undefined ? {} : { error }) });
  }

  private waitForToken(): Promise<void> {
    return new Promise((resolve) => {
      const off = this.tokens.events.on("refreshed", () => {
        this.stopSignal.signal.removeEventListener("abort", done);
        off();
        resolve();
      });
      const done = () => {
        off();
        resolve();
      };
      this.stopSignal.signal.addEventListener("abort", done, { once: true });
    });
  }

  private setStatus(status: ConnectionStatus): void {
    this.statusValue = status;
    this.events.emit("status", status);
  }
}

function closedError(): AvisoClientError {
  return AvisoClientError.client("CLIENT_CLOSED", "The client was closed.");
}
