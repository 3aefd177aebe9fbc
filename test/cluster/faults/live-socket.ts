import WebSocket from "ws";
import { pause } from "./timing.ts";

export type Frame = Record<string, unknown> & { op: string };

export interface SocketHandlers {
  /** A (re)connected socket: subscribe again. */
  opened(socket: LiveSocket, url: string): void;
  frame(frame: Frame, url: string): void;
}

const HANDSHAKE_TIMEOUT_MS = 3000;
const MAX_BACKOFF_MS = 1000;

/**
 * A client WebSocket that stays connected to *some* live node: when its
 * socket closes (node killed, 1001 going away, handshake timed out against a
 * paused node) it connects to the next live node and calls `opened` again,
 * as a real client library would.
 */
export class LiveSocket {
  private ws: WebSocket | null = null;
  private stopped = false;
  private attempt: number;
  private failures = 0;
  private connected: Promise<void> | null = null;

  constructor(
    readonly name: string,
    private readonly token: string,
    private readonly live: () => string[],
    startIndex: number,
    private readonly handlers: SocketHandlers,
    private readonly note: (text: string) => void,
  ) {
    this.attempt = startIndex;
  }

  /** Resolves once the first connection is open. */
  start(): Promise<void> {
    this.connected ??= this.connectLoop();
    return this.connected;
  }

  /** True while `socket` is the one currently open (stale callbacks check it). */
  isCurrent(ws: WebSocket | null): boolean {
    return ws !== null && ws === this.ws && ws.readyState === WebSocket.OPEN;
  }

  get socket(): WebSocket | null {
    return this.ws;
  }

  send(frame: Record<string, unknown>): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const ws = this.ws;
    this.ws = null;
    if (ws === null || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
      ws.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close();
    });
  }

  private async connectLoop(): Promise<void> {
    while (!this.stopped) {
      const urls = this.live();
      const url = urls[this.attempt % Math.max(1, urls.length)];
      if (url !== undefined && (await this.connect(url))) return;
      this.attempt += 1;
      this.failures += 1;
      await pause(Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(this.failures, 5)));
    }
  }

  private connect(url: string): Promise<boolean> {
    const wsUrl = `${url.replace(/^http/, "ws")}/v1/ws`;
    const ws = new WebSocket(wsUrl, {
      headers: { authorization: `Bearer ${this.token}` },
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    return new Promise((resolve) => {
      let open = false;
      ws.on("open", () => {
        open = true;
        this.failures = 0;
        this.ws = ws;
        this.handlers.opened(this, url);
        resolve(true);
      });
      ws.on("message", (data, isBinary) => {
        if (isBinary || ws !== this.ws) return;
        this.handlers.frame(JSON.parse(data.toString()) as Frame, url);
      });
      ws.on("error", () => {
        // "close" follows and decides.
      });
      ws.on("close", (code) => {
        if (!open) {
          resolve(false);
          return;
        }
        if (ws !== this.ws || this.stopped) return;
        this.ws = null;
        this.note(`${this.name}: socket to ${url} closed (${code}); reconnecting elsewhere`);
        this.attempt += 1;
        this.connected = this.connectLoop();
      });
    });
  }
}
