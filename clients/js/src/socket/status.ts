import type { AvisoClientError } from "../errors.ts";

/** Why an open socket went away, or a connect attempt failed; the client reconnects after each. */
export type DisconnectReason =
  /** Could not connect, or the connection broke without a close frame (1006). */
  | "network-error"
  /** The node closed the socket (1000, or 1001 when it shuts down). */
  | "server-closed"
  /** The token expired (4002); the client reconnects with a fresh one. */
  | "token-expired"
  /** The user's tokens were revoked: logged out everywhere or deleted (4003). A reconnect needs a new token. */
  | "token-revoked"
  /** The socket did not authenticate in time (4001). */
  | "auth-timeout"
  /** The node found the client too slow to read (4008); topic subscriptions resume from their offset. */
  | "slow-consumer"
  /** Nothing was heard for two heartbeat intervals. */
  | "heartbeat-timeout";

/** Why the client stopped for good. */
export type CloseReason =
  /** `close()` was called. */
  | "client-closed"
  /** The node refused the credentials and no fresh token could be had. */
  | "auth-failed"
  /** The token expired and there was nothing to refresh it with. */
  | "token-expired";

/** Connection state changes, as a discriminated union on `state` (nats.js's status events). */
export type ConnectionStatus =
  | { state: "idle" }
  | { state: "connecting"; url: string; attempt: number }
  | { state: "connected"; url: string; username: string }
  | {
      state: "disconnected";
      url: string;
      reason: DisconnectReason;
      /** WebSocket close code, when the socket was open. */
      code?: number;
      error?: AvisoClientError;
      reconnectInMs: number;
    }
  | { state: "closed"; reason: CloseReason; error?: AvisoClientError };

/** Close code → why, per docs/errors.md. */
export function disconnectReasonOf(code: number): DisconnectReason {
  switch (code) {
    case 4001:
      return "auth-timeout";
    case 4002:
      return "token-expired";
    case 4003:
      return "token-revoked";
    case 4008:
      return "slow-consumer";
    case 1000:
    case 1001:
      return "server-closed";
    default:
      return "network-error";
  }
}
