/**
 * The part of the WebSocket API the client uses: what browsers, Node.js 22+
 * and the `ws` package all offer (the `on…` handler properties).
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** readyState of an open socket (the same constant everywhere). */
export const OPEN = 1;

/**
 * The platform's WebSocket, or the `ws` package on Node.js 20, which has
 * none. `ws` is imported only here and only then, so browser bundles never
 * load it.
 */
export async function resolveWebSocket(
  custom: WebSocketConstructor | undefined,
): Promise<WebSocketConstructor> {
  if (custom !== undefined) return custom;
  const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (native !== undefined) return native;
  const module = await import("ws");
  return module.default as unknown as WebSocketConstructor;
}

/** Ends a socket at once: `ws` can drop the TCP connection; browsers only offer a close handshake. */
export function dropSocket(socket: WebSocketLike): void {
  const terminate = (socket as { terminate?: () => void }).terminate;
  if (typeof terminate === "function") terminate.call(socket);
  else socket.close();
}
