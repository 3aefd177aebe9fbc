import type { Level } from "pino";
import type { Logger } from "./logger.ts";

/**
 * The log controller: every event Aviso logs, with its level and wording, in
 * one table. Handlers call `logEvents.nodeListening(log, {url})` and never
 * pick a level, so operators can rely on what each level means. To add an
 * event, add a row; the field types follow from the row.
 *
 * Each line carries `event: "<name>"` for machines and the message for people.
 */

interface EventSpec<Fields> {
  level: Level | ((fields: Fields) => Level);
  message: string;
}

const event = <Fields extends object = Record<never, never>>(
  level: EventSpec<Fields>["level"],
  message: string,
): EventSpec<Fields> => ({ level, message });

type ResourceKind = "queue" | "topic";

const eventTable = {
  // lifecycle
  nodeStarting: event<{ nodeId: string; mode: "standalone" | "cluster" }>("info", "node starting"),
  nodeListening: event<{ url: string }>("info", "node listening"),
  nodeReady: event<{ startupMs: number }>("info", "node ready"),
  shuttingDown: event<{ signal?: string }>("info", "shutting down"),
  shutdownComplete: event<{ durationMs: number }>("info", "shutdown complete"),
  shutdownTimedOut: event<{ timeoutMs: number; waitingFor: "handover" | "commits" }>(
    "warn",
    "shutdown timed out; closing with work in flight",
  ),
  fatalError: event<{ err: unknown }>("fatal", "fatal error; exiting"),
  unexpectedError: event<{ err: unknown; context: string }>("error", "unexpected error"),

  // startup choices the operator must know about
  uwsFallback: event<{ detail?: string }>(
    "warn",
    "uWebSockets.js native binary not loaded; using its slow JavaScript fallback",
  ),
  plaintextBind: event<{ host: string }>(
    "warn",
    "serving without TLS on a non-loopback address (allowPlaintextBind)",
  ),
  tokenSecretCreated: event<{ path: string }>("info", "generated a token secret for this data directory"),

  // store
  storeConnected: event<{ store: string }>("info", "store connected"),
  storeUnavailable: event<{ err: unknown }>("error", "store unavailable"),

  // edge
  requestFailed: event<{ method: string; route: string; status: number; reason: string; err?: unknown }>(
    // A 4xx is the client's mistake and routine; a 5xx is ours and needs attention.
    ({ status }) => (status >= 500 ? "error" : "debug"),
    "request failed",
  ),
  connectionLimitReached: event<{ maxConnections: number }>(
    "warn",
    "WebSocket connection limit reached; refusing new sockets",
  ),
  wsAuthTimeout: event<{ ip: string }>("debug", "WebSocket closed: no auth in time"),
  slowConsumerClosed: event<{ username: string; bufferedBytes: number; limitBytes: number }>(
    "warn",
    "WebSocket closed: slow consumer",
  ),

  // access (docs/security.md S2)
  accessEnded: event<{ username: string; kind: ResourceKind; name: string; reason: string }>(
    "info",
    "access withdrawn: ended what relied on it",
  ),
  accessRecheckFailed: event<{ kind: ResourceKind; name: string; err: unknown }>(
    "warn",
    "access re-check could not read the resource; the next sweep tries again",
  ),

  // cluster
  coordinatorConnected: event<{ zk: string }>("info", "connected to ZooKeeper"),
  coordinatorSessionLost: event<{ err?: unknown }>(
    "error",
    "ZooKeeper session lost; releasing every owned resource",
  ),
  coordinatorDisconnected: event<{ leasesKept: number; remainingMs: number }>(
    "warn",
    "ZooKeeper link lost; serving owned resources while reconnecting within the session",
  ),
  coordinatorResumed: event<{ disconnectedMs: number; leasesKept: number }>(
    "info",
    "ZooKeeper link back within the same session",
  ),
  memberJoined: event<{ nodeId: string }>("info", "cluster member joined"),
  memberLeft: event<{ nodeId: string }>("info", "cluster member left"),
  memberEvicted: event<{ nodeId: string; reporters: string[] }>(
    "warn",
    "evicted a cluster member whose peer port refused a quorum of members; its resources fail over now",
  ),
  evictedByPeers: event<{ leasesLost: number }>(
    "error",
    "evicted by the other members (they found this node's peer port refusing); dropping every owned resource and registering again",
  ),
  ownershipAcquired: event<{ kind: ResourceKind; name: string }>("debug", "ownership acquired"),
  ownershipReleased: event<{ kind: ResourceKind; name: string; why: "moved" | "lost" | "closing" }>(
    "debug",
    "ownership released",
  ),
  fenced: event<{ kind: ResourceKind; name: string; epoch: number }>(
    "warn",
    "write fenced: ownership moved to another node",
  ),
  deadLettersLost: event<{ queue: string; count: number; why: "missing" | "denied" }>(
    "warn",
    "dead letters dropped: the dead-letter queue is gone or may not be published to",
  ),
  // A poison message dropped is worth a line at the default level; expiry without a dead-letter queue is routine.
  messagesDropped: event<{ queue: string; count: number; cause: "max_deliveries" | "expired" }>(
    ({ cause }) => (cause === "max_deliveries" ? "info" : "debug"),
    "messages dropped: no dead-letter queue",
  ),
} as const;

export type LogEventName = keyof typeof eventTable;

type FieldsOf<Spec> = Spec extends EventSpec<infer Fields> ? Fields : never;

/** Fields may be left out when the event has no required ones. */
type EventArgs<Fields> = Record<never, never> extends Fields ? [fields?: Fields] : [fields: Fields];

export type LogEvents = {
  readonly [Name in LogEventName]: (
    log: Logger,
    ...args: EventArgs<FieldsOf<(typeof eventTable)[Name]>>
  ) => void;
};

function emit(log: Logger, name: string, spec: EventSpec<object>, fields: object): void {
  const level = typeof spec.level === "function" ? spec.level(fields) : spec.level;
  if (!log.isLevelEnabled(level)) return;
  log[level]({ event: name, ...fields }, spec.message);
}

export const logEvents: LogEvents = Object.freeze(
  Object.fromEntries(
    Object.entries(eventTable).map(([name, spec]) => [
      name,
      (log: Logger, fields: object = {}) => emit(log, name, spec as EventSpec<object>, fields),
    ]),
  ),
) as LogEvents;

/** Level each event logs at (for docs and tests); dynamic levels show as "dynamic". */
export const logEventLevels: Readonly<Record<LogEventName, Level | "dynamic">> = Object.freeze(
  Object.fromEntries(
    Object.entries(eventTable).map(([name, spec]) => [
      name,
      typeof spec.level === "function" ? "dynamic" : spec.level,
    ]),
  ),
) as Record<LogEventName, Level | "dynamic">;
