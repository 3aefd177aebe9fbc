// Shared setup for the Aviso k6 scripts: settings from env vars, a user and a token.
import http from "k6/http";

export const BASE_URL = __ENV.AVISO_URL || "http://127.0.0.1:8080";
export const WS_URL = `${BASE_URL.replace(/^http/, "ws")}/v1/ws`;
export const DURATION_S = Number(__ENV.DURATION_S || 30);

export function intEnv(name, fallback) {
  const value = __ENV[name];
  return value === undefined || value === "" ? fallback : Number(value);
}

/** A JSON string literal of exactly `bytes` bytes, quotes included. */
export function payloadOfBytes(bytes) {
  return JSON.stringify("x".repeat(Math.max(0, bytes - 2)));
}

function postJson(path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  return http.post(`${BASE_URL}${path}`, JSON.stringify(body), { headers });
}

/** Logs in as AVISO_USER / AVISO_PASSWORD, or registers a fresh user; returns a token. */
export function login() {
  const username = __ENV.AVISO_USER || `k6-${Date.now().toString(36)}`;
  const password = __ENV.AVISO_PASSWORD || "k6 load test password";
  if (!__ENV.AVISO_USER) {
    const registered = postJson("/v1/auth/register", { username, password });
    if (registered.status !== 201)
      throw new Error(`register failed: ${registered.status} ${registered.body}`);
  }
  const res = postJson("/v1/auth/login", { username, password });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.body}`);
  return res.json("token");
}

/** Creates a queue or topic (`kind` = "queues" | "topics"); 409 (exists) is fine. */
export function create(kind, body, token) {
  const res = postJson(`/v1/${kind}`, body, token);
  if (res.status !== 201 && res.status !== 409)
    throw new Error(`create ${kind} failed: ${res.status} ${res.body}`);
}

export function post(path, body, token) {
  return postJson(path, body, token);
}

export function wsParams(token) {
  return { headers: { authorization: `Bearer ${token}` } };
}
