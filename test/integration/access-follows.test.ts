import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { type Frame, TestSocket } from "../helpers/ws-client.ts";

// docs/security.md S2: what runs on a user's behalf ends as soon as their access goes.

let node: TestNode;
let alice: Api;
let bob: Api;
let bobName: string;
beforeAll(async () => {
  node = await startTestNode();
  ({ api: alice } = await newUser(node.url, "alice"));
  ({ api: bob, username: bobName } = await newUser(node.url, "bob"));
});
afterAll(async () => {
  await node?.close();
});

const openSockets: TestSocket[] = [];
afterEach(async () => {
  await Promise.all(openSockets.splice(0).map((socket) => socket.close()));
});

async function bobSocket(): Promise<TestSocket> {
  const socket = await TestSocket.connect(node.wsUrl, bob.token);
  openSockets.push(socket);
  return socket;
}

async function privateResource(kind: "queues" | "topics", bobPermissions: string[]): Promise<string> {
  const name = uniqueName(kind === "queues" ? "q" : "t");
  expect((await alice.post(`/v1/${kind}`, { name, private: true })).status).toBe(201);
  const granted = await alice.post(`/v1/${kind}/${name}/grants`, {
    username: bobName,
    permissions: bobPermissions,
  });
  expect(granted.status).toBe(200);
  return name;
}

const setBobGrant = async (kind: "queues" | "topics", name: string, permissions: string[]) =>
  expect((await alice.post(`/v1/${kind}/${name}/grants`, { username: bobName, permissions })).status).toBe(
    200,
  );

async function subscribe(socket: TestSocket, target: Record<string, string>): Promise<string> {
  const reply = await socket.request({ op: "subscribe", id: uniqueName("sub"), ...target }, 15_000);
  expect(reply).toMatchObject({ op: "ok", sub: expect.any(String) });
  return reply.sub as string;
}

const endedFrame = (socket: TestSocket, sub: string): Promise<Frame> =>
  socket.waitFor((frame) => frame.op === "ended" && frame.sub === sub, 5000);

describe("access that follows changes", () => {
  it("ends a WebSocket queue subscription with ACCESS_REVOKED when its grant is revoked", async () => {
    const queue = await privateResource("queues", ["consume"]);
    const socket = await bobSocket();
    const sub = await subscribe(socket, { queue });
    await setBobGrant("queues", queue, []);
    expect(await endedFrame(socket, sub)).toMatchObject({ reason: "ACCESS_REVOKED" });
    // Nothing published afterwards reaches the revoked subscriber: it waits in the queue.
    expect((await alice.post(`/v1/queues/${queue}/messages`, { payload: "after" })).status).toBe(201);
    socket.send({ op: "ping", id: "barrier" });
    await socket.waitFor((frame) => frame.op === "pong");
    expect(socket.frames.filter((frame) => frame.op === "message")).toEqual([]);
    expect((await alice.get(`/v1/queues/${queue}`)).body).toMatchObject({ depth: 1, consumers: 0 });
  });

  it("ends a queue subscription when the grant is narrowed to publish only", async () => {
    const queue = await privateResource("queues", ["consume", "publish"]);
    const socket = await bobSocket();
    const sub = await subscribe(socket, { queue });
    await setBobGrant("queues", queue, ["publish"]);
    expect(await endedFrame(socket, sub)).toMatchObject({ reason: "ACCESS_REVOKED" });
  });

  it("keeps a subscription whose grant still allows it", async () => {
    const queue = await privateResource("queues", ["consume"]);
    const socket = await bobSocket();
    await subscribe(socket, { queue });
    await setBobGrant("queues", queue, ["consume", "publish"]);
    expect((await alice.post(`/v1/queues/${queue}/messages`, { payload: "still yours" })).status).toBe(201);
    const message = await socket.waitFor((frame) => frame.op === "message", 5000);
    expect(message).toMatchObject({ queue, payload: "still yours" });
    expect(socket.frames.some((frame) => frame.op === "ended")).toBe(false);
  });

  it("ends a WebSocket topic subscription with ACCESS_REVOKED and sends nothing after", async () => {
    const topic = await privateResource("topics", ["consume"]);
    const socket = await bobSocket();
    const sub = await subscribe(socket, { topic });
    await setBobGrant("topics", topic, []);
    expect(await endedFrame(socket, sub)).toMatchObject({ reason: "ACCESS_REVOKED" });
    expect((await alice.post(`/v1/topics/${topic}/messages`, { key: "k", payload: "secret" })).status).toBe(
      201,
    );
    socket.send({ op: "ping", id: "barrier" });
    await socket.waitFor((frame) => frame.op === "pong");
    expect(socket.frames.filter((frame) => frame.op === "message")).toEqual([]);
  });

  it("answers a waiting REST receive with 403 ACCESS_REVOKED and leases nothing", async () => {
    const queue = await privateResource("queues", ["consume"]);
    const waiting = bob.post(`/v1/queues/${queue}/receive`, { max: 10, waitMs: 15_000 });
    // The wait is registered once the owner holds it; revoke while it waits.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await setBobGrant("queues", queue, []);
    const answer = await waiting;
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: { reason: "ACCESS_REVOKED" } });
    expect((await alice.post(`/v1/queues/${queue}/messages`, { payload: "later" })).status).toBe(201);
    expect((await alice.get(`/v1/queues/${queue}`)).body).toMatchObject({ depth: 1, inFlight: 0 });
  });

  it("ends a subscription with QUEUE_NOT_FOUND when the queue is deleted and re-created under its name", async () => {
    const queue = await privateResource("queues", ["consume"]);
    const socket = await bobSocket();
    const sub = await subscribe(socket, { queue });
    expect((await alice.delete(`/v1/queues/${queue}`)).status).toBe(204);
    expect(await endedFrame(socket, sub)).toMatchObject({ reason: "QUEUE_NOT_FOUND" });
  });
});
