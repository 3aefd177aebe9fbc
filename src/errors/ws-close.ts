/**
 * WebSocket close codes Aviso uses. 1xxx are RFC 6455; 4xxx are ours and
 * documented in docs/protocol.md.
 */
export const WsClose = {
  Normal: 1000,
  GoingAway: 1001,
  AuthTimeout: 4001,
  TokenExpired: 4002,
  /** The credential the socket authenticated with was revoked (log out everywhere, a deleted user, a revoked API key). */
  TokenRevoked: 4003,
  SlowConsumer: 4008,
} as const;

export type WsClose = (typeof WsClose)[keyof typeof WsClose];
