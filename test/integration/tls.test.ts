import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";

const run = promisify(execFile);

let certDir: string;
let cert: Buffer;
let node: TestNode;

beforeAll(async () => {
  certDir = await mkdtemp(join(tmpdir(), "aviso-tls-"));
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    join(certDir, "key.pem"),
    "-out",
    join(certDir, "cert.pem"),
  ]);
  cert = await readFile(join(certDir, "cert.pem"));
  node = await startTestNode({
    env: { AVISO_TLS_CERT: join(certDir, "cert.pem"), AVISO_TLS_KEY: join(certDir, "key.pem") },
  });
});
afterAll(async () => {
  await node?.close();
  await rm(certDir, { recursive: true, force: true });
});

function httpsJson(url: string, method: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: cert, headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: text === "" ? undefined : JSON.parse(text) }),
      );
    });
    req.on("error", reject);
    if (body !== undefined) req.write(JSON.stringify(body));
    req.end();
  });
}

describe("TLS", () => {
  it("serves REST over HTTPS, and credentials never travel in clear", async () => {
    expect(node.url.startsWith("https://")).toBe(true);
    const registered = await httpsJson(`${node.url}/v1/auth/register`, "POST", {
      username: "tls-user",
      password: "correct horse",
    });
    expect(registered.status).toBe(201);
    const login = await httpsJson(`${node.url}/v1/auth/login`, "POST", {
      username: "tls-user",
      password: "correct horse",
    });
    expect(login.status).toBe(200);
    expect((login.body as { token: string }).token).toMatch(/^ey/);
  });

  it("serves the WebSocket over WSS", async () => {
    const login = await httpsJson(`${node.url}/v1/auth/login`, "POST", {
      username: "tls-user",
      password: "correct horse",
    });
    const token = (login.body as { token: string }).token;
    const socket = new WebSocket(node.wsUrl, { ca: cert, headers: { authorization: `Bearer ${token}` } });
    const pong = await new Promise<string>((resolve, reject) => {
      socket.on("open", () => socket.send(JSON.stringify({ op: "ping", id: 1 })));
      socket.on("message", (data) => resolve(data.toString()));
      socket.on("error", reject);
    });
    expect(JSON.parse(pong)).toEqual({ op: "pong", id: 1 });
    socket.close();
  });

  it("refuses a plaintext client on the TLS port", async () => {
    const plain = node.url.replace("https://", "http://");
    await expect(fetch(`${plain}/healthz`)).rejects.toThrow();
  });
});
