import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { eventually } from "../helpers/eventually.ts";
import { TestSocket } from "../helpers/ws-client.ts";

// docs/security.md S14: tokens minted by an application's backend, verified with its published keys.
const ISSUER = "https://auth.example.test";
const AUDIENCE = "aviso-tests";
const REFRESH_MS = 200;

type Alg = "RS256" | "ES256" | "EdDSA";

interface SigningKey {
  alg: Alg;
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  jwk: JWK;
}

async function signingKey(alg: Alg, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    crv: alg === "EdDSA" ? "Ed25519" : undefined,
  });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { alg, kid, privateKey, jwk };
}

interface Mint {
  sub?: string;
  claims?: Record<string, unknown>;
  issuer?: string;
  audience?: string;
  expiresInSec?: number | null;
  kid?: string;
}

async function mint(key: SigningKey, options: Mint = {}): Promise<string> {
  const nowSec = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: "JWT" })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt(nowSec);
  if (options.sub !== undefined) jwt = jwt.setSubject(options.sub);
  if (options.expiresInSec !== null) jwt = jwt.setExpirationTime(nowSec + (options.expiresInSec ?? 600));
  return jwt.sign(key.privateKey);
}

/** A JWKS document served from loopback; `keys` is what the next fetch answers. */
let jwksServer: Server;
let served: JWK[] = [];
let fetches = 0;
let jwksUrl: string;

let rsa: SigningKey;
let ec: SigningKey;
let ed: SigningKey;
let stranger: SigningKey;

let node: TestNode;
/** Same issuer, keys from a file, usernames from the `uid` claim with prefix `acme:`. */
let fileNode: TestNode;
let fileDir: string;
let jwksFile: string;

beforeAll(async () => {
  [rsa, ec, ed, stranger] = await Promise.all([
    signingKey("RS256", "rsa-1"),
    signingKey("ES256", "ec-1"),
    signingKey("EdDSA", "ed-1"),
    signingKey("RS256", "stranger-1"),
  ]);
  served = [rsa.jwk, ec.jwk, ed.jwk];
  jwksServer = createServer((_request, response) => {
    fetches++;
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ keys: served }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;

  fileDir = await mkdtemp(join(tmpdir(), "aviso-jwks-"));
  jwksFile = join(fileDir, "jwks.json");
  await writeFile(jwksFile, JSON.stringify({ keys: [rsa.jwk] }));

  const env = {
    AVISO_JWT_ISSUER: ISSUER,
    AVISO_JWT_AUDIENCE: AUDIENCE,
    AVISO_JWT_JWKS_REFRESH_MS: String(REFRESH_MS),
  };
  [node, fileNode] = await Promise.all([
    startTestNode({ env: { ...env, AVISO_JWT_JWKS: jwksUrl } }),
    startTestNode({
      env: {
        ...env,
        AVISO_JWT_JWKS: jwksFile,
        AVISO_JWT_USERNAME_CLAIM: "uid",
        AVISO_JWT_USER_PREFIX: "acme:",
      },
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([node?.close(), fileNode?.close()]);
  await new Promise<void>((resolve) => (jwksServer ? jwksServer.close(() => resolve()) : resolve()));
  if (fileDir !== undefined) await rm(fileDir, { recursive: true, force: true });
});

const openSockets: TestSocket[] = [];
afterEach(async () => {
  await Promise.all(openSockets.splice(0).map((socket) => socket.close()));
});

async function me(url: string, token: string) {
  return new Api(url, token).get<{ username: string; tokenExpiresAt: number; error?: { reason: string } }>(
    "/v1/me",
  );
}

describe("tokens from an external issuer (S14)", () => {
  it.each(["RS256", "ES256", "EdDSA"] as const)(
    "accepts a %s token on REST as the prefixed `sub`",
    async (alg) => {
      const key = { RS256: rsa, ES256: ec, EdDSA: ed }[alg];
      const sub = uniqueName("app-user");
      const response = await me(node.url, await mint(key, { sub }));
      expect(response.status).toBe(200);
      expect(response.body.username).toBe(`ext:${sub}`);
    },
  );

  it("serves REST and WebSocket calls as the external user, who creates and uses resources", async () => {
    const sub = uniqueName("svc");
    const token = await mint(ec, { sub });
    const api = new Api(node.url, token);
    const queue = uniqueName("q");
    const created = await api.post<{ creator: string; owner: string }>("/v1/queues", {
      name: queue,
      private: true,
    });
    expect(created.status).toBe(201);
    expect(created.body.creator).toBe(`ext:${sub}`);
    expect(created.body.owner).toBe(`ext:${sub}`);
    expect((await api.post(`/v1/queues/${queue}/messages`, { payload: { n: 1 } })).status).toBe(201);

    const socket = await TestSocket.connect(node.wsUrl);
    openSockets.push(socket);
    expect(await socket.request({ op: "auth", id: "a", token })).toMatchObject({
      op: "ok",
      username: `ext:${sub}`,
    });
    expect(await socket.request({ op: "subscribe", id: "s", queue })).toMatchObject({ op: "ok" });
    const delivery = await socket.waitFor((frame) => frame.op === "message", 5000);
    expect(delivery).toMatchObject({ payload: { n: 1 } });
  });

  it("keeps an external user apart from a local user of the same name", async () => {
    const local = await newUser(node.url, "twin");
    const queue = uniqueName("q");
    expect((await local.api.post("/v1/queues", { name: queue, private: true })).status).toBe(201);
    const external = new Api(node.url, await mint(rsa, { sub: local.username }));
    expect((await external.get("/v1/me")).body).toMatchObject({ username: `ext:${local.username}` });
    // Hidden from the external namesake like from anyone without a grant (S7).
    const denied = await external.post(`/v1/queues/${queue}/messages`, { payload: 1 });
    expect(denied.status).toBe(404);
    // A grant names the external user explicitly; it needs no row in the users table.
    const granted = await local.api.post(`/v1/queues/${queue}/grants`, {
      username: `ext:${local.username}`,
      permissions: ["publish"],
    });
    expect(granted.status).toBe(200);
    expect((await external.post(`/v1/queues/${queue}/messages`, { payload: 1 })).status).toBe(201);
  });

  it("accepts a token on the WebSocket upgrade", async () => {
    const token = await mint(ed, { sub: uniqueName("ws") });
    const queue = uniqueName("q");
    expect((await new Api(node.url, token).post("/v1/queues", { name: queue, private: true })).status).toBe(
      201,
    );
    const socket = await TestSocket.connect(node.wsUrl, token);
    openSockets.push(socket);
    expect(await socket.request({ op: "subscribe", id: "s", queue })).toMatchObject({ op: "ok" });
  });

  it.each([
    ["a wrong issuer", { issuer: "https://evil.example.test" }],
    ["a wrong audience", { audience: "someone-else" }],
    ["no exp", { expiresInSec: null }],
    ["no sub", { sub: undefined }],
    ["a sub that is no Aviso user name", { sub: "has space" }],
    ["an unknown key id", { kid: "nobody" }],
  ] as const)("refuses a token with %s as 401 TOKEN_INVALID", async (_label, options) => {
    const response = await me(node.url, await mint(rsa, { sub: uniqueName("u"), ...options }));
    expect(response.status).toBe(401);
    expect(response.body.error?.reason).toBe("TOKEN_INVALID");
  });

  it("refuses a token signed by a key the issuer does not publish, even with a known kid", async () => {
    const forged = await mint(stranger, { sub: uniqueName("u"), kid: rsa.kid });
    const response = await me(node.url, forged);
    expect(response.status).toBe(401);
    expect(response.body.error?.reason).toBe("TOKEN_INVALID");
  });

  it("refuses HS256 and unsigned tokens that claim the external issuer", async () => {
    const secret = new TextEncoder().encode("x".repeat(32));
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject("mallory")
      .setExpirationTime("10m")
      .sign(secret);
    const header = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    const payload = Buffer.from(
      JSON.stringify({
        iss: ISSUER,
        aud: AUDIENCE,
        sub: "mallory",
        exp: Math.floor(Date.now() / 1000) + 600,
      }),
    ).toString("base64url");
    for (const token of [hs, `${header}.${payload}.`]) {
      const response = await me(node.url, token);
      expect(response.status).toBe(401);
      expect(response.body.error?.reason).toBe("TOKEN_INVALID");
    }
  });

  it("refuses an expired token as 401 TOKEN_EXPIRED, beyond the clock skew allowance", async () => {
    const response = await me(node.url, await mint(rsa, { sub: uniqueName("u"), expiresInSec: -120 }));
    expect(response.status).toBe(401);
    expect(response.body.error?.reason).toBe("TOKEN_EXPIRED");
  });

  it("refuses an external token on the WebSocket auth frame with TOKEN_INVALID when the audience is wrong", async () => {
    const socket = await TestSocket.connect(node.wsUrl);
    openSockets.push(socket);
    const token = await mint(rsa, { sub: uniqueName("u"), audience: "other" });
    expect(await socket.request({ op: "auth", id: "a", token })).toMatchObject({
      op: "error",
      reason: "TOKEN_INVALID",
    });
  });

  it("still accepts Aviso's own login tokens", async () => {
    const { username, api } = await newUser(node.url);
    expect((await api.get("/v1/me")).body).toMatchObject({ username });
  });

  it("picks up a rotated key from the JWKS URL without a restart", async () => {
    const next = await signingKey("ES256", uniqueName("ec-rotated"));
    const token = await mint(next, { sub: uniqueName("rot") });
    expect((await me(node.url, token)).status).toBe(401);
    served = [next.jwk, ec.jwk, ed.jwk];
    const before = fetches;
    await eventually(async () => expect((await me(node.url, token)).status).toBe(200), { timeoutMs: 10_000 });
    expect(fetches).toBeGreaterThan(before);
    // The retired key no longer verifies once the set is fetched again.
    const retired = await mint(rsa, { sub: uniqueName("old") });
    await eventually(async () => expect((await me(node.url, retired)).status).toBe(401), {
      timeoutMs: 10_000,
    });
  });

  it("maps a configured claim with a configured prefix, from a JWKS file that it re-reads on rotation", async () => {
    const uid = uniqueName("customer");
    const token = await mint(rsa, { sub: "ignored", claims: { uid } });
    expect((await me(fileNode.url, token)).body).toMatchObject({ username: `acme:${uid}` });
    const noClaim = await me(fileNode.url, await mint(rsa, { sub: "ignored" }));
    expect(noClaim.body.error?.reason).toBe("TOKEN_INVALID");

    const next = await signingKey("EdDSA", uniqueName("ed-file"));
    const rotated = await mint(next, { claims: { uid } });
    expect((await me(fileNode.url, rotated)).status).toBe(401);
    await writeFile(jwksFile, JSON.stringify({ keys: [rsa.jwk, next.jwk] }));
    await eventually(async () => expect((await me(fileNode.url, rotated)).status).toBe(200), {
      timeoutMs: 10_000,
    });
  });
});
