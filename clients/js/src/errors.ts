/**
 * The one error type of the SDK. Server errors keep the server's `code`,
 * `reason` and `message` (docs/errors.md); failures that never reached a
 * server answer get a reason of their own (CLIENT_REASONS). Match on
 * `reason`, never on `message`.
 */

/** Reasons the server documents in docs/errors.md (kept in sync by a test). */
export const SERVER_REASONS = [
  "BAD_JSON",
  "VALIDATION_FAILED",
  "INVALID_NAME",
  "INVALID_ROUTING_KEY",
  "INVALID_PATTERN",
  "INVALID_RECEIPT",
  "RESERVED_HEADER",
  "INVALID_DEAD_LETTER_QUEUE",
  "OFFSET_OUT_OF_RANGE",
  "WEAK_PASSWORD",
  "PASSWORD_TOO_LONG",
  "TOKEN_IN_URL",
  "UNKNOWN_OP",
  "BINARY_FRAME",
  "SUBSCRIPTION_ID_IN_USE",
  "RECEIPT_STALE",
  "UNKNOWN_SUBSCRIPTION",
  "BODY_TOO_LARGE",
  "PAYLOAD_TOO_LARGE",
  "TOO_MANY_MESSAGES",
  "UNSUPPORTED_MEDIA_TYPE",
  "AUTH_REQUIRED",
  "TOKEN_INVALID",
  "TOKEN_EXPIRED",
  "TOKEN_REVOKED",
  "BAD_CREDENTIALS",
  "AUTH_TIMEOUT",
  "NOT_RESOURCE_OWNER",
  "ACCESS_DENIED",
  "ACCESS_REVOKED",
  "BINDING_WOULD_EXPOSE",
  "OPERATOR_REQUIRED",
  "REGISTRATION_CLOSED",
  "API_KEY_NOT_ALLOWED",
  "OUT_OF_SCOPE",
  "API_KEY_REVOKED",
  "API_KEY_NOT_FOUND",
  "KEYS_UNAVAILABLE",
  "QUOTA_EXCEEDED",
  "STORED_BYTES_EXCEEDED",
  "PUBLISH_RATE_LIMITED",
  "TOO_MANY_UNAUTHENTICATED_CONNECTIONS",
  "ROUTE_NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "QUEUE_NOT_FOUND",
  "TOPIC_NOT_FOUND",
  "USER_NOT_FOUND",
  "SUBSCRIPTION_NOT_FOUND",
  "USERNAME_TAKEN",
  "QUEUE_EXISTS",
  "TOPIC_EXISTS",
  "SUBSCRIPTION_EXISTS",
  "QUEUE_FULL",
  "LOGIN_RATE_LIMITED",
  "REGISTRATION_RATE_LIMITED",
  "TOO_MANY_SUBSCRIPTIONS",
  "TOO_MANY_CONNECTIONS",
  "STORE_UNAVAILABLE",
  "NOT_READY",
  "SHUTTING_DOWN",
  "OWNER_UNAVAILABLE",
  "FENCED",
  "INTERNAL",
] as const;

/** Reasons the SDK itself reports, with the code each one carries. */
export const CLIENT_REASONS = {
  /** No answer within requestTimeoutMs (or the request's own timeout). */
  TIMEOUT: "deadline_exceeded",
  /** The node could not be reached or the connection broke before an answer. */
  NETWORK_ERROR: "unavailable",
  /** The client was closed while the call was waiting. */
  CLIENT_CLOSED: "cancelled",
  /** The call needs a login but the client has no token, credentials or getToken. */
  NOT_LOGGED_IN: "unauthenticated",
  /** An option or argument is invalid; nothing was sent. */
  INVALID_ARGUMENT: "invalid_argument",
  /** The server answered something the protocol does not allow. */
  UNEXPECTED_RESPONSE: "internal",
  /** A `serve` handler threw; its message came back as the reply. */
  HANDLER_FAILED: "internal",
} as const;

export type ServerReason = (typeof SERVER_REASONS)[number];
export type ClientReason = keyof typeof CLIENT_REASONS;
/** Known reasons, open to ones a newer server may add. */
export type Reason = ServerReason | ClientReason | (string & {});

export type ErrorCode =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "method_not_allowed"
  | "already_exists"
  | "payload_too_large"
  | "unsupported_media_type"
  | "resource_exhausted"
  | "unavailable"
  | "internal"
  | "deadline_exceeded"
  | "cancelled"
  | (string & {});

export interface AvisoClientErrorInit {
  code: ErrorCode;
  reason: Reason;
  message: string;
  /** HTTP status of a REST answer; absent for socket errors and client-side failures. */
  status?: number;
  /** The server's word on repeating the request: "always" (nothing took effect) or "if-idempotent"; absent when it is not transient. */
  retry?: "always" | "if-idempotent";
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class AvisoClientError extends Error {
  override readonly name = "AvisoClientError";
  readonly code: ErrorCode;
  readonly reason: Reason;
  readonly status: number | undefined;
  /** From the server: whether the failed request may be sent again (see AvisoClientErrorInit.retry). */
  readonly retry: "always" | "if-idempotent" | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(init: AvisoClientErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.reason = init.reason;
    this.status = init.status;
    this.retry = init.retry;
    this.details = init.details;
  }

  /** An error the SDK raises itself. */
  static client(reason: ClientReason, message: string, cause?: unknown): AvisoClientError {
    return new AvisoClientError({ code: CLIENT_REASONS[reason], reason, message, cause });
  }

  /** Builds the error from a server's `{code, reason, message, details?}` (REST body or WebSocket frame). */
  static fromServer(body: unknown, status?: number): AvisoClientError {
    const fields = isRecord(body) ? body : {};
    const reason = typeof fields.reason === "string" ? fields.reason : "UNEXPECTED_RESPONSE";
    return new AvisoClientError({
      code: typeof fields.code === "string" ? fields.code : "internal",
      reason,
      message: typeof fields.message === "string" ? fields.message : `The server answered ${status ?? "?"}.`,
      ...(status === undefined ? {} : { status }),
      ...(fields.retry === "always" || fields.retry === "if-idempotent" ? { retry: fields.retry } : {}),
      ...(isRecord(fields.details) ? { details: fields.details } : {}),
    });
  }

  /** Normalises anything thrown into an AvisoClientError (connect-es's `ConnectError.from`). */
  static from(error: unknown): AvisoClientError {
    if (error instanceof AvisoClientError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return AvisoClientError.client("NETWORK_ERROR", message, error);
  }

  /** True for failures after which trying again later or on another node may work (node moving, restarting, unreachable). */
  get isTransient(): boolean {
    return this.retry !== undefined || this.code === "unavailable" || this.reason === "TIMEOUT";
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
