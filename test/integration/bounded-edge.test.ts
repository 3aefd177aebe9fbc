import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUser } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { createQueue, getQueue } from "../helpers/broker-api.ts";
import { TestSocket } from "../helpers/ws-client.ts";

interface EarlyAnswer {
  status: number;
  body: string;
  /** Bytes of the declared body the client had written when the answer came. */
  sentBytes: number;
}

/**
 * POSTs with a declared Content-Length but writes only `sendBytes` of it, then
 * waits for the answer: a node that reads the body before the token never answers.
 */
function postPartialBody(
  url: string,
  path: string,
  declaredBytes: number,
  sendBytes: number,
  token: string,
): Promise<EarlyAnswer> {
  return new Promise((resolve, reject) => {
    let sentBytes = 0;
    const req = request(`${url}${path}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "content-length": String(declaredBytes),
      },
    });
    req.on("response", (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => {
        resolve({ status: response.statusCode ?? 0, body, sentBytes });
        req.destroy();
      });
    });
    // The node may close the connection while we still write: not a failure of the test.
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" && error.code !== "ECONNRESET") reject(error);
    });
    const chunk = Buffer.alloc(Math.min(sendBytes, 64 * 1024), 0x20);
    const pump = (): void => {
      while (sentBytes < sendBytes && !req.destroyed) {
        sentBytes += chunk.length;
        if (!req.write(chunk)) {
          req.once("drain", pump);
          return;
        }
      }
    };
    pump();
  });
}

describe("unauthenticated capacity", () => {
  let node: TestNode;

  beforeAll(async () => {
    node = await startTestNode({
      env: { AVISO_MAX_UNAUTHENTICATED_CONNECTIONS: "3", AVISO_MAX_CONNECTIONS: "10" },
    });
  });
  afterAll(async () => {
    await node?.close();
  });

  it("refuses anonymous upgrades past maxUnauthenticatedConnections while users still connect", async () => {
    const anonymous = await Promise.all([1, 2, 3].map(() => TestSocket.connect(node.wsUrl)));
    await expect(TestSocket.connect(node.wsUrl)).rejects.toThrow(/429/);
    const { api } = await newUser(node.url, "user");
    const user = await TestSocket.connect(node.wsUrl, api.token);
    user.send({ op: "ping", id: 1 });
    expect(await user.waitFor((frame) => frame.op === "pong")).toMatchObject({ id: 1 });
    // An anonymous socket that authenticates frees its anonymous slot.
    const first = anonymous[0] as TestSocket;
    expect(await first.request({ op: "auth", id: 1, token: api.token })).toMatchObject({ op: "ok" });
    const another = await TestSocket.connect(node.wsUrl);
    await Promise.all([...anonymous, user, another].map((socket) => socket.close()));
  });

  it("answers 401 to a 100 MB declared body with a bad token, without reading it", async () => {
    const answer = await postPartialBody(
      node.url,
      "/v1/queues",
      100 * 1024 * 1024,
      1024 * 1024,
      "not-a-token",
    );
    expect(answer.status, answer.body).toBe(401);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { reason: expect.stringMatching(/^TOKEN_/) } });
    const health = await fetch(`${node.url}/healthz`);
    expect(health.status).toBe(200);
  });

  it("answers 401 to a body under maxBodyBytes that never completes, when the token is bad", async () => {
    // 4 MiB declared, 64 KiB sent: a node waiting for the body would never answer.
    const answer = await postPartialBody(node.url, "/v1/queues", 4 * 1024 * 1024, 64 * 1024, "bad");
    expect(answer.status, answer.body).toBe(401);
    expect(answer.sentBytes).toBeLessThan(4 * 1024 * 1024);
  });

  it("still reads the body of a caller whose token is good", async () => {
    const { api } = await newUser(node.url, "user");
    const queue = await createQueue(api, { ackTimeoutMs: 4321 });
    expect(await getQueue(api, queue.name)).toMatchObject({ ackTimeoutMs: 4321 });
  });
});
