import { type Static, type TSchema, Type } from "@sinclair/typebox";

/**
 * The one configuration schema: it is the type (`Config`), the defaults and
 * the validation. Keys are flat camelCase; every key is also an `AVISO_*`
 * env var and a `--kebab-case` flag (see configKeys).
 */

const int = (defaultValue: number, description: string, minimum = 1, maximum?: number) =>
  Type.Integer({
    default: defaultValue,
    description,
    minimum,
    ...(maximum === undefined ? {} : { maximum }),
  });

const bool = (defaultValue: boolean, description: string) =>
  Type.Boolean({ default: defaultValue, description });

/** Log levels pino knows, plus `silent`. */
export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const configSchema = Type.Object(
  {
    // network
    host: Type.String({
      default: "127.0.0.1",
      minLength: 1,
      description: "Address the HTTP/WebSocket server binds.",
    }),
    port: int(8080, "Port the HTTP/WebSocket server binds; 0 picks any free port.", 0, 65535),
    tlsCert: Type.Optional(
      Type.String({
        minLength: 1,
        description: "Path to the TLS certificate (PEM); set with tlsKey to serve HTTPS/WSS.",
      }),
    ),
    tlsKey: Type.Optional(
      Type.String({ minLength: 1, description: "Path to the TLS private key (PEM); set with tlsCert." }),
    ),
    corsOrigin: Type.String({
      default: "",
      description:
        "Access-Control-Allow-Origin for REST calls from browser pages on other origins (`*` or one origin); empty: no CORS.",
    }),
    allowPlaintextBind: bool(
      false,
      "Allow binding a non-loopback host without TLS (tokens and passwords then cross the network in clear).",
    ),

    // storage
    dataDir: Type.String({
      default: "./data",
      minLength: 1,
      description: "Directory for the SQLite database and the generated token secret.",
    }),
    store: Type.String({
      default: "sqlite:",
      pattern: "^(sqlite:.*|mysql://[^/]+/[^/?#]+.*)$",
      examples: ["sqlite:", "sqlite:/var/lib/aviso/aviso.db", "mysql://user:pass@host:3306/aviso"],
      description:
        "Store URL: `sqlite:` (file under dataDir), `sqlite:/path.db`, `mysql://user:pass@host:port/db`, or `mysql://user:pass@primary:port,replica:port/db` (writes go to the first writable host).",
    }),

    sqliteBusyTimeoutMs: int(
      5000,
      "How long an embedded SQLite store waits for another process's write lock before STORE_UNAVAILABLE.",
      0,
    ),
    sqliteCommitThread: bool(
      true,
      "Commit to an embedded SQLite store on a worker thread, so the node keeps serving while a commit waits for its fsync.",
    ),
    storeIdleTransactionTimeoutSec: int(
      5,
      "MariaDB ends a store transaction that sends nothing this long, so a node frozen mid-commit does not hold a queue's row lock from its successor (0: off; MySQL has no such setting).",
      0,
      3600,
    ),
    storeQueryTimeoutMs: int(
      3000,
      "With a MySQL host list: a store query or transaction unanswered this long fails with STORE_UNAVAILABLE and the node moves to the next host (a frozen server keeps its connections open). Below the 10 s commit timeout.",
      100,
      9000,
    ),
    storeFailoverProbeTimeoutMs: int(
      2000,
      "With a MySQL host list: how long one probe of a host (connect and one query) may take while the node looks for the writable server.",
      100,
      60_000,
    ),
    storeFailoverMinRetryMs: int(
      100,
      "With a MySQL host list: the wait after a search found no writable server; it doubles per failed search up to storeFailoverMaxRetryMs.",
      10,
      60_000,
    ),
    storeFailoverMaxRetryMs: int(
      1000,
      "With a MySQL host list: the longest wait between two searches for the writable server, so a promoted replica is found at most this long after it takes writes (plus one probe).",
      10,
      60_000,
    ),
    storeCommitLanes: int(
      4,
      "Transactions a node keeps in flight on a MySQL store; a queue or topic keeps to one while any of its writes is unanswered, so its writes keep their order, and one with none takes the least busy (SQLite commits one at a time).",
      1,
      64,
    ),
    storeCommitPipeline: int(
      1,
      "Transactions of one lane a node keeps in flight on a single MySQL server, so a busy queue's batches share log flushes; answers keep their order (Galera and SQLite: one at a time).",
      1,
      16,
    ),
    storePreparedInserts: bool(
      true,
      "On a MySQL store, insert queue segments and topic message rows with server-side prepared statements (less CPU per row in the node and the database); false sends them as SQL text, for proxies that cannot forward prepared statements.",
    ),
    storeCommitThread: bool(
      true,
      "On a MySQL store with one server, commit on a worker thread with its own connections, so the node's event loop does not spend its time encoding, sending and answering commits (a host list commits on the event loop: one search for the writable server).",
    ),
    storeBatchMaxMessages: int(
      10_000,
      "Most messages one store transaction commits: writes arriving while a commit runs join the next one (group commit) up to this many.",
    ),

    // identity
    tokenSecret: Type.Optional(
      Type.String({
        minLength: 32,
        description:
          "HS256 secret for login tokens (≥ 32 chars); when unset a random one is kept in <dataDir>/token-secret.",
      }),
    ),
    tokenTtlMs: int(3_600_000, "Lifetime of a login token in milliseconds."),
    bcryptCost: int(10, "bcrypt cost factor for password hashes (each +1 doubles login CPU).", 4, 15),
    minPasswordLength: int(8, "Shortest password accepted at registration."),
    loginMaxFailures: int(
      10,
      "Failed logins per username or per address within loginWindowMs before logins are refused.",
    ),
    loginWindowMs: int(60_000, "Window in milliseconds over which failed logins are counted."),
    registration: Type.Union([Type.Literal("open"), Type.Literal("closed")], {
      default: "open",
      description:
        "`open`: anyone may register; `closed`: POST /v1/auth/register answers 403 and only operators create users (POST /v1/users).",
    }),
    registrationsPerAddressPerHour: int(
      30,
      "Registrations one client address may attempt per hour (sliding window) before 429 REGISTRATION_RATE_LIMITED.",
    ),
    operators: Type.String({
      default: "",
      pattern: "^([A-Za-z0-9][A-Za-z0-9._-]*(,[A-Za-z0-9][A-Za-z0-9._-]*)*)?$",
      examples: ["alice,ops-bot"],
      description:
        "Comma-separated usernames of operators: they manage users and see cluster-wide operational state (docs/security.md). Empty: no operators.",
    }),
    metricsToken: Type.Optional(
      Type.String({
        minLength: 32,
        description:
          "Bearer token (≥ 32 chars) with which a scraper reads /metrics with per-resource labels (queue names), as an operator's token does.",
      }),
    ),
    metricsResourceLabels: bool(
      false,
      "Show per-resource labels (queue names) on /metrics to every scraper, credentials or not (S7: only where the scrape port is private).",
    ),

    // external identity (docs/security.md S14)
    jwtIssuer: Type.Optional(
      Type.String({
        minLength: 1,
        examples: ["https://auth.example.com/"],
        description:
          "Accept JWTs from this external issuer (`iss`, compared exactly); set with jwtAudience and jwtJwks. Unset: only Aviso's own tokens.",
      }),
    ),
    jwtAudience: Type.Optional(
      Type.String({
        minLength: 1,
        examples: ["aviso"],
        description: "The `aud` an external token must carry (required with jwtIssuer).",
      }),
    ),
    jwtJwks: Type.Optional(
      Type.String({
        minLength: 1,
        examples: ["https://auth.example.com/.well-known/jwks.json", "/etc/aviso/jwks.json"],
        description:
          "The external issuer's public keys: an https:// URL (http:// only on loopback) or a file path, holding a JWKS document.",
      }),
    ),
    jwtJwksRefreshMs: int(
      30_000,
      "Shortest time between two fetches of the JWKS URL when a token names an unknown key; how often a JWKS file is re-read.",
      100,
    ),
    jwtUsernameClaim: Type.String({
      default: "sub",
      pattern: "^[A-Za-z0-9_.:-]{1,64}$",
      description: "Claim of an external token that names the user (must pass Aviso's user-name rules).",
    }),
    jwtUserPrefix: Type.String({
      default: "ext:",
      pattern: "^[A-Za-z0-9._-]{0,31}:$",
      description:
        "Prefix of external user names, ending in `:` (which local user names cannot contain), so external and local users never collide.",
    }),

    // service credentials
    userCacheMs: int(
      5000,
      "How long a node trusts a cached user record (token version, deletion); a revocation on any node invalidates it at once, this bounds a missed announcement.",
      0,
    ),
    passwordThreads: int(
      2,
      "Worker threads hashing and checking passwords (bcrypt), so logins never block the event loop.",
      1,
      64,
    ),
    apiKeyCacheMs: int(
      10_000,
      "How long a node trusts a verified API key before it reads it again: a key revoked on another node stops working there within this time.",
      0,
    ),

    // logging and mode
    logLevel: Type.Union(
      logLevels.map((level) => Type.Literal(level)),
      { default: "info", description: "Log level: fatal, error, warn, info, debug, trace or silent." },
    ),
    production: bool(
      false,
      "Production mode: refuse to start on the slow JavaScript fallback of uWebSockets.js.",
    ),

    // request and message limits
    maxPayloadBytes: int(1_048_576, "Largest message payload (serialised JSON) in bytes."),
    maxBodyBytes: int(8_388_608, "Largest HTTP request body in bytes."),
    maxFrameBytes: int(
      2_097_152,
      "Largest WebSocket frame in bytes; uWS drops the connection on a bigger one (clients see 1006).",
    ),
    maxBatchMessages: int(1000, "Most messages in one batch publish."),
    maxNameLength: int(128, "Longest queue, topic or user name (at most 200).", 1, 200),

    // WebSocket sessions
    maxSubscriptionsPerSocket: int(1000, "Most subscriptions one WebSocket may hold."),
    maxConnections: int(15_000, "Most WebSocket connections this node accepts."),
    maxUnauthenticatedConnections: int(
      1000,
      "Most WebSockets on this node that have not authenticated yet; anonymous upgrades past it are refused (429), users still connect up to maxConnections.",
    ),
    wsAuthTimeoutMs: int(5000, "Time a WebSocket has to authenticate before it is closed with 4001."),
    wsIdleTimeoutSec: int(
      120,
      "Seconds without traffic after which a WebSocket is closed (the server pings before that).",
      8,
    ),
    slowConsumerBufferBytes: int(
      4_194_304,
      "Outgoing bytes buffered for one socket before it is closed as a slow consumer (4008).",
    ),
    slowConsumerStallMs: int(
      10_000,
      "A socket whose outgoing buffer stays above half slowConsumerBufferBytes this long is closed as a slow consumer (4008), like NATS's write deadline.",
    ),

    // queues and topics
    maxReceiveWaitMs: int(20_000, "Longest long-poll wait a REST receive may ask for.", 0),
    maxReceiveMessages: int(1000, "Most messages one REST receive returns."),
    maxListItems: int(
      100,
      "Most items one listing page holds (queues, topics, grants, subscriptions, API keys): the default and largest `limit`.",
      1,
      1000,
    ),
    accessRecheckMs: int(
      5000,
      "Every live subscription, wait and binding is re-checked against the store at least this often, so withdrawn access ends within it even when a peer's announcement is lost (docs/security.md S2).",
      100,
    ),
    maxPrefetch: int(10_000, "Largest prefetch (un-acked deliveries) a queue subscription may ask for."),
    defaultAckTimeoutMs: int(30_000, "Ack deadline for queues that do not set ackTimeoutMs."),
    idempotencyWindowMs: int(
      300_000,
      "How long an idempotencyKey is remembered to drop duplicate publishes.",
      0,
    ),
    idempotencyPurgeMs: int(
      60_000,
      "How often expired idempotency records are deleted from the store.",
      1000,
    ),
    catalogCacheMs: int(
      5000,
      "How long a node trusts a cached queue or topic definition; a change on any node invalidates it at once, this bounds a missed announcement.",
      0,
    ),
    queueMemoryBytes: int(
      134_217_728,
      'Bytes of un-acked queue messages (payload, headers and 256 bytes each) this node keeps in memory over every queue it serves; past it a queue keeps the rest of its backlog in the store only and reads it back in order (docs/operations.md "Memory").',
    ),
    queueMemoryFloorBytes: int(
      1_048_576,
      "Bytes of messages every queue may keep in memory whatever the others hold, so one large backlog does not page small, busy queues; counted within queueMemoryBytes.",
      0,
    ),
    topicMemoryMessages: int(
      10_000,
      "Recent messages of each served topic kept in memory for replay and history; older ones are read from the store.",
    ),
    topicMemoryBytes: int(
      16_777_216,
      "Bytes (key + payload + headers) of those recent messages each served topic keeps at most; older ones are read from the store, and a non-durable topic's history ends there.",
    ),
    topicRetentionIntervalMs: int(
      1000,
      "How often a served topic applies its retention (deletes messages past maxAgeMs or maxMessages).",
      10,
    ),
    topicDefaultMaxAgeMs: int(86_400_000, "Retention by age for topics that do not set one."),
    topicDefaultMaxMessages: int(1_000_000, "Retention by count for topics that do not set one."),

    // per-user quotas (docs/operations.md "Quotas")
    maxQueuesPerUser: int(1000, "Most queues one user may have created (403 QUOTA_EXCEEDED past it)."),
    maxTopicsPerUser: int(1000, "Most topics one user may have created (403 QUOTA_EXCEEDED past it)."),
    maxGrantsPerResource: int(
      1000,
      "Most users a queue or topic may grant permissions to (403 QUOTA_EXCEEDED past it).",
    ),
    maxConnectionsPerUser: int(
      100,
      "Most WebSockets one user may hold on this node (counted per node; 403 QUOTA_EXCEEDED past it).",
    ),
    maxStoredBytesPerUser: int(
      268_435_456,
      "Most bytes of un-acked queue messages one user's publishes may hold on the node serving the queues (429 STORED_BYTES_EXCEEDED past it).",
    ),
    publishRatePerUser: int(
      10_000,
      "Messages per second one user may publish through this node, on average (429 PUBLISH_RATE_LIMITED past it).",
    ),
    publishBurstPerUser: int(
      20_000,
      "Messages one user may publish through this node at once before publishRatePerUser applies (the token bucket's size).",
    ),
    maxResponseBytes: int(
      8_388_608,
      "Largest REST receive or topic history page in bytes: a page stops before it (one message is always returned).",
      1024,
    ),

    // lifecycle
    shutdownTimeoutMs: int(
      10_000,
      "Longest a graceful shutdown waits for in-flight work before closing anyway.",
      0,
    ),

    // cluster
    zk: Type.Optional(
      Type.String({
        pattern: "^[^,/\\s:]+:\\d+(,[^,/\\s:]+:\\d+)*(/[^\\s]*)?$",
        examples: ["zk1:2181,zk2:2181,zk3:2181/aviso"],
        description: "ZooKeeper connect string `host:port,…[/chroot]`; set to run as a cluster node.",
      }),
    ),
    zkSessionTimeoutMs: int(
      6000,
      "ZooKeeper session timeout; a dead node's resources move after about this long (a crashed process whose peer port refuses is evicted sooner).",
    ),
    nodeId: Type.Optional(
      Type.String({
        pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        examples: ["node-1"],
        description:
          "Stable id of this node in the cluster (letters, digits, `_.-`); default: generated once into <dataDir>/node-id (`standalone` on a standalone node).",
      }),
    ),
    peerPort: int(0, "Port for node-to-node gRPC; 0 picks any free port.", 0, 65535),
    advertiseHost: Type.Optional(
      Type.String({ minLength: 1, description: "Host other nodes use to reach this one; default: host." }),
    ),
    clusterSecret: Type.Optional(
      Type.String({
        minLength: 32,
        description: "Shared secret (≥ 32 chars) that authenticates node-to-node calls.",
      }),
    ),
    peerTlsCa: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "Path to the CA certificate(s) (PEM) that sign every node's peer certificate; with peerTlsCert and peerTlsKey the peer link is mutual TLS.",
      }),
    ),
    peerTlsCert: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "Path to this node's peer certificate (PEM), signed by peerTlsCa, naming advertiseHost; set with peerTlsCa and peerTlsKey.",
      }),
    ),
    peerTlsKey: Type.Optional(
      Type.String({
        minLength: 1,
        description: "Path to the private key (PEM) of peerTlsCert; set with peerTlsCa and peerTlsCert.",
      }),
    ),
    peerFeedMaxQueuedEvents: int(
      10_000,
      "Topic events a peer's feed stream may leave unread before the serving node ends it (the peer resumes from its last offset).",
    ),
    peerProbeIntervalMs: int(
      200,
      "How often a cluster node TCP-connects to every member's peer port; a kill -9 (connection refused) reported by a majority evicts the member before its session expires.",
      20,
      60_000,
    ),
    peerProbeTimeoutMs: int(
      1000,
      "A peer probe unanswered this long is silent: it proves nothing and is never reported.",
      50,
      60_000,
    ),
    zkAuth: Type.Optional(
      Type.String({
        pattern: "^[^:,\\s]+:[^,\\s]+(,[^:,\\s]+:[^,\\s]+)*$",
        examples: ["aviso:s3cret", "aviso:new-secret,aviso:old-secret"],
        description:
          "ZooKeeper digest credentials `user:password[,user:password…]`: the session authenticates with each, and every znode Aviso creates is readable and writable by them only (a second one during rotation).",
      }),
    ),
  },
  { additionalProperties: false },
);

/** The validated, frozen configuration of one node. */
export type Config = Readonly<Static<typeof configSchema>>;

export type ConfigKey = keyof Static<typeof configSchema>;

/** What one config key accepts from strings (env vars and flags). */
export type ScalarKind = "integer" | "number" | "boolean" | "string";

/** One row per key, for docs and for the loader. */
export interface ConfigKeyInfo {
  key: ConfigKey;
  /** e.g. `AVISO_MAX_PAYLOAD_BYTES` */
  env: string;
  /** e.g. `--max-payload-bytes` */
  flag: string;
  /** undefined = optional key with no default. */
  default: string | number | boolean | undefined;
  description: string;
  kind: ScalarKind;
  /** The key's JSON schema, for docs (ranges, patterns, examples). */
  schema: TSchema;
}

const words = (key: string): string[] => key.split(/(?=[A-Z])/).map((word) => word.toLowerCase());

/** `maxPayloadBytes` → `AVISO_MAX_PAYLOAD_BYTES`. */
export const envNameOf = (key: string): string => `AVISO_${words(key).join("_").toUpperCase()}`;

/** `maxPayloadBytes` → `--max-payload-bytes`. */
export const flagNameOf = (key: string): string => `--${words(key).join("-")}`;

function kindOf(schema: TSchema): ScalarKind {
  const type: unknown = schema.type;
  if (type === "integer" || type === "number" || type === "boolean" || type === "string") return type;
  // A union of string literals (logLevel) arrives as a string.
  if (Array.isArray(schema.anyOf)) return "string";
  throw new Error(`config schema: unsupported type for ${JSON.stringify(schema)}`);
}

export const configKeys: readonly ConfigKeyInfo[] = Object.freeze(
  Object.entries(configSchema.properties).map(([key, schema]: [string, TSchema]) =>
    Object.freeze({
      key: key as ConfigKey,
      env: envNameOf(key),
      flag: flagNameOf(key),
      default: schema.default as ConfigKeyInfo["default"],
      description: String(schema.description),
      kind: kindOf(schema),
      schema,
    }),
  ),
);
