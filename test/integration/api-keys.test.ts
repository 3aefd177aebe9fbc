import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { eventually } from "../helpers/eventually.ts";
import { createTestDatabase, dropTestDatabase } from "../helpers/mariadb.ts";
import { TestSocket } from "../helpers/ws-client.ts";

// docs/security.md S14: API keys for services.
const OPERATOR = uniqueName("ops");

let node: TestNode;
let operator: Api;

beforeAll(async () => {
  node = await startTestNode({ env: { AVISO_OPERATORS: OPERATOR } });
  const anonymous = new Api(node.url);
  const password = "correct horse battery";
  expect((await anonymous.post("/v1/auth/register", { username: OPERATOR, password })).status).toBe(201);
  const login = await anonymous.post<{ token: string }>("/v1/auth/login", { username: OPERATOR, password });
  operator = anonymous.withToken(login.body.token);
});
afterAll(async () => {
  await node?.close();
});

const openSockets: TestSocket[] = [];
afterEach(async () => {
  await Promise.all(openSockets.splice(0).map((socket) => socket.close()));
});

interface CreatedKey {
  id: string;
  name: string;
  secret: string;
  scope: unknown;
  createdAt: number;
  expiresAt: number | null;
}

async function createKey(api: Api, body: Record<string, unknown>): Promise<{ key: CreatedKey; api: Api }> {
  const response = await api.post<CreatedKey>("/v1/api-keys", body);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return { key: response.body, api: new Api(api.baseUrl, response.body.secret) };
}

function reasonOf(response: { body: unknown }): string | undefined {
  return (response.body as { error?: { reason?: string } }).error?.reason;
}

describe("API keys (S14)", () => {
  it("shows the secret once at creation and lists keys without secrets", async () => {
    const { api } = await newUser(node.url, "svc-owner");
    const { key } = await createKey(api, { name: "ci deploys" });
    expect(key.secret).toMatch(/^avk_[A-Za-z0-9_-]{43}$/);
    expect(key).toMatchObject({ name: "ci deploys", scope: null, expiresAt: null, id: expect.any(String) });
    const listed = await api.get<{ apiKeys: Record<string, unknown>[] }>("/v1/api-keys");
    expect(listed.status).toBe(200);
    expect(listed.body.apiKeys).toEqual([
      { id: key.id, name: "ci deploys", scope: null, createdAt: key.createdAt, expiresAt: null },
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(key.secret.slice(4));
    // Nobody else sees it.
    const { api: other } = await newUser(node.url, "other");
    expect((await other.get<{ apiKeys: unknown[] }>("/v1/api-keys")).body.apiKeys).toEqual([]);
  });

  it("authenticates REST and WebSocket calls as its user when unscoped", async () => {
    const { username, api } = await newUser(node.url, "svc");
    const { key, api: keyApi } = await createKey(api, { name: "worker" });
    expect((await keyApi.get("/v1/me")).body).toMatchObject({ username });
    const queue = uniqueName("q");
    expect((await keyApi.post("/v1/queues", { name: queue, private: true })).status).toBe(201);
    expect((await keyApi.post(`/v1/queues/${queue}/messages`, { payload: "hi" })).status).toBe(201);

    const socket = await TestSocket.connect(node.wsUrl, key.secret);
    openSockets.push(socket);
    expect(await socket.request({ op: "subscribe", id: "s", queue })).toMatchObject({ op: "ok" });
    expect(await socket.waitFor((frame) => frame.op === "message", 5000)).toMatchObject({ payload: "hi" });
  });

  it("narrows every check to the key's scope: only what its user may AND the scope allows", async () => {
    const { api: alice } = await newUser(node.url, "alice");
    const { username: bobName, api: bob } = await newUser(node.url, "bob");
    const [inScope, outOfScope, alicePrivate] = [
      uniqueName("orders"),
      uniqueName("audit"),
      uniqueName("secret"),
    ];
    for (const name of [inScope, outOfScope]) {
      expect((await bob.post("/v1/queues", { name })).status).toBe(201);
    }
    expect((await alice.post("/v1/queues", { name: alicePrivate, private: true })).status).toBe(201);
    const { api: keyApi, key } = await createKey(bob, {
      name: "publisher",
      scope: [
        { kind: "queue", resource: inScope, permissions: ["publish"] },
        // In the scope, but bob holds no grant: the scope cannot add what the user lacks.
        { kind: "queue", resource: alicePrivate, permissions: ["publish", "consume"] },
      ],
    });
    expect(key.scope).toEqual([
      { kind: "queue", resource: inScope, permissions: ["publish"] },
      { kind: "queue", resource: alicePrivate, permissions: ["consume", "publish"] },
    ]);

    expect((await keyApi.post(`/v1/queues/${inScope}/messages`, { payload: 1 })).status).toBe(201);
    const receive = await keyApi.post(`/v1/queues/${inScope}/receive`, { max: 1 });
    expect([receive.status, reasonOf(receive)]).toEqual([403, "OUT_OF_SCOPE"]);
    const other = await keyApi.post(`/v1/queues/${outOfScope}/messages`, { payload: 1 });
    expect([other.status, reasonOf(other)]).toEqual([403, "OUT_OF_SCOPE"]);
    const foreign = await keyApi.post(`/v1/queues/${alicePrivate}/messages`, { payload: 1 });
    // Hidden from bob, so hidden from his key: as if it did not exist (S7).
    expect([foreign.status, reasonOf(foreign)]).toEqual([404, "QUEUE_NOT_FOUND"]);
    const create = await keyApi.post("/v1/queues", { name: uniqueName("new") });
    expect([create.status, reasonOf(create)]).toEqual([403, "OUT_OF_SCOPE"]);
    const remove = await keyApi.delete(`/v1/queues/${inScope}`);
    expect([remove.status, reasonOf(remove)]).toEqual([403, "OUT_OF_SCOPE"]);
    const grant = await keyApi.post(`/v1/queues/${inScope}/grants`, { username: bobName, permissions: [] });
    expect([grant.status, reasonOf(grant)]).toEqual([403, "OUT_OF_SCOPE"]);
    const listed = await keyApi.get<{ queues: { name: string }[] }>("/v1/queues");
    expect(listed.body.queues.map((queue) => queue.name)).toEqual([inScope]);
    // Nothing changed on refusal: the one message bob's key published is all there is, and both queues remain.
    expect((await bob.get<{ depth: number }>(`/v1/queues/${inScope}`)).body.depth).toBe(1);
    expect((await bob.get<{ depth: number }>(`/v1/queues/${outOfScope}`)).body.depth).toBe(0);

    const socket = await TestSocket.connect(node.wsUrl, key.secret);
    openSockets.push(socket);
    expect(await socket.request({ op: "subscribe", id: "s", queue: inScope })).toMatchObject({
      op: "error",
      reason: "OUT_OF_SCOPE",
    });
    expect(await socket.request({ op: "publish", id: "p", queue: inScope, payload: 2 })).toMatchObject({
      op: "ok",
    });
  });

  it("scopes topics too", async () => {
    const { api } = await newUser(node.url, "topics");
    const [prices, news] = [uniqueName("prices"), uniqueName("news")];
    for (const name of [prices, news]) expect((await api.post("/v1/topics", { name })).status).toBe(201);
    const { api: keyApi } = await createKey(api, {
      name: "reader",
      scope: [{ kind: "topic", resource: prices, permissions: ["consume"] }],
    });
    expect((await keyApi.get(`/v1/topics/${prices}/messages`)).status).toBe(200);
    const publish = await keyApi.post(`/v1/topics/${prices}/messages`, { payload: 1 });
    expect([publish.status, reasonOf(publish)]).toEqual([403, "OUT_OF_SCOPE"]);
    const read = await keyApi.get(`/v1/topics/${news}/messages`);
    expect([read.status, reasonOf(read)]).toEqual([403, "OUT_OF_SCOPE"]);
    const bind = await keyApi.post(`/v1/topics/${prices}/subscriptions`, { queue: uniqueName("copy") });
    expect([bind.status, reasonOf(bind)]).toEqual([403, "OUT_OF_SCOPE"]);
  });

  it("cannot create, list or revoke API keys", async () => {
    const { api } = await newUser(node.url, "nested");
    const { key, api: keyApi } = await createKey(api, { name: "unscoped" });
    for (const response of [
      await keyApi.post("/v1/api-keys", { name: "child" }),
      await keyApi.get("/v1/api-keys"),
      await keyApi.delete(`/v1/api-keys/${key.id}`),
    ]) {
      expect([response.status, reasonOf(response)]).toEqual([403, "API_KEY_NOT_ALLOWED"]);
    }
    expect((await api.get<{ apiKeys: unknown[] }>("/v1/api-keys")).body.apiKeys).toHaveLength(1);
  });

  it("revokes at once: by its user, or by an operator; nobody else can", async () => {
    const { api } = await newUser(node.url, "revoker");
    const { key, api: keyApi } = await createKey(api, { name: "short-lived" });
    expect((await keyApi.get("/v1/me")).status).toBe(200);
    const { api: stranger } = await newUser(node.url, "stranger");
    const refused = await stranger.delete(`/v1/api-keys/${key.id}`);
    expect([refused.status, reasonOf(refused)]).toEqual([404, "API_KEY_NOT_FOUND"]);
    expect((await keyApi.get("/v1/me")).status).toBe(200);

    expect((await api.delete(`/v1/api-keys/${key.id}`)).status).toBe(204);
    const after = await keyApi.get("/v1/me");
    expect([after.status, reasonOf(after)]).toEqual([401, "TOKEN_INVALID"]);
    const again = await api.delete(`/v1/api-keys/${key.id}`);
    expect([again.status, reasonOf(again)]).toEqual([404, "API_KEY_NOT_FOUND"]);

    const { key: second, api: secondApi } = await createKey(api, { name: "second" });
    expect((await secondApi.get("/v1/me")).status).toBe(200);
    expect((await operator.delete(`/v1/api-keys/${second.id}`)).status).toBe(204);
    expect((await secondApi.get("/v1/me")).status).toBe(401);
    expect((await api.get<{ apiKeys: unknown[] }>("/v1/api-keys")).body.apiKeys).toEqual([]);
  });

  it("closes a WebSocket authenticated with a key when the key is revoked", async () => {
    const { api } = await newUser(node.url, "live");
    const { key } = await createKey(api, { name: "socket" });
    const socket = await TestSocket.connect(node.wsUrl, key.secret);
    openSockets.push(socket);
    expect((await api.delete(`/v1/api-keys/${key.id}`)).status).toBe(204);
    expect((await socket.closed).code).toBe(4003);
  });

  it("expires a key with expiresInMs as 401 TOKEN_EXPIRED", async () => {
    const { api } = await newUser(node.url, "expiring");
    const { key, api: keyApi } = await createKey(api, { name: "temp", expiresInMs: 1000 });
    expect(key.expiresAt).toBeGreaterThan(key.createdAt);
    await eventually(
      async () => {
        const response = await keyApi.get("/v1/me");
        expect([response.status, reasonOf(response)]).toEqual([401, "TOKEN_EXPIRED"]);
      },
      { timeoutMs: 5000 },
    );
  });

  it("refuses bad input with 400 and creates nothing", async () => {
    const { api } = await newUser(node.url, "bad-input");
    const cases: [unknown, string][] = [
      [{}, "VALIDATION_FAILED"],
      [{ name: "" }, "VALIDATION_FAILED"],
      [
        { name: "x", scope: [{ kind: "exchange", resource: "a", permissions: ["publish"] }] },
        "VALIDATION_FAILED",
      ],
      [{ name: "x", scope: [{ kind: "queue", resource: "a", permissions: [] }] }, "VALIDATION_FAILED"],
      [
        { name: "x", scope: [{ kind: "queue", resource: "no spaces", permissions: ["publish"] }] },
        "INVALID_NAME",
      ],
      [{ name: "x", expiresInMs: 0 }, "VALIDATION_FAILED"],
      [{ name: "x", secret: "avk_mine" }, "VALIDATION_FAILED"],
    ];
    for (const [body, reason] of cases) {
      const response = await api.post("/v1/api-keys", body);
      expect([response.status, reasonOf(response)], JSON.stringify(body)).toEqual([400, reason]);
    }
    expect((await api.get<{ apiKeys: unknown[] }>("/v1/api-keys")).body.apiKeys).toEqual([]);
    const unknown = await new Api(node.url, `avk_${"A".repeat(43)}`).get("/v1/me");
    expect([unknown.status, reasonOf(unknown)]).toEqual([401, "TOKEN_INVALID"]);
  });
});

describe("API key revocation across nodes (S14)", () => {
  const CACHE_MS = 300;
  let store: string;
  let nodeA: TestNode;
  let nodeB: TestNode;

  beforeAll(async () => {
    // Two nodes on one database: what a cluster shares for keys.
    store = await createTestDatabase("api_keys");
    const env = { AVISO_API_KEY_CACHE_MS: String(CACHE_MS) };
    nodeA = await startTestNode({ store, env });
    nodeB = await startTestNode({ store, env });
  });
  afterAll(async () => {
    await Promise.all([nodeA?.close(), nodeB?.close()]);
    if (store !== undefined) await dropTestDatabase(store);
  });

  it("stops a key revoked on one node on the other within apiKeyCacheMs, closing its sockets there", async () => {
    const { api } = await newUser(nodeA.url, "multi");
    const { key } = await createKey(api, { name: "everywhere" });
    const onB = new Api(nodeB.url, key.secret);
    expect((await onB.get("/v1/me")).status).toBe(200);
    const socket = await TestSocket.connect(nodeB.wsUrl, key.secret);
    openSockets.push(socket);

    expect((await api.delete(`/v1/api-keys/${key.id}`)).status).toBe(204);
    await eventually(async () => expect((await onB.get("/v1/me")).status).toBe(401), { timeoutMs: 5000 });
    expect((await socket.closed).code).toBe(4003);
  });
  it("dies with its user: deleting the user stops the key and closes the sockets it opened", async () => {
    const { api } = await newUser(node.url, "leaver");
    const { key, api: keyApi } = await createKey(api, { name: "worker" });
    const socket = await TestSocket.connect(node.wsUrl, key.secret);
    openSockets.push(socket);
    expect((await keyApi.get("/v1/me")).status).toBe(200);

    expect((await api.delete("/v1/me")).status).toBe(204);
    expect((await socket.closed).code).toBe(4003);
    const after = await keyApi.get("/v1/me");
    expect(after.status).toBe(401);
    expect(["TOKEN_REVOKED", "TOKEN_INVALID"]).toContain(reasonOf(after));
  });
});
