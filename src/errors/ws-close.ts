/**
 * WebSocket close codes Aviso uses. 1xxx are RFC 6455; 4xxx are ours and
 * documented in docs/protocol.md.
 */
export const WsClose = {
  Normal: 1000,
  GoingAway: 1001,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013,
  AuthTimeout: 4001,
  TokenExpired: 4002,
  AuthFailed: 4003,
  SlowConsumer: 4008,
} as const;

export type WsClose = (typeof WsClose)[keyof typeof WsClose];
