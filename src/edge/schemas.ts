import { type TSchema, Type } from "@sinclair/typebox";
import { MAX_KEY_LENGTH } from "../broker/pattern.ts";

/**
 * Request and response shapes of public API v1. The same schemas validate
 * requests (REST bodies, WebSocket frames) and generate /openapi.json.
 * Limits that operators configure (payload size, batch size, waits) are
 * checked by the operations, not here, so they can change without a rebuild.
 */

const closed = { additionalProperties: false } as const;

/** How long a queue or topic name may be, wherever one is named. */
export const nameBounds = { minLength: 1, maxLength: 200 } as const;
export const NameSchema = Type.String({ ...nameBounds, description: "Letters, digits, `._-`." });
const Username = Type.String({ minLength: 1, maxLength: 200 });
export const EpochMs = Type.Integer({ description: "Epoch milliseconds." });
const HeadersSchema = Type.Record(
  Type.String({ minLength: 1, maxLength: 128 }),
  Type.String({ maxLength: 4096 }),
  {
    maxProperties: 64,
    description: "String headers delivered with the message.",
  },
);
const IdempotencyKey = Type.String({
  minLength: 1,
  maxLength: 200,
  description: "A retry with the same key within the de-duplication window is stored once.",
});
const Payload = Type.Unknown({ description: "Any JSON value." });
export const Permission = Type.Union([Type.Literal("publish"), Type.Literal("consume")]);
/** An ack deadline: at most 12 hours. */
const AckTimeoutMs = Type.Integer({ minimum: 1, maximum: 43_200_000 });
/** One message, or a batch of them committed together. */
const oneOrBatch = <Message extends TSchema>(message: Message) =>
  Type.Union([message, Type.Object({ messages: Type.Array(message, { minItems: 1 }) }, closed)]);
const positiveOrNull = (description: string) =>
  Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description });

export const NameParams = Type.Object({ name: NameSchema }, closed);
export const SubscriptionParams = Type.Object({ name: NameSchema, queue: NameSchema }, closed);

// auth
export const CredentialsBody = Type.Object(
  { username: Username, password: Type.String({ minLength: 1, maxLength: 1024 }) },
  closed,
);
export const RegisteredView = Type.Object({ username: Type.String(), createdAt: EpochMs });
export const TokenView = Type.Object({ token: Type.String(), expiresAt: EpochMs });
export const MeView = Type.Object({
  username: Type.String(),
  tokenExpiresAt: EpochMs,
  operator: Type.Boolean({ description: "Named in the node's `operators` setting (docs/security.md)." }),
});

/** The fields every queue and topic view starts with. */
const resourceViewFields = {
  id: Type.String({
    description: "Immutable identity given at creation; a later one with the same name has another id.",
  }),
  name: Type.String(),
  creator: Type.Optional(
    Type.String({ description: "Username of the creator; shown only to the creator and to operators." }),
  ),
  owner: Type.Optional(
    Type.String({
      description: "Deprecated: the same value as `creator`, kept for older clients; read `creator`.",
      deprecated: true,
    }),
  ),
  private: Type.Boolean(),
};

// queues
export const CreateQueueBody = Type.Object(
  {
    name: NameSchema,
    private: Type.Optional(Type.Boolean({ description: "Only the creator and grantees may use it." })),
    ackTimeoutMs: Type.Optional(AckTimeoutMs),
    maxDeliveries: Type.Optional(positiveOrNull("Deliveries before dead-lettering; null = unlimited.")),
    deadLetterQueue: Type.Optional(Type.Union([NameSchema, Type.Null()])),
    messageTtlMs: Type.Optional(positiveOrNull("Undelivered messages expire after this; null = never.")),
    maxLength: Type.Optional(positiveOrNull("Most messages held; a full queue refuses publishes.")),
  },
  closed,
);
export const QueueViewSchema = Type.Object({
  ...resourceViewFields,
  ackTimeoutMs: Type.Integer(),
  maxDeliveries: Type.Union([Type.Integer(), Type.Null()]),
  deadLetterQueue: Type.Union([Type.String(), Type.Null()]),
  deadLetter: Type.Union(
    [
      Type.Object({
        queue: Type.String(),
        state: Type.Union([Type.Literal("ok"), Type.Literal("missing"), Type.Literal("denied")], {
          description:
            "ok; missing: the queue it was defined with is gone (even if another now has its name); denied: the creator may no longer publish there. Missing and denied dead letters are dropped.",
        }),
      }),
      Type.Null(),
    ],
    { description: "Where dead letters go now; null without a dead-letter queue." },
  ),
  messageTtlMs: Type.Union([Type.Integer(), Type.Null()]),
  maxLength: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: EpochMs,
  depth: Type.Integer({
    description: "Messages waiting (ready + delayed), including any a backlog keeps in the store only.",
  }),
  inFlight: Type.Integer({ description: "Delivered, not yet acked." }),
  consumers: Type.Integer(),
});
/** The query of every listing (docs/protocol.md "Paging"). */
export const ListQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        description:
          "Most items in the page; the default and the largest allowed are the node's maxListItems (100).",
      }),
    ),
    after: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        pattern: "^[A-Za-z0-9_-]+$",
        description: "The `next` of the previous page (an opaque cursor); omit it for the first page.",
      }),
    ),
  },
  closed,
);

/** Every listing's cursor for its following page. */
export const NextCursor = Type.Union([Type.String(), Type.Null()], {
  description: "Pass as `after` for the following page; null when there is none.",
});

export const QueueListView = Type.Object({ queues: Type.Array(QueueViewSchema), next: NextCursor });

export const QueueMessageBody = Type.Object(
  {
    payload: Payload,
    headers: Type.Optional(HeadersSchema),
    delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 604_800_000 })),
    idempotencyKey: Type.Optional(IdempotencyKey),
  },
  closed,
);
export const QueuePublishBody = oneOrBatch(QueueMessageBody);
export const IdsView = Type.Object({ ids: Type.Array(Type.String()) });

export const ReceiveBody = Type.Object(
  {
    max: Type.Optional(Type.Integer({ minimum: 1 })),
    waitMs: Type.Optional(Type.Integer({ minimum: 0 })),
    ackTimeoutMs: Type.Optional(AckTimeoutMs),
  },
  closed,
);
export const DeliveryView = Type.Object({
  id: Type.String(),
  payload: Payload,
  headers: Type.Optional(HeadersSchema),
  publishedAt: EpochMs,
  deliveries: Type.Integer({ description: "1 on first delivery." }),
  receipt: Type.String({ description: "Names this delivery in ack/nack." }),
});
export const ReceiveView = Type.Object({ messages: Type.Array(DeliveryView) });
const Receipts = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: 10_000 });
export const AckBody = Type.Object({ receipts: Receipts }, closed);
export const NackBody = Type.Object(
  { receipts: Receipts, delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 43_200_000 })) },
  closed,
);
export const AckView = Type.Object({
  acked: Type.Integer(),
  stale: Type.Array(Type.String(), {
    description:
      "Receipts no longer in flight (RECEIPT_STALE): already acked, redelivered, or from an earlier serving node.",
  }),
});

// grants
export const GrantBody = Type.Object(
  {
    username: Username,
    permissions: Type.Array(Permission, { maxItems: 2, description: "An empty list removes the grant." }),
  },
  closed,
);
export const GrantView = Type.Object({
  kind: Type.Union([Type.Literal("queue"), Type.Literal("topic")]),
  resource: Type.String(),
  username: Type.String(),
  permissions: Type.Array(Permission),
});
export const GrantListView = Type.Object({ grants: Type.Array(GrantView), next: NextCursor });

// topics
export const CreateTopicBody = Type.Object(
  {
    name: NameSchema,
    private: Type.Optional(Type.Boolean()),
    durable: Type.Optional(
      Type.Boolean({ description: "Commit every message before acknowledging (default true)." }),
    ),
    retention: Type.Optional(
      Type.Object(
        {
          maxAgeMs: Type.Optional(positiveOrNull("Drop messages older than this; null = no age limit.")),
          maxMessages: Type.Optional(positiveOrNull("Keep at most this many; null = no count limit.")),
        },
        closed,
      ),
    ),
  },
  closed,
);
export const TopicViewSchema = Type.Object({
  ...resourceViewFields,
  durable: Type.Boolean(),
  retention: Type.Object({
    maxAgeMs: Type.Union([Type.Integer(), Type.Null()]),
    maxMessages: Type.Union([Type.Integer(), Type.Null()]),
  }),
  createdAt: EpochMs,
  nextOffset: Type.Integer({ description: "Offset the next message will get." }),
  firstOffset: Type.Integer({ description: "Oldest offset still retained." }),
});
export const TopicListView = Type.Object({ topics: Type.Array(TopicViewSchema), next: NextCursor });
export const TopicMessageBody = Type.Object(
  {
    payload: Payload,
    key: Type.Optional(
      Type.String({ maxLength: MAX_KEY_LENGTH, description: "Routing key, dot-separated words." }),
    ),
    headers: Type.Optional(HeadersSchema),
    idempotencyKey: Type.Optional(IdempotencyKey),
  },
  closed,
);
export const TopicPublishBody = oneOrBatch(TopicMessageBody);
export const OffsetsView = Type.Object({ offsets: Type.Array(Type.Integer()) });
export const HistoryQuery = Type.Object(
  {
    from: Type.Optional(Type.Integer({ minimum: 0, description: "First offset; default: oldest retained." })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  closed,
);
export const TopicMessageView = Type.Object({
  offset: Type.Integer(),
  key: Type.String(),
  payload: Payload,
  headers: Type.Optional(HeadersSchema),
  publishedAt: EpochMs,
});
export const HistoryView = Type.Object({
  messages: Type.Array(TopicMessageView),
  complete: Type.Boolean({ description: "False when retention already dropped part of what was asked for." }),
  firstOffset: Type.Integer(),
  nextOffset: Type.Integer(),
});

// durable subscriptions
export const BindBody = Type.Object(
  {
    queue: NameSchema,
    pattern: Type.Optional(
      Type.String({ maxLength: MAX_KEY_LENGTH, description: "Routing-key pattern; default `#`." }),
    ),
  },
  closed,
);
export const BindingView = Type.Object({
  topic: Type.String(),
  queue: Type.String(),
  topicId: Type.String({ description: "Id of the topic it copies from; never a later topic of that name." }),
  queueId: Type.String({ description: "Id of the queue it copies into; never a later queue of that name." }),
  pattern: Type.String(),
  nextOffset: Type.Integer({ description: "Next topic offset to copy into the queue." }),
  createdBy: Type.Optional(
    Type.String({ description: "Shown only to the topic's creator, the binding's creator and operators." }),
  ),
  createdAt: EpochMs,
  state: Type.Union([Type.Literal("active"), Type.Literal("ended")], {
    description: "An ended subscription copies nothing more; binding the same queue again replaces it.",
  }),
  endedReason: Type.Union([Type.String(), Type.Null()], {
    description: "Why it ended: TOPIC_NOT_FOUND, QUEUE_NOT_FOUND or ACCESS_REVOKED.",
  }),
  endedAt: Type.Union([EpochMs, Type.Null()]),
});
export const BindingCreatedView = Type.Composite([
  BindingView,
  Type.Object({ queueCreated: Type.Boolean() }),
]);
export const BindingListView = Type.Object({ subscriptions: Type.Array(BindingView), next: NextCursor });

export const LookupView = Type.Object({
  node: Type.String({ description: "Id of the node serving it now." }),
  httpUrl: Type.String({ description: "That node's advertised base URL; its WebSocket is `/v1/ws` there." }),
});

// operations
export const HealthView = Type.Object({ status: Type.String() });
export const MemberView = Type.Object({ id: Type.String(), httpUrl: Type.String(), peerUrl: Type.String() });
export const ClusterView = Type.Object({
  mode: Type.Union([Type.Literal("standalone"), Type.Literal("cluster")]),
  self: MemberView,
  members: Type.Array(MemberView),
  owned: Type.Optional(
    Type.Object(
      { queues: Type.Array(Type.String()), topics: Type.Array(Type.String()) },
      { description: "Resources this node serves; shown to operators only." },
    ),
  ),
});
export const ErrorView = Type.Object({
  error: Type.Object({
    code: Type.String(),
    reason: Type.String({ description: "Stable UPPER_SNAKE reason; see docs/errors.md." }),
    message: Type.String(),
    retry: Type.Optional(
      Type.Union([Type.Literal("always"), Type.Literal("if-idempotent")], {
        description:
          "Present when the failure is transient: `always` (nothing took effect; repeat the request) or `if-idempotent` (it may have taken effect; repeat only reads, acks and publishes with an idempotency key).",
      }),
    ),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
});
