import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode({ env: { AVISO_LOGIN_MAX_FAILURES: "3" } });
});
afterAll(async () => {
  await node.close();
});

describe("auth routes", () => {
  it("registers, logs in and identifies the caller", async () => {
    const { username, api } = await newUser(node.url);
    const me = await api.get("/v1/me");
    expect(me.status).toBe(200);
    expect(me.body.username).toBe(username);
    expect(me.body.tokenExpiresAt).toBeGreaterThan(Date.now());
  });

  it("refuses a taken username with 409 USERNAME_TAKEN", async () => {
    const { username } = await newUser(node.url);
    const again = await new Api(node.url).post("/v1/auth/register", {
      username,
      password: "another password",
    });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: "already_exists", reason: "USERNAME_TAKEN" } });
  });

  it("refuses bad names and short passwords with 400", async () => {
    const anonymous = new Api(node.url);
    const badName = await anonymous.post("/v1/auth/register", {
      username: "no spaces",
      password: "long enough",
    });
    expect(badName.status).toBe(400);
    expect(badName.body).toMatchObject({ error: { reason: "INVALID_NAME" } });
    const short = await anonymous.post("/v1/auth/register", { username: uniqueName("u"), password: "short" });
    expect(short.body).toMatchObject({ error: { reason: "WEAK_PASSWORD" } });
    const long = await anonymous.post("/v1/auth/register", {
      username: uniqueName("u"),
      password: "é".repeat(40),
    });
    expect(long.body).toMatchObject({ error: { reason: "PASSWORD_TOO_LONG" } });
  });

  it("gives the same 401 for an unknown user and a wrong password", async () => {
    const { username } = await newUser(node.url);
    const anonymous = new Api(node.url);
    const wrong = await anonymous.post("/v1/auth/login", { username, password: "wrong password" });
    const unknown = await anonymous.post("/v1/auth/login", {
      username: uniqueName("ghost"),
      password: "whatever1",
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body).toMatchObject({ error: { reason: "BAD_CREDENTIALS" } });
  });

  it("rate limits repeated failed logins with 429 and Retry-After", async () => {
    const { username, password } = await newUser(node.url);
    const anonymous = new Api(node.url);
    for (let i = 0; i < 3; i += 1) {
      expect((await anonymous.post("/v1/auth/login", { username, password: "nope nope" })).status).toBe(401);
    }
    const limited = await anonymous.post("/v1/auth/login", { username, password });
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: { reason: "LOGIN_RATE_LIMITED" } });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("answers 401 without a token, with a malformed one, and for a token in the URL 400", async () => {
    const anonymous = new Api(node.url);
    const missing = await anonymous.get("/v1/me");
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ error: { reason: "AUTH_REQUIRED" } });
    expect(missing.headers.get("www-authenticate")).toContain("Bearer");
    const garbage = await anonymous.withToken("not.a.jwt").get("/v1/me");
    expect(garbage.body).toMatchObject({ error: { reason: "TOKEN_INVALID" } });
    const inUrl = await anonymous.get("/v1/me?token=abc");
    expect(inUrl.status).toBe(400);
    expect(inUrl.body).toMatchObject({ error: { reason: "TOKEN_IN_URL" } });
  });
});
