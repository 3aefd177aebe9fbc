import { Code } from "./code.ts";

/**
 * What a caller may do after a failure (centrifuge's `Temporary`): `never`
 * (the same request fails again), `always` (transient, and the request
 * certainly took no effect: repeat anything), `if-idempotent` (transient, but
 * the request may have taken effect: repeat only what is harmless to repeat —
 * reads, acks, publishes with an idempotency key). Every retry site asks this.
 * `reroute` marks failures that a cluster node's routing may retry on a new
 * route: the resource's serving node is moving, leaving or not reachable, so
 * once ownership settles another attempt reaches the new one (a store outage
 * is transient too, but no route mends it: it is answered at once).
 */
export type Retry = "never" | "always" | "if-idempotent";

/**
 * Every reason Aviso reports, with its code and a one-line meaning.
 * `reason` is the stable string clients match on; docs/errors.md lists each
 * one (test/unit/errors-doc.test.ts keeps the two in sync).
 */
export const reasons = {
  // request shape
  BAD_JSON: { code: Code.InvalidArgument, summary: "The body or frame is not valid JSON." },
  VALIDATION_FAILED: {
    code: Code.InvalidArgument,
    summary: "A field is missing, has the wrong type or is out of range.",
  },
  INVALID_NAME: {
    code: Code.InvalidArgument,
    summary: "A queue, topic or user name breaks the naming rules.",
  },
  INVALID_ROUTING_KEY: {
    code: Code.InvalidArgument,
    summary: "A routing key is not dot-separated words.",
  },
  INVALID_PATTERN: {
    code: Code.InvalidArgument,
    summary: "A subscription pattern is not dot-separated words, `*` or `#`.",
  },
  INVALID_RECEIPT: {
    code: Code.InvalidArgument,
    summary:
      "A receipt is not one Aviso issued to the caller for this queue (malformed, altered, or another user's or queue's).",
  },
  RESERVED_HEADER: {
    code: Code.InvalidArgument,
    summary: "A publish sets a header named `aviso-…`; only the broker sets those.",
  },
  INVALID_DEAD_LETTER_QUEUE: {
    code: Code.InvalidArgument,
    summary: "The dead-letter queue does not exist or is the queue itself.",
  },
  OFFSET_OUT_OF_RANGE: {
    code: Code.InvalidArgument,
    summary: "The requested offset is beyond the topic's next offset.",
  },
  WEAK_PASSWORD: { code: Code.InvalidArgument, summary: "The password is shorter than allowed." },
  PASSWORD_TOO_LONG: {
    code: Code.InvalidArgument,
    summary: "The password is longer than 72 bytes (bcrypt would ignore the rest).",
  },
  TOKEN_IN_URL: {
    code: Code.InvalidArgument,
    summary: "A token was passed in the URL; send it in the Authorization header or an auth frame.",
  },
  UNKNOWN_OP: { code: Code.InvalidArgument, summary: "The WebSocket frame's `op` is not one Aviso knows." },
  BINARY_FRAME: {
    code: Code.InvalidArgument,
    summary: "A binary WebSocket frame was sent; the protocol uses text frames.",
  },
  SUBSCRIPTION_ID_IN_USE: {
    code: Code.AlreadyExists,
    summary: "This socket already has a subscription with that id.",
  },
  RECEIPT_STALE: {
    code: Code.NotFound,
    summary:
      "Per-item ack/nack result: the delivery is no longer in flight (acked, redelivered after its deadline, or the queue moved to another node).",
  },
  UNKNOWN_SUBSCRIPTION: {
    code: Code.NotFound,
    summary: "This socket has no subscription with that id.",
  },
  // sizes
  BODY_TOO_LARGE: { code: Code.PayloadTooLarge, summary: "The HTTP body exceeds the configured limit." },
  PAYLOAD_TOO_LARGE: {
    code: Code.PayloadTooLarge,
    summary: "A message payload exceeds the configured limit.",
  },
  TOO_MANY_MESSAGES: {
    code: Code.PayloadTooLarge,
    summary: "A batch holds more messages than the configured limit.",
  },
  UNSUPPORTED_MEDIA_TYPE: {
    code: Code.UnsupportedMediaType,
    summary: "The body is not `application/json`.",
  },
  // identity
  AUTH_REQUIRED: { code: Code.Unauthenticated, summary: "No token was given." },
  TOKEN_INVALID: { code: Code.Unauthenticated, summary: "The token is malformed or its signature is wrong." },
  TOKEN_EXPIRED: { code: Code.Unauthenticated, summary: "The token has expired; log in again." },
  BAD_CREDENTIALS: {
    code: Code.Unauthenticated,
    summary: "Unknown user or wrong password (deliberately the same answer for both).",
  },
  TOKEN_REVOKED: {
    code: Code.Unauthenticated,
    summary:
      "The token was revoked (log out everywhere, or the user was deleted); live WebSockets close with 4003.",
  },
  API_KEY_NOT_ALLOWED: {
    code: Code.PermissionDenied,
    summary: "API keys cannot manage API keys or users; use a login token.",
  },
  OUT_OF_SCOPE: {
    code: Code.PermissionDenied,
    summary: "The API key's scope does not cover this resource or action.",
  },
  API_KEY_REVOKED: {
    code: Code.Unauthenticated,
    summary: "The API key this WebSocket authenticated with was revoked (closed with 4003).",
  },
  AUTH_TIMEOUT: {
    code: Code.Unauthenticated,
    summary: "A WebSocket did not authenticate in time (closed with 4001).",
  },
  // permission
  NOT_RESOURCE_OWNER: {
    code: Code.PermissionDenied,
    summary: "Only the creator of the resource (the user who created it) may do this.",
  },
  ACCESS_DENIED: {
    code: Code.PermissionDenied,
    summary: "The resource is private and you hold no grant for this action.",
  },
  BINDING_WOULD_EXPOSE: {
    code: Code.PermissionDenied,
    summary:
      "Binding this private topic would let someone who may not read it read its copies: the queue must be private and each of its readers may consume the topic.",
  },
  ACCESS_REVOKED: {
    code: Code.PermissionDenied,
    summary:
      "Access you relied on was withdrawn (a grant revoked or narrowed): the subscription, wait or binding ended.",
  },
  OPERATOR_REQUIRED: {
    code: Code.PermissionDenied,
    summary: "Only an operator (the `operators` setting) may do this.",
  },
  REGISTRATION_CLOSED: {
    code: Code.PermissionDenied,
    summary: "Registration is closed on this node (`registration=closed`); an operator creates users.",
  },
  // existence
  ROUTE_NOT_FOUND: { code: Code.NotFound, summary: "No such route." },
  METHOD_NOT_ALLOWED: { code: Code.MethodNotAllowed, summary: "The route exists but not with this method." },
  QUEUE_NOT_FOUND: { code: Code.NotFound, summary: "No queue has that name." },
  TOPIC_NOT_FOUND: { code: Code.NotFound, summary: "No topic has that name." },
  API_KEY_NOT_FOUND: { code: Code.NotFound, summary: "You hold no API key with that id." },
  USER_NOT_FOUND: { code: Code.NotFound, summary: "No user has that name." },
  SUBSCRIPTION_NOT_FOUND: {
    code: Code.NotFound,
    summary: "The topic has no durable subscription for that queue.",
  },
  USERNAME_TAKEN: { code: Code.AlreadyExists, summary: "A user with that name exists." },
  QUEUE_EXISTS: { code: Code.AlreadyExists, summary: "A queue with that name exists." },
  TOPIC_EXISTS: { code: Code.AlreadyExists, summary: "A topic with that name exists." },
  SUBSCRIPTION_EXISTS: {
    code: Code.AlreadyExists,
    summary: "That queue is already bound to the topic.",
  },
  // limits
  QUEUE_FULL: {
    code: Code.ResourceExhausted,
    summary: "The queue holds `maxLength` messages; publish again after consumers catch up.",
  },
  LOGIN_RATE_LIMITED: {
    code: Code.ResourceExhausted,
    summary: "Too many failed logins for this user or address; wait and retry.",
  },
  REGISTRATION_RATE_LIMITED: {
    code: Code.ResourceExhausted,
    summary: "Too many registrations from this address within the hour; wait and retry.",
  },
  TOO_MANY_SUBSCRIPTIONS: {
    code: Code.ResourceExhausted,
    summary: "The socket holds the configured maximum of subscriptions.",
  },
  TOO_MANY_CONNECTIONS: {
    code: Code.ResourceExhausted,
    summary: "The node holds its configured maximum of WebSocket connections.",
  },
  TOO_MANY_UNAUTHENTICATED_CONNECTIONS: {
    code: Code.ResourceExhausted,
    summary:
      "The node holds `maxUnauthenticatedConnections` sockets that have not authenticated; connect with a token in the Authorization header.",
  },
  QUOTA_EXCEEDED: {
    code: Code.PermissionDenied,
    summary:
      "The user holds its quota of queues, topics or WebSocket connections, or the resource its quota of grants; `details` names the `quota` and its `limit`.",
  },
  STORED_BYTES_EXCEEDED: {
    code: Code.ResourceExhausted,
    summary:
      "The user's un-acked queue messages hold `maxStoredBytesPerUser` bytes on the serving node; publish again after consumers ack.",
  },
  PUBLISH_RATE_LIMITED: {
    code: Code.ResourceExhausted,
    summary:
      "The user publishes faster than `publishRatePerUser`; retry after `details.retryAfterMs` (also sent as `Retry-After`).",
  },
  // availability
  STORE_UNAVAILABLE: {
    code: Code.Unavailable,
    summary:
      "The store cannot be reached; the write was not acknowledged. Retry (an idempotency key makes it safe).",
    retry: "if-idempotent",
  },
  KEYS_UNAVAILABLE: {
    code: Code.Unavailable,
    summary: "The external issuer's public keys (jwtJwks) cannot be fetched or read; retry.",
    retry: "always",
  },
  NOT_READY: {
    code: Code.Unavailable,
    summary: "The node is starting or its store is not reachable.",
    retry: "always",
    reroute: true,
  },
  SHUTTING_DOWN: {
    code: Code.Unavailable,
    summary: "The node is shutting down; retry on another node.",
    retry: "always",
    reroute: true,
  },
  OWNER_UNAVAILABLE: {
    code: Code.Unavailable,
    summary:
      "The node serving the resource cannot be reached or the resource is moving to another node; retry.",
    retry: "if-idempotent",
    reroute: true,
  },
  FENCED: {
    code: Code.Unavailable,
    summary: "This node lost ownership of the resource while writing; nothing was committed. Retry.",
    retry: "always",
    reroute: true,
  },
  INTERNAL: { code: Code.Internal, summary: "An unexpected failure; the log has the detail." },
} as const satisfies Record<string, { code: Code; summary: string; retry?: Retry; reroute?: true }>;

export type Reason = keyof typeof reasons;

/** Whether, and how safely, a request that failed with `reason` may be sent again. */
export function retryOf(reason: Reason): Retry {
  const info: { summary: string; retry?: Retry } = reasons[reason];
  return info.retry ?? "never";
}

/** Whether routing may retry the request on a new route once ownership settles (see Retry). */
export function isReroutable(reason: Reason): boolean {
  const info: { summary: string; reroute?: true } = reasons[reason];
  return info.reroute === true;
}
