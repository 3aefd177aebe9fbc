import { AvisoClientError } from "../errors.ts";
import { parseServerFrame } from "./frames.ts";
import { dropSocket, type WebSocketConstructor, type WebSocketLike } from "./websocket.ts";

export interface HandshakeOptions {
  WebSocketImpl: WebSocketConstructor;
  /** ws(s)://…/v1/ws */
  url: string;
  token: string;
  /** The request id of the auth frame. */
  authId: number;
  timeoutMs: number;
  /** Aborts the attempt (the client is closing). */
  signal: AbortSignal;
}

/**
 * Opens a socket and authenticates it with the first frame — the only way
 * browsers can (they cannot set headers), so Node.js takes the same path —
 * and answers the username the node confirmed. On any failure the socket is
 * dropped and the promise rejects with what is known.
 */
export function openAuthenticatedSocket(
  options: HandshakeOptions,
): Promise<{ socket: WebSocketLike; username: string }> {
  const socket = new options.WebSocketImpl(options.url);
  return new Promise((resolve, reject) => {
    const cleanUp = () => {
      clearTimeout(timer);
      options.signal.removeEventListener("abort", onAbort);
    };
    const fail = (error: AvisoClientError) => {
      cleanUp();
      socket.onopen = socket.onmessage = socket.onclose = null;
      dropSocket(socket);
      reject(error);
    };
    const onAbort = () => fail(AvisoClientError.client("CLIENT_CLOSED", "The client was closed."));
    const timer = setTimeout(
      () => fail(AvisoClientError.client("TIMEOUT", `${options.url} did not accept the socket in time.`)),
      options.timeoutMs,
    );
    options.signal.addEventListener("abort", onAbort, { once: true });
    socket.onerror = () => {}; // the close event that follows carries what is known
    socket.onopen = () =>
      socket.send(JSON.stringify({ op: "auth", id: options.authId, token: options.token }));
    socket.onclose = (event) => {
      const reason = event.reason === "" ? "" : ` ${event.reason}`;
      fail(
        AvisoClientError.client(
          "NETWORK_ERROR",
          `The socket to ${options.url} closed while connecting (${event.code}${reason}).`,
        ),
      );
    };
    socket.onmessage = (event) => {
      const frame = parseServerFrame(event.data);
      if (frame?.op === "ok" && frame.id === options.authId) {
        cleanUp();
        resolve({ socket, username: typeof frame.username === "string" ? frame.username : "" });
      } else if (frame?.op === "error" && (frame.id === options.authId || frame.id === undefined)) {
        fail(AvisoClientError.fromServer(frame));
      }
    };
  });
}
