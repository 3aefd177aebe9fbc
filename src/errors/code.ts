/**
 * The closed set of error codes. Every error Aviso reports has one of these;
 * the HTTP status and WebSocket behaviour follow from the code, the detail
 * from the reason (see reasons.ts).
 */
export const Code = {
  InvalidArgument: "invalid_argument",
  Unauthenticated: "unauthenticated",
  PermissionDenied: "permission_denied",
  NotFound: "not_found",
  MethodNotAllowed: "method_not_allowed",
  AlreadyExists: "already_exists",
  PayloadTooLarge: "payload_too_large",
  UnsupportedMediaType: "unsupported_media_type",
  ResourceExhausted: "resource_exhausted",
  Unavailable: "unavailable",
  Internal: "internal",
} as const;

export type Code = (typeof Code)[keyof typeof Code];
