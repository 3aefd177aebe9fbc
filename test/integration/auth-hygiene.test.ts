import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { expectError } from "../helpers/expect-error.ts";
import { TestSocket } from "../helpers/ws-client.ts";

// docs/security.md S9: authentication hygiene, over real HTTP and WebSockets.
const OPERATOR = uniqueName("op");
const OPERATOR_PASSWORD = "operator password";
const MAX_FAILURES = 5;
const REGISTRATIONS_PER_HOUR = 3;

/** Open registration, operators, 5 failed logins per user. */
let node: TestNode;
/** registration=closed, on a store where the operator registered while it was open (docs/operations.md). */
let closedNode: TestNode;
let closedStoreDir: string;
/** Three registrations per address per hour. */
let limitedNode: TestNode;

/** Bootstraps a closed node as an operator would: register the operators while open, then restart closed. */
async function startClosedNode(): Promise<TestNode> {
  closedStoreDir = await mkdtemp(join(tmpdir(), "aviso-closed-"));
  const store = `sqlite:${join(closedStoreDir, "aviso.db")}`;
  const open = await startTestNode({ store, env: { AVISO_OPERATORS: OPERATOR } });
  try {
    const registered = await new Api(open.url).post("/v1/auth/register", {
      username: OPERATOR,
      password: OPERATOR_PASSWORD,
    });
    expect(registered.status).toBe(201);
  } finally {
    await open.close();
  }
  return startTestNode({ store, env: { AVISO_REGISTRATION: "closed", AVISO_OPERATORS: OPERATOR } });
}

beforeAll(async () => {
  [node, closedNode, limitedNode] = await Promise.all([
    startTestNode({
      env: { AVISO_LOGIN_MAX_FAILURES: String(MAX_FAILURES), AVISO_OPERATORS: OPERATOR },
    }),
    startClosedNode(),
    startTestNode({ env: { AVISO_REGISTRATIONS_PER_ADDRESS_PER_HOUR: String(REGISTRATIONS_PER_HOUR) } }),
  ]);
});
afterAll(async () => {
  await Promise.all([node?.close(), closedNode?.close(), limitedNode?.close()]);
  if (closedStoreDir !== undefined) await rm(closedStoreDir, { recursive: true, force: true });
});

async function login(url: string, username: string, password: string) {
  return new Api(url).post<{ token: string; error?: unknown }>("/v1/auth/login", { username, password });
}

/** An Api for the operator on `url`; the operator registers on an open node, or is seeded by the caller. */
async function operatorApi(url: string): Promise<Api> {
  const anonymous = new Api(url);
  await anonymous.post("/v1/auth/register", { username: OPERATOR, password: OPERATOR_PASSWORD });
  const answer = await login(url, OPERATOR, OPERATOR_PASSWORD);
  expect(answer.status).toBe(200);
  return anonymous.withToken(answer.body.token);
}

describe("login limiter", () => {
  it("limits parallel wrong guesses exactly like serial ones", async () => {
    const { username } = await newUser(node.url);
    const guesses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => login(node.url, username, `wrong guess ${i}`)),
    );
    const statuses = guesses.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(MAX_FAILURES);
    expect(statuses.filter((status) => status === 429)).toHaveLength(30 - MAX_FAILURES);
    for (const answer of guesses.filter((each) => each.status === 429))
      expect(answer.body).toMatchObject({ error: { reason: "LOGIN_RATE_LIMITED" } });
  });
});

describe("passwords longer than bcrypt's 72 bytes", () => {
  it("fail at login like a wrong password, even when the first 72 bytes match", async () => {
    const username = uniqueName("long");
    const password = "p".repeat(72);
    const anonymous = new Api(node.url);
    expect((await anonymous.post("/v1/auth/register", { username, password })).status).toBe(201);
    expect((await login(node.url, username, password)).status).toBe(200);
    const longer = await login(node.url, username, `${password}-and-more`);
    const wrong = await login(node.url, username, "a wrong password");
    expect(longer.status).toBe(401);
    expect(longer.body).toEqual(wrong.body);
    const unknown = await login(node.url, uniqueName("ghost"), "x".repeat(100));
    expect(unknown.body).toEqual(wrong.body);
  });
});

describe("registration", () => {
  it("is refused with 403 REGISTRATION_CLOSED when closed, and operators still create users", async () => {
    const anonymous = new Api(closedNode.url);
    const username = uniqueName("u");
    expectError(
      await anonymous.post("/v1/auth/register", { username, password: "long enough" }),
      "REGISTRATION_CLOSED",
    );
    expect((await login(closedNode.url, username, "long enough")).status).toBe(401);
    const operatorLogin = await login(closedNode.url, OPERATOR, OPERATOR_PASSWORD);
    expect(operatorLogin.status).toBe(200);
    const operator = anonymous.withToken(operatorLogin.body.token);
    expect((await operator.post("/v1/users", { username, password: "long enough" })).status).toBe(201);
    expect((await login(closedNode.url, username, "long enough")).status).toBe(200);
  });

  it("lets operators create users with POST /v1/users, and no one else", async () => {
    const operator = await operatorApi(node.url);
    const { api: someone } = await newUser(node.url);
    const username = uniqueName("made");
    expectError(await someone.post("/v1/users", { username, password: "long enough" }), "OPERATOR_REQUIRED");
    expectError(
      await new Api(node.url).post("/v1/users", { username, password: "long enough" }),
      "AUTH_REQUIRED",
    );
    const created = await operator.post("/v1/users", { username, password: "long enough" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username });
    expect((await login(node.url, username, "long enough")).status).toBe(200);
    expectError(await operator.post("/v1/users", { username, password: "long enough" }), "USERNAME_TAKEN");
  });

  it("is limited per address with 429 REGISTRATION_RATE_LIMITED", async () => {
    const anonymous = new Api(limitedNode.url);
    const attempts = await Promise.all(
      Array.from({ length: REGISTRATIONS_PER_HOUR + 4 }, () =>
        anonymous.post("/v1/auth/register", { username: uniqueName("r"), password: "long enough" }),
      ),
    );
    const statuses = attempts.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(REGISTRATIONS_PER_HOUR);
    const limited = attempts.filter((answer) => answer.status === 429);
    expect(limited).toHaveLength(4);
    expect(limited[0]?.body).toMatchObject({ error: { reason: "REGISTRATION_RATE_LIMITED" } });
    expect(Number(limited[0]?.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("log out everywhere", () => {
  it("revokes every token of the caller with 401 TOKEN_REVOKED; a new login works", async () => {
    const { username, password, api } = await newUser(node.url);
    const second = (await login(node.url, username, password)).body.token;
    expect((await api.get("/v1/me")).status).toBe(200);
    expect((await api.post("/v1/me/logout-all")).status).toBe(204);
    expectError(await api.get("/v1/me"), "TOKEN_REVOKED");
    expectError(await api.withToken(second).get("/v1/me"), "TOKEN_REVOKED");
    const fresh = await login(node.url, username, password);
    expect(fresh.status).toBe(200);
    expect((await api.withToken(fresh.body.token).get("/v1/me")).status).toBe(200);
  });

  it("operators log any user out everywhere with POST /v1/users/{name}/logout-all; others 403", async () => {
    const operator = await operatorApi(node.url);
    const victim = await newUser(node.url);
    const someone = await newUser(node.url);
    expectError(await someone.api.post(`/v1/users/${victim.username}/logout-all`), "OPERATOR_REQUIRED");
    expect((await victim.api.get("/v1/me")).status).toBe(200);
    expect((await operator.post(`/v1/users/${victim.username}/logout-all`)).status).toBe(204);
    expectError(await victim.api.get("/v1/me"), "TOKEN_REVOKED");
    expectError(await operator.post(`/v1/users/${uniqueName("ghost")}/logout-all`), "USER_NOT_FOUND");
    expect((await operator.get("/v1/me")).status).toBe(200);
  });

  it("closes the caller's live WebSockets with 4003 TOKEN_REVOKED, and leaves others open", async () => {
    const alice = await newUser(node.url);
    const bob = await newUser(node.url);
    const aliceSocket = await TestSocket.connect(node.wsUrl, alice.api.token);
    // A socket that authenticated with a frame after the upgrade is closed too.
    const aliceLate = await TestSocket.connect(node.wsUrl);
    expect((await aliceLate.request({ op: "auth", id: 1, token: alice.api.token })).op).toBe("ok");
    const bobSocket = await TestSocket.connect(node.wsUrl, bob.api.token);
    try {
      expect((await alice.api.post("/v1/me/logout-all")).status).toBe(204);
      expect(await aliceSocket.closed).toEqual({ code: 4003, reason: "TOKEN_REVOKED" });
      expect(await aliceLate.closed).toEqual({ code: 4003, reason: "TOKEN_REVOKED" });
      bobSocket.send({ op: "ping", id: 2 });
      expect((await bobSocket.waitFor((frame) => frame.id === 2)).op).toBe("pong");
    } finally {
      await Promise.all([aliceSocket.close(), aliceLate.close(), bobSocket.close()]);
    }
  });
});

describe("user deletion", () => {
  it("DELETE /v1/me: tokens stop working, login fails like an unknown user, the name is never reused", async () => {
    const { username, password, api } = await newUser(node.url);
    const socket = await TestSocket.connect(node.wsUrl, api.token);
    try {
      expect((await api.delete("/v1/me")).status).toBe(204);
      expect(await socket.closed).toEqual({ code: 4003, reason: "TOKEN_REVOKED" });
    } finally {
      await socket.close();
    }
    expectError(await api.get("/v1/me"), "TOKEN_REVOKED");
    const deleted = await login(node.url, username, password);
    const unknown = await login(node.url, uniqueName("ghost"), password);
    expect(deleted.status).toBe(401);
    expect(deleted.body).toEqual(unknown.body);
    expectError(
      await new Api(node.url).post("/v1/auth/register", { username, password: "a new password" }),
      "USERNAME_TAKEN",
    );
    expectError(await new Api(node.url).delete("/v1/me"), "AUTH_REQUIRED");
  });

  it("removes the user's grants and keeps the resources they created", async () => {
    const alice = await newUser(node.url);
    const bob = await newUser(node.url);
    const queue = uniqueName("q");
    const bobsQueue = uniqueName("q");
    expect((await alice.api.post("/v1/queues", { name: queue, private: true })).status).toBe(201);
    expect((await bob.api.post("/v1/queues", { name: bobsQueue })).status).toBe(201);
    const granted = await alice.api.post(`/v1/queues/${queue}/grants`, {
      username: bob.username,
      permissions: ["publish", "consume"],
    });
    expect(granted.status).toBe(200);
    // Read the grant once so the catalog caches it: deletion must invalidate the cache.
    expect((await alice.api.get(`/v1/queues/${queue}/grants`)).body).toMatchObject({
      grants: [{ username: bob.username }],
    });
    expect((await bob.api.delete("/v1/me")).status).toBe(204);
    expect((await alice.api.get(`/v1/queues/${queue}/grants`)).body).toEqual({ grants: [], next: null });
    expect((await alice.api.get(`/v1/queues/${bobsQueue}`)).status).toBe(200);
  });

  it("DELETE /v1/users/{name}: operators only (others 403, anonymous 401, unknown 404)", async () => {
    const operator = await operatorApi(node.url);
    const victim = await newUser(node.url);
    const someone = await newUser(node.url);
    expectError(await someone.api.delete(`/v1/users/${victim.username}`), "OPERATOR_REQUIRED");
    expectError(await new Api(node.url).delete(`/v1/users/${victim.username}`), "AUTH_REQUIRED");
    expectError(await operator.delete(`/v1/users/${uniqueName("ghost")}`), "USER_NOT_FOUND");
    expect((await victim.api.get("/v1/me")).status).toBe(200);
    expect((await operator.delete(`/v1/users/${victim.username}`)).status).toBe(204);
    expectError(await victim.api.get("/v1/me"), "TOKEN_REVOKED");
    expectError(await operator.delete(`/v1/users/${victim.username}`), "USER_NOT_FOUND");
    expect((await someone.api.get("/v1/me")).status).toBe(200);
  });
});
