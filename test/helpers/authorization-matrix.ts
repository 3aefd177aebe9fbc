import { SignJWT } from "jose";
import { expect } from "vitest";
import type { Services } from "../../src/app/services.ts";
import type { AccessSpec } from "../../src/edge/access-spec.ts";
import { routeTable } from "../../src/edge/edge-server.ts";
import type { AnyRoute } from "../../src/edge/http/route.ts";
import { wsOps } from "../../src/edge/ws/dispatch.ts";
import { Api, type ApiResponse, newUser, uniqueName } from "./api.ts";
import { TestSocket } from "./ws-client.ts";

/**
 * The authorization matrix (docs/security.md): every REST route and every
 * WebSocket op, read from the tables the node itself serves, called by every
 * kind of caller, answered as the route's declared `access` says — and a
 * refused call changes nothing. A route or op without a sample request here
 * fails the matrix, so nothing new goes untested.
 */

/** The resources one matrix row acts on, fresh for each row. */
export interface Fixture {
  queue: string;
  topic: string;
  /** A private queue of the creator that the topic is bound into. */
  boundQueue: string;
  /** The receipt of a message the creator holds leased from `queue`. */
  receipt: string;
}

interface Sample {
  method: "get" | "post" | "delete";
  path: string;
  body?: unknown;
  /** Refusals that are not about access and that an allowed caller may meet (a receipt that is not theirs). */
  allowedRefusals?: readonly string[];
}

const password = "correct horse battery";

/** Routes that, allowed, spend their caller (delete it or revoke its tokens); other suites give them a throwaway user. */
export const operationsSpendingCaller: ReadonlySet<string> = new Set(["deleteMe", "logoutAll"]);

/** One sample request per route, by operationId. */
const restSamples: Record<string, (f: Fixture, creator: string) => Sample> = {
  register: () => ({
    method: "post",
    path: "/v1/auth/register",
    body: { username: uniqueName("r"), password },
  }),
  login: (_f, creator) => ({ method: "post", path: "/v1/auth/login", body: { username: creator, password } }),
  me: () => ({ method: "get", path: "/v1/me" }),
  // Both spend their caller (operationsSpendingCaller): a signed-in caller uses a fresh user of its own.
  deleteMe: () => ({ method: "delete", path: "/v1/me" }),
  logoutAll: () => ({ method: "post", path: "/v1/me/logout-all" }),
  createUser: () => ({ method: "post", path: "/v1/users", body: { username: uniqueName("made"), password } }),
  logoutUser: () => ({ method: "post", path: `/v1/users/${uniqueName("nobody")}/logout-all` }),
  deleteUser: () => ({ method: "delete", path: `/v1/users/${uniqueName("nobody")}` }),
  health: () => ({ method: "get", path: "/healthz" }),
  ready: () => ({ method: "get", path: "/readyz" }),
  metrics: () => ({ method: "get", path: "/metrics" }),
  openapi: () => ({ method: "get", path: "/openapi.json" }),
  docs: () => ({ method: "get", path: "/docs" }),
  cluster: () => ({ method: "get", path: "/v1/cluster" }),
  createQueue: () => ({ method: "post", path: "/v1/queues", body: { name: uniqueName("mq") } }),
  listQueues: () => ({ method: "get", path: "/v1/queues" }),
  getQueue: (f) => ({ method: "get", path: `/v1/queues/${f.queue}` }),
  lookupQueue: (f) => ({ method: "get", path: `/v1/queues/${f.queue}/lookup` }),
  deleteQueue: (f) => ({ method: "delete", path: `/v1/queues/${f.queue}` }),
  publishToQueue: (f) => ({ method: "post", path: `/v1/queues/${f.queue}/messages`, body: { payload: "m" } }),
  receiveFromQueue: (f) => ({ method: "post", path: `/v1/queues/${f.queue}/receive`, body: { max: 1 } }),
  ackQueueMessages: (f) => ({
    method: "post",
    path: `/v1/queues/${f.queue}/ack`,
    body: { receipts: [f.receipt] },
    allowedRefusals: ["INVALID_RECEIPT", "RECEIPT_INVALID"],
  }),
  nackQueueMessages: (f) => ({
    method: "post",
    path: `/v1/queues/${f.queue}/nack`,
    body: { receipts: [f.receipt] },
    allowedRefusals: ["INVALID_RECEIPT", "RECEIPT_INVALID"],
  }),
  grantQueue: (f) => ({
    method: "post",
    path: `/v1/queues/${f.queue}/grants`,
    body: { username: uniqueName("nobody"), permissions: ["consume"] },
    allowedRefusals: ["USER_NOT_FOUND"],
  }),
  listQueueGrants: (f) => ({ method: "get", path: `/v1/queues/${f.queue}/grants` }),
  createTopic: () => ({ method: "post", path: "/v1/topics", body: { name: uniqueName("mt") } }),
  listTopics: () => ({ method: "get", path: "/v1/topics" }),
  getTopic: (f) => ({ method: "get", path: `/v1/topics/${f.topic}` }),
  lookupTopic: (f) => ({ method: "get", path: `/v1/topics/${f.topic}/lookup` }),
  deleteTopic: (f) => ({ method: "delete", path: `/v1/topics/${f.topic}` }),
  publishToTopic: (f) => ({
    method: "post",
    path: `/v1/topics/${f.topic}/messages`,
    body: { key: "a.b", payload: "m" },
  }),
  topicHistory: (f) => ({ method: "get", path: `/v1/topics/${f.topic}/messages` }),
  grantTopic: (f) => ({
    method: "post",
    path: `/v1/topics/${f.topic}/grants`,
    body: { username: uniqueName("nobody"), permissions: ["consume"] },
    allowedRefusals: ["USER_NOT_FOUND"],
  }),
  listTopicGrants: (f) => ({ method: "get", path: `/v1/topics/${f.topic}/grants` }),
  createDurableSubscription: (f) => ({
    method: "post",
    path: `/v1/topics/${f.topic}/subscriptions`,
    body: { queue: uniqueName("bq") },
  }),
  listDurableSubscriptions: (f) => ({ method: "get", path: `/v1/topics/${f.topic}/subscriptions` }),
  createApiKey: () => ({ method: "post", path: "/v1/api-keys", body: { name: "matrix" } }),
  listApiKeys: () => ({ method: "get", path: "/v1/api-keys" }),
  revokeApiKey: () => ({
    method: "delete",
    path: `/v1/api-keys/${uniqueName("key")}`,
    allowedRefusals: ["API_KEY_NOT_FOUND"],
  }),
  deleteDurableSubscription: (f) => ({
    method: "delete",
    path: `/v1/topics/${f.topic}/subscriptions/${f.boundQueue}`,
  }),
};

/** The routes the node serves, with their declared access (handlers are never called here). */
export function servedRoutes(): AnyRoute[] {
  const operations = {
    metrics: {} as never,
    metricsResourceLabels: async () => false,
    version: "matrix",
    checkReady: async () => {},
    cluster: {} as never,
  };
  return routeTable({} as Services, operations);
}

export function sampleFor(route: AnyRoute): (f: Fixture, creator: string) => Sample {
  const sample = restSamples[route.operationId];
  if (sample === undefined)
    throw new Error(`authorization matrix: no sample request for ${route.operationId}`);
  return sample;
}

/** Who calls. `grants` are what the creator gave them on both resources. */
export type Caller =
  | { kind: "anonymous" }
  | { kind: "forged" }
  | { kind: "expired" }
  /** A token of a user who deleted themselves since (docs/security.md S9). */
  | { kind: "deleted" }
  | { kind: "creator" }
  | { kind: "user"; grants: readonly ("publish" | "consume")[]; revoked?: boolean };

export const callers: readonly { name: string; caller: Caller }[] = [
  { name: "anonymous", caller: { kind: "anonymous" } },
  { name: "forged token", caller: { kind: "forged" } },
  { name: "expired token", caller: { kind: "expired" } },
  { name: "deleted user", caller: { kind: "deleted" } },
  { name: "user without grant", caller: { kind: "user", grants: [] } },
  { name: "user whose grant was revoked", caller: { kind: "user", grants: [], revoked: true } },
  { name: "publish grantee", caller: { kind: "user", grants: ["publish"] } },
  { name: "consume grantee", caller: { kind: "user", grants: ["consume"] } },
  { name: "creator", caller: { kind: "creator" } },
];

/** What the declared access says this caller gets. */
export function expectedAnswer(
  access: AccessSpec,
  caller: Caller,
): "allowed" | "unauthenticated" | "forbidden" | "hidden" {
  if (access.who === "anyone") return "allowed";
  if (isUnauthenticated(caller)) return "unauthenticated";
  if (access.who === "user") return "allowed";
  if (access.who === "operator") return "forbidden";
  if (caller.kind === "creator") return "allowed";
  const grants = caller.grants;
  const sees = grants.length > 0;
  const allowed =
    access.needs === "see" ? sees : access.needs === "creator" ? false : grants.includes(access.needs);
  if (allowed) return "allowed";
  return sees ? "forbidden" : "hidden";
}

/** Callers whose token proves nothing: none, forged, expired or revoked. */
function isUnauthenticated(
  caller: Caller,
): caller is Extract<Caller, { kind: "anonymous" | "forged" | "expired" | "deleted" }> {
  return ["anonymous", "forged", "expired", "deleted"].includes(caller.kind);
}

const unauthenticatedReasons = ["AUTH_REQUIRED", "TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_REVOKED"];
// A binding into a queue the caller may not see does not exist for them, even on a topic they see (S7).
const forbiddenReasons = [
  "ACCESS_DENIED",
  "NOT_RESOURCE_OWNER",
  "OPERATOR_REQUIRED",
  "SUBSCRIPTION_NOT_FOUND",
];
/** S7: a resource the caller may not see answers like a missing one (test/integration/no-leaks.test.ts compares them). */
const hiddenReasons = ["QUEUE_NOT_FOUND", "TOPIC_NOT_FOUND"];

/** Checks one answer against the expectation; returns whether the call was refused. */
export function checkAnswer(
  expected: ReturnType<typeof expectedAnswer>,
  status: number,
  reason: string | undefined,
  allowedRefusals: readonly string[] = [],
  context = "",
): boolean {
  if (expected === "allowed") {
    if (reason !== undefined && allowedRefusals.includes(reason)) return true;
    expect(status, `${context}: ${reason}`).toBeLessThan(400);
    return false;
  }
  const allowedReasons =
    expected === "unauthenticated"
      ? unauthenticatedReasons
      : expected === "forbidden"
        ? forbiddenReasons
        : hiddenReasons;
  expect(allowedReasons, `${context}: status ${status}`).toContain(reason);
  expect(status, context).toBeGreaterThanOrEqual(400);
  return true;
}

/** The users and tokens of one matrix run against a node (or a cluster: callers spread over `urls`). */
export class MatrixWorld {
  private constructor(
    readonly urls: readonly string[],
    readonly creator: { username: string; api: Api },
    private readonly users: Map<string, { username: string; token: string }>,
    private readonly tokenSecret: string,
    private readonly deletedToken: string,
  ) {}

  static async create(urls: readonly string[], tokenSecret: string): Promise<MatrixWorld> {
    const first = urls[0] as string;
    const creator = await newUser(first, "creator");
    const users = new Map<string, { username: string; token: string }>();
    for (const [index, { name, caller }] of callers.entries()) {
      if (caller.kind !== "user") continue;
      const user = await newUser(urls[index % urls.length] as string, "u");
      users.set(name, { username: user.username, token: user.api.token as string });
    }
    const deleted = await newUser(first, "gone");
    await ok(deleted.api.delete("/v1/me"));
    return new MatrixWorld(
      urls,
      { username: creator.username, api: creator.api },
      users,
      tokenSecret,
      deleted.api.token as string,
    );
  }

  /** A fresh user's token on the caller's node, for calls that spend their caller. */
  async spareToken(index: number): Promise<string> {
    return (await newUser(this.urlFor(index), "spare")).api.token as string;
  }

  /** Fresh private resources, granted as each caller says, a leased message and a binding. */
  async fixture(): Promise<Fixture> {
    const api = this.creator.api;
    const queue = uniqueName("mx-q");
    const topic = uniqueName("mx-t");
    const boundQueue = uniqueName("mx-b");
    await ok(api.post("/v1/queues", { name: queue, private: true, ackTimeoutMs: 600_000 }));
    await ok(api.post("/v1/topics", { name: topic, private: true }));
    for (const { name, caller } of callers) {
      if (caller.kind !== "user") continue;
      const user = this.users.get(name) as { username: string };
      const permissions = caller.revoked === true ? ["publish", "consume"] : [...caller.grants];
      if (permissions.length === 0) continue;
      for (const kind of ["queues", "topics"]) {
        await ok(
          api.post(`/v1/${kind}/${kind === "queues" ? queue : topic}/grants`, {
            username: user.username,
            permissions,
          }),
        );
        if (caller.revoked === true)
          await ok(
            api.post(`/v1/${kind}/${kind === "queues" ? queue : topic}/grants`, {
              username: user.username,
              permissions: [],
            }),
          );
      }
    }
    await ok(
      api.post(`/v1/queues/${queue}/messages`, { messages: [{ payload: "one" }, { payload: "two" }] }),
    );
    const leased = await ok(
      api.post<{ messages: { receipt: string }[] }>(`/v1/queues/${queue}/receive`, { max: 1 }),
    );
    const receipt = (leased.body.messages[0] as { receipt: string }).receipt;
    await ok(api.post(`/v1/topics/${topic}/subscriptions`, { queue: boundQueue }));
    return { queue, topic, boundQueue, receipt };
  }

  /** The token a caller presents; the node each caller talks to rotates through the cluster. */
  tokenOf(callerName: string, caller: Caller): string | undefined {
    switch (caller.kind) {
      case "anonymous":
        return undefined;
      case "forged":
        return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtYWxsb3J5In0.bm90LWEtc2lnbmF0dXJl";
      case "expired":
        return this.expiredToken;
      case "deleted":
        return this.deletedToken;
      case "creator":
        return this.creator.api.token as string;
      case "user":
        return (this.users.get(callerName) as { token: string }).token;
    }
  }

  private expiredToken = "";

  /** A token signed with the node's own secret for the creator, expired an hour ago. */
  async mintExpired(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    this.expiredToken = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(this.creator.username)
      .setIssuer("aviso")
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(new TextEncoder().encode(this.tokenSecret));
  }

  urlFor(index: number): string {
    return this.urls[index % this.urls.length] as string;
  }

  /**
   * The snapshot once earlier calls have settled: a binding copies a topic's
   * messages asynchronously (in a cluster, on the topic's owner), so an
   * allowed publish just before may still move the binding's cursor.
   * Two equal snapshots 25 ms apart, within 5 s.
   */
  async settledSnapshot(f: Fixture): Promise<unknown> {
    let previous = await this.snapshot(f);
    for (let attempt = 0; attempt < 200; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      const current = await this.snapshot(f);
      if (JSON.stringify(current) === JSON.stringify(previous)) return current;
      previous = current;
    }
    throw new Error("the fixture never settled");
  }

  /** What a refused call must leave untouched, as the creator sees it. */
  async snapshot(f: Fixture): Promise<unknown> {
    const api = this.creator.api;
    const [queue, topic, queueGrants, topicGrants, bindings] = await Promise.all([
      api.get<Record<string, unknown>>(`/v1/queues/${f.queue}`),
      api.get<Record<string, unknown>>(`/v1/topics/${f.topic}`),
      api.get(`/v1/queues/${f.queue}/grants`),
      api.get(`/v1/topics/${f.topic}/grants`),
      api.get(`/v1/topics/${f.topic}/subscriptions`),
    ]);
    return {
      queue: { status: queue.status, depth: queue.body.depth, inFlight: queue.body.inFlight },
      topic: { status: topic.status, nextOffset: topic.body.nextOffset },
      queueGrants: queueGrants.body,
      topicGrants: topicGrants.body,
      bindings: bindings.body,
    };
  }
}

async function ok<T>(pending: Promise<ApiResponse<T>>): Promise<ApiResponse<T>> {
  const response = await pending;
  if (response.status >= 300)
    throw new Error(`matrix fixture: ${response.status} ${JSON.stringify(response.body)}`);
  return response;
}

const reasonOf = (body: unknown): string | undefined =>
  (body as { error?: { reason?: string } } | undefined)?.error?.reason;

/** Every route × every caller; creator last so a destructive route runs after the refusals. */
export async function runRestMatrix(world: MatrixWorld): Promise<number> {
  let checked = 0;
  for (const route of servedRoutes()) {
    const sample = sampleFor(route);
    const fixture = await world.fixture();
    for (const [index, { name, caller }] of callers.entries()) {
      const request = sample(fixture, world.creator.username);
      const spent =
        operationsSpendingCaller.has(route.operationId) &&
        (caller.kind === "user" || caller.kind === "creator");
      const token = spent ? await world.spareToken(index) : world.tokenOf(name, caller);
      const api = new Api(world.urlFor(index), token);
      const before = await world.settledSnapshot(fixture);
      const answer = await api.request(request.method.toUpperCase(), request.path, request.body);
      const context = `${route.method.toUpperCase()} ${route.path} as ${name}`;
      const expected = expectedAnswer(route.access, caller);
      const refused = checkAnswer(
        expected,
        answer.status,
        reasonOf(answer.body),
        request.allowedRefusals,
        context,
      );
      if (refused) expect(await world.snapshot(fixture), `${context} changed something`).toEqual(before);
      checked++;
    }
  }
  return checked;
}

/** One sample frame per WebSocket op and target. */
function wsSample(op: string, target: "queue" | "topic" | undefined, f: Fixture, token: string | undefined) {
  const id = uniqueName("req");
  switch (op) {
    case "auth":
      return { op, id, token: token ?? "none" };
    case "ping":
      return { op, id };
    case "subscribe":
      return target === "queue" ? { op, id, queue: f.queue } : { op, id, topic: f.topic };
    case "publish":
      return target === "queue"
        ? { op, id, queue: f.queue, payload: "w" }
        : { op, id, topic: f.topic, key: "a.b", payload: "w" };
    case "unsubscribe":
      return { op, id, sub: "not-mine" };
    case "ack":
    case "nack":
      return { op, id, sub: "not-mine", ids: ["1"] };
    default:
      throw new Error(`authorization matrix: no sample frame for op ${op}`);
  }
}

/** Every op × target × caller over a socket that authenticated (or tried to) with the caller's token. */
export async function runWsMatrix(world: MatrixWorld): Promise<number> {
  let checked = 0;
  const fixture = await world.fixture();
  for (const [op, spec] of Object.entries(wsOps)) {
    for (const access of spec.access) {
      const target = access.who === "resource" ? access.kind : undefined;
      for (const [index, { name, caller }] of callers.entries()) {
        const token = world.tokenOf(name, caller);
        const socket = await TestSocket.connect(`${world.urlFor(index).replace(/^http/, "ws")}/v1/ws`);
        try {
          if (token !== undefined && op !== "auth") await socket.request({ op: "auth", id: "login", token });
          const before = await world.settledSnapshot(fixture);
          const frame = wsSample(op, target, fixture, token);
          socket.send(frame);
          const reply = await socket.waitFor(
            (r) => r.id === frame.id && ["ok", "error", "pong"].includes(r.op),
          );
          const context = `ws ${op}${target === undefined ? "" : ` ${target}`} as ${name}`;
          let expected = expectedAnswer(access, caller);
          // The auth op itself answers for the token it carries.
          if (op === "auth" && isUnauthenticated(caller)) expected = "unauthenticated";
          const reason = reply.op === "error" ? (reply.reason as string) : undefined;
          const refused = checkAnswer(
            expected,
            reply.op === "error" ? 400 : 200,
            reason,
            ["UNKNOWN_SUBSCRIPTION", "VALIDATION_FAILED"],
            context,
          );
          if (refused) expect(await world.snapshot(fixture), `${context} changed something`).toEqual(before);
          checked++;
        } finally {
          await socket.close();
        }
      }
    }
  }
  return checked;
}
