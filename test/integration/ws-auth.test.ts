import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { eventually } from "../helpers/eventually.ts";
import { TestSocket } from "../helpers/ws-client.ts";

const AUTH_TIMEOUT_MS = 300;
const SHORT_TOKEN_TTL_MS = 2000;

let node: TestNode;
/** Tokens live SHORT_TOKEN_TTL_MS here, so expiry and refresh can be watched. */
let shortTtlNode: TestNode;
/** Accepts two WebSockets at most. */
let twoSocketNode: TestNode;

beforeAll(async () => {
  [node, shortTtlNode, twoSocketNode] = await Promise.all([
    startTestNode({ env: { AVISO_WS_AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS) } }),
    startTestNode({ env: { AVISO_TOKEN_TTL_MS: String(SHORT_TOKEN_TTL_MS) } }),
    startTestNode({ env: { AVISO_MAX_CONNECTIONS: "2" } }),
  ]);
});
afterAll(async () => {
  await Promise.all([node?.close(), shortTtlNode?.close(), twoSocketNode?.close()]);
});

const openSockets: TestSocket[] = [];
afterEach(async () => {
  await Promise.all(openSockets.splice(0).map((socket) => socket.close()));
});

async function connect(url: string, token?: string): Promise<TestSocket> {
  const socket = await TestSocket.connect(url, token);
  openSockets.push(socket);
  return socket;
}

/** Tries an upgrade that the node must refuse; resolves with the HTTP status and JSON body of the refusal. */
function refusedUpgrade(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { error: { reason: string; code: string } } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on("error", () => {});
    ws.once("open", () => {
      ws.terminate();
      reject(new Error("the upgrade was accepted"));
    });
    ws.once("unexpected-response", (request, response) => {
      let text = "";
      response.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      response.on("end", () => {
        request.destroy();
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) });
      });
    });
  });
}

async function login(url: string, username: string, password: string) {
  const response = await new Api(url).post<{ token: string; expiresAt: number }>("/v1/auth/login", {
    username,
    password,
  });
  expect(response.status).toBe(200);
  return response.body;
}

describe("WebSocket authentication", () => {
  it("accepts a Bearer token on the upgrade and serves requests at once", async () => {
    const { api } = await newUser(node.url);
    const queue = uniqueName("q");
    expect((await api.post("/v1/queues", { name: queue })).status).toBe(201);
    const socket = await connect(node.wsUrl, api.token);
    const reply = await socket.request({ op: "subscribe", id: "s", queue });
    expect(reply).toMatchObject({ op: "ok", id: "s", sub: expect.any(String) });
  });

  it("accepts a first auth frame (browser style) and answers ok with username and expiresAt", async () => {
    const { username, api } = await newUser(node.url);
    const me = await api.get<{ tokenExpiresAt: number }>("/v1/me");
    const socket = await connect(node.wsUrl);
    const reply = await socket.request({ op: "auth", id: 1, token: api.token });
    expect(reply).toEqual({ op: "ok", id: 1, username, expiresAt: me.body.tokenExpiresAt });
    const queue = uniqueName("q");
    await api.post("/v1/queues", { name: queue });
    expect(await socket.request({ op: "subscribe", id: 2, queue })).toMatchObject({ op: "ok", id: 2 });
  });

  it("answers AUTH_REQUIRED to operations before auth, then serves them after an auth frame", async () => {
    const { api } = await newUser(node.url);
    const queue = uniqueName("q");
    await api.post("/v1/queues", { name: queue });
    const socket = await connect(node.wsUrl);
    const before = await socket.request({ op: "subscribe", id: "early", queue });
    expect(before).toMatchObject({
      op: "error",
      id: "early",
      code: "unauthenticated",
      reason: "AUTH_REQUIRED",
    });
    const publish = await socket.request({ op: "publish", id: "p", queue, payload: 1 });
    expect(publish).toMatchObject({ op: "error", id: "p", reason: "AUTH_REQUIRED" });
    // Within the auth timeout, so no REST call in between.
    expect(await socket.request({ op: "auth", id: "a", token: api.token })).toMatchObject({ op: "ok" });
    expect((await api.get<{ depth: number }>(`/v1/queues/${queue}`)).body.depth).toBe(0);
    expect(await socket.request({ op: "subscribe", id: "late", queue })).toMatchObject({ op: "ok" });
  });

  it("keeps an unauthenticated socket open after an auth frame with a bad token", async () => {
    const { api } = await newUser(node.url);
    const socket = await connect(node.wsUrl);
    const bad = await socket.request({ op: "auth", id: "bad", token: "not.a.jwt" });
    expect(bad).toMatchObject({ op: "error", id: "bad", reason: "TOKEN_INVALID" });
    expect(await socket.request({ op: "auth", id: "good", token: api.token })).toMatchObject({ op: "ok" });
  });

  it("closes a socket that does not authenticate in time with AUTH_TIMEOUT and 4001", async () => {
    const started = Date.now();
    const socket = await connect(node.wsUrl);
    const error = await socket.waitFor((frame) => frame.op === "error", 5000);
    expect(error).toMatchObject({ reason: "AUTH_TIMEOUT", code: "unauthenticated" });
    expect(error.id).toBeUndefined();
    const closed = await socket.closed;
    expect(closed.code).toBe(4001);
    expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 20);
  });

  it("does not time out a socket that authenticated with a frame", async () => {
    const { api } = await newUser(node.url);
    const authed = await connect(node.wsUrl);
    await authed.request({ op: "auth", id: 1, token: api.token });
    const idle = await connect(node.wsUrl);
    // The idle socket's timeout is the clock: once it fired, the authenticated one's would have too.
    expect((await idle.closed).code).toBe(4001);
    authed.send({ op: "ping", id: "alive" });
    await authed.waitFor((frame) => frame.op === "pong" && frame.id === "alive");
    expect(authed.frames.filter((frame) => frame.op === "error")).toEqual([]);
  });

  it("refuses an upgrade with a bad token with HTTP 401", async () => {
    const garbage = await refusedUpgrade(node.wsUrl, { authorization: "Bearer not.a.jwt" });
    expect(garbage.status).toBe(401);
    expect(garbage.body.error).toMatchObject({ code: "unauthenticated", reason: "TOKEN_INVALID" });
    const notBearer = await refusedUpgrade(node.wsUrl, { authorization: "Basic dXNlcjpwYXNz" });
    expect(notBearer.status).toBe(401);
    expect(notBearer.body.error.reason).toBe("AUTH_REQUIRED");
  });

  it("refuses a token in the URL with 400 TOKEN_IN_URL, even a valid one", async () => {
    const { api } = await newUser(node.url);
    const inQuery = await refusedUpgrade(`${node.wsUrl}?token=${api.token}`);
    expect(inQuery.status).toBe(400);
    expect(inQuery.body.error.reason).toBe("TOKEN_IN_URL");
    const accessToken = await refusedUpgrade(`${node.wsUrl}?access_token=${api.token}`, {
      authorization: `Bearer ${api.token}`,
    });
    expect(accessToken.status).toBe(400);
    expect(accessToken.body.error.reason).toBe("TOKEN_IN_URL");
  });

  it("refuses a refresh with another user's token and keeps the session's user", async () => {
    const alice = await newUser(node.url, "alice");
    const bob = await newUser(node.url, "bob");
    const privateQueue = uniqueName("private");
    await alice.api.post("/v1/queues", { name: privateQueue, private: true });
    const socket = await connect(node.wsUrl, alice.api.token);
    const refresh = await socket.request({ op: "auth", id: "swap", token: bob.api.token });
    expect(refresh).toMatchObject({ op: "error", id: "swap", reason: "TOKEN_INVALID" });
    // Still alice: her private queue is usable, which bob's identity would not allow.
    const publish = await socket.request({
      op: "publish",
      id: "p",
      queue: privateQueue,
      payload: "still alice",
    });
    expect(publish).toMatchObject({ op: "ok", id: "p", messageId: expect.any(String) });
    const bobSocket = await connect(node.wsUrl, bob.api.token);
    const denied = await bobSocket.request({ op: "publish", id: "p", queue: privateQueue, payload: 1 });
    expect(denied).toMatchObject({ op: "error", reason: "QUEUE_NOT_FOUND" });
  });
});

describe("WebSocket token expiry", () => {
  it("closes a live session whose token expires with TOKEN_EXPIRED and 4002", async () => {
    const { api } = await newUser(shortTtlNode.url);
    const expiresAt = (await api.get<{ tokenExpiresAt: number }>("/v1/me")).body.tokenExpiresAt;
    const socket = await connect(shortTtlNode.wsUrl, api.token);
    const error = await socket.waitFor((frame) => frame.op === "error", SHORT_TOKEN_TTL_MS + 3000);
    expect(error).toMatchObject({ reason: "TOKEN_EXPIRED", code: "unauthenticated" });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 50);
    expect((await socket.closed).code).toBe(4002);
    // The same token is refused on a new upgrade now.
    const again = await refusedUpgrade(shortTtlNode.wsUrl, { authorization: `Bearer ${api.token}` });
    expect(again.status).toBe(401);
    expect(again.body.error.reason).toBe("TOKEN_EXPIRED");
  });

  it("keeps a session alive past its first token's expiry after a refresh auth frame", async () => {
    const { username, password } = await newUser(shortTtlNode.url);
    const first = await login(shortTtlNode.url, username, password);
    const refreshed = await connect(shortTtlNode.wsUrl, first.token);
    const control = await connect(shortTtlNode.wsUrl, first.token);
    // Token expiry has whole-second resolution: log in again until a token outlives the first.
    const second = await eventually(
      async () => {
        const issued = await login(shortTtlNode.url, username, password);
        expect(issued.expiresAt).toBeGreaterThan(first.expiresAt);
        return issued;
      },
      { timeoutMs: 3000, intervalMs: 50 },
    );
    expect(Date.now()).toBeLessThan(first.expiresAt);
    const reply = await refreshed.request({ op: "auth", id: "refresh", token: second.token });
    expect(reply).toEqual({ op: "ok", id: "refresh", username, expiresAt: second.expiresAt });
    // The control socket kept the first token: its close marks the first token's expiry.
    expect((await control.closed).code).toBe(4002);
    refreshed.send({ op: "ping", id: "after-first-expiry" });
    await refreshed.waitFor((frame) => frame.op === "pong" && frame.id === "after-first-expiry");
    expect(refreshed.frames.filter((frame) => frame.op === "error")).toEqual([]);
    // The refresh moved the deadline, it did not remove it.
    const expired = await refreshed.closed;
    expect(expired.code).toBe(4002);
    expect(Date.now()).toBeGreaterThanOrEqual(second.expiresAt - 50);
  });
});

describe("WebSocket connection limit", () => {
  it("refuses the upgrade past AVISO_MAX_CONNECTIONS with 429 and keeps the others working", async () => {
    const { api } = await newUser(twoSocketNode.url);
    const first = await connect(twoSocketNode.wsUrl, api.token);
    const second = await connect(twoSocketNode.wsUrl, api.token);
    const third = await refusedUpgrade(twoSocketNode.wsUrl, { authorization: `Bearer ${api.token}` });
    expect(third.status).toBe(429);
    expect(third.body.error).toMatchObject({ code: "resource_exhausted", reason: "TOO_MANY_CONNECTIONS" });
    for (const [index, socket] of [first, second].entries()) {
      socket.send({ op: "ping", id: index });
      await socket.waitFor((frame) => frame.op === "pong" && frame.id === index);
    }
    // A closed socket frees its slot.
    await second.close();
    openSockets.splice(openSockets.indexOf(second), 1);
    const replacement = await connect(twoSocketNode.wsUrl, api.token);
    replacement.send({ op: "ping", id: "r" });
    await replacement.waitFor((frame) => frame.op === "pong" && frame.id === "r");
  });

  it("holds the limit when many upgrades arrive while their tokens are being verified", async () => {
    // A token the node has never verified: each upgrade waits on verification before it opens.
    const { username, password } = await newUser(twoSocketNode.url);
    const { token } = await login(twoSocketNode.url, username, password);
    const attempts = await Promise.allSettled(
      Array.from({ length: 6 }, () => TestSocket.connect(twoSocketNode.wsUrl, token)),
    );
    const opened = attempts.flatMap((attempt) => (attempt.status === "fulfilled" ? [attempt.value] : []));
    openSockets.push(...opened);
    expect(opened).toHaveLength(2);
    for (const attempt of attempts) {
      if (attempt.status === "rejected") expect(String(attempt.reason)).toContain("upgrade refused: 429");
    }
  });
});
