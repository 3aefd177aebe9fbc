import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { createTestDatabase } from "../helpers/mariadb.ts";
import { TestSocket } from "../helpers/ws-client.ts";

let cluster: TestCluster;
/** /v1/cluster names owned resources to operators only (S7). */
const operatorName = uniqueName("ops");
let operatorToken: string;
beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    store: await createTestDatabase("cluster_any_node"),
    env: { AVISO_OPERATORS: operatorName },
  });
  const anonymous = new Api(cluster.node(0).url);
  const credentials = { username: operatorName, password: "correct horse battery" };
  expect((await anonymous.post("/v1/auth/register", credentials)).status).toBe(201);
  operatorToken = (await anonymous.post<{ token: string }>("/v1/auth/login", credentials)).body.token;
});
afterAll(async () => {
  await cluster?.stop();
});

const NODES = [0, 1, 2];

/** The same GET through every node; the answers must be identical. */
async function sameEverywhere(token: string, path: string): Promise<{ status: number; body: unknown }> {
  const answers = await Promise.all(NODES.map((i) => new Api(cluster.node(i).url, token).get(path)));
  for (const answer of answers) {
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: answers[0]?.status,
      body: answers[0]?.body,
    });
  }
  return { status: answers[0]?.status as number, body: answers[0]?.body };
}

/** The lookup answers the same on every node, and names the node that owns the resource (its /v1/cluster says so). */
async function expectLookupNamesOwner(token: string, kind: "queue" | "topic", name: string): Promise<void> {
  const lookup = await sameEverywhere(token, `/v1/${kind}s/${name}/lookup`);
  expect(lookup.status).toBe(200);
  const { node, httpUrl } = lookup.body as { node: string; httpUrl: string };
  expect(NODES.map((i) => cluster.node(i).url)).toContain(httpUrl);
  const there = await new Api(httpUrl, operatorToken).get<{
    self: { id: string };
    owned: Record<string, string[]>;
  }>("/v1/cluster");
  expect(there.body.self.id).toBe(node);
  expect(there.body.owned[`${kind}s`]).toContain(name);
}

describe("any node gives the same answer", () => {
  it("for auth: a token from one node works on every node; errors are identical", async () => {
    const { username, password, api } = await newUser(cluster.node(0).url);
    for (const i of NODES) {
      const login = await new Api(cluster.node(i).url).post<{ token: string }>("/v1/auth/login", {
        username,
        password,
      });
      expect(login.status).toBe(200);
      const me = await new Api(cluster.node((i + 1) % 3).url, login.body.token).get("/v1/me");
      expect(me.body.username).toBe(username);
    }
    await sameEverywhere(api.token as string, "/v1/me");
    const wrong = await Promise.all(
      NODES.map((i) =>
        new Api(cluster.node(i).url).post("/v1/auth/login", { username, password: "wrong one!" }),
      ),
    );
    for (const answer of wrong) expect(answer.body).toEqual(wrong[0]?.body);
    expect(wrong[0]?.status).toBe(401);
  });

  it("for every queue route", async () => {
    const alice = await newUser(cluster.node(0).url);
    const bob = await newUser(cluster.node(1).url);
    const on = (i: number, api = alice.api) => new Api(cluster.node(i).url, api.token);
    const queue = uniqueName("q");
    const dlq = uniqueName("dlq");
    expect((await on(2).post("/v1/queues", { name: dlq })).status).toBe(201);
    expect(
      (await on(1).post("/v1/queues", { name: queue, private: true, deadLetterQueue: dlq, maxDeliveries: 1 }))
        .status,
    ).toBe(201);
    for (const i of NODES) expect((await on(i).post("/v1/queues", { name: queue })).status).toBe(409);
    // One publish through each node; ids come from the one owner, so they never collide.
    const ids = [];
    for (const i of NODES) {
      const sent = await on(i).post<{ ids: string[] }>(`/v1/queues/${queue}/messages`, { payload: i });
      expect(sent.status).toBe(201);
      ids.push(...sent.body.ids);
    }
    expect(new Set(ids).size).toBe(3);
    const view = await sameEverywhere(alice.api.token as string, `/v1/queues/${queue}`);
    await expectLookupNamesOwner(alice.api.token as string, "queue", queue);
    expect(view.body).toMatchObject({ depth: 3, inFlight: 0, owner: alice.username, private: true });
    // Private: hidden from bob on every node the same way (404, S7), until granted.
    for (const i of NODES) {
      const refused = await on(i, bob.api).post(`/v1/queues/${queue}/messages`, { payload: "x" });
      expect(refused.status).toBe(404);
    }
    expect(
      (await on(2).post(`/v1/queues/${queue}/grants`, { username: bob.username, permissions: ["consume"] }))
        .status,
    ).toBe(200);
    await sameEverywhere(alice.api.token as string, `/v1/queues/${queue}/grants`);
    const received = await on(0, bob.api).post<{ messages: Array<{ receipt: string; payload: number }> }>(
      `/v1/queues/${queue}/receive`,
      { max: 10 },
    );
    expect(received.body.messages.map((m) => m.payload)).toEqual([0, 1, 2]);
    const [first, second, third] = received.body.messages;
    expect(
      (await on(1, bob.api).post(`/v1/queues/${queue}/ack`, { receipts: [first?.receipt] })).body,
    ).toEqual({
      acked: 1,
      stale: [],
    });
    // nack through another node: with maxDeliveries 1 it goes to the dead-letter queue.
    expect(
      (await on(2, bob.api).post(`/v1/queues/${queue}/nack`, { receipts: [second?.receipt] })).status,
    ).toBe(200);
    expect(
      (await on(0, bob.api).post(`/v1/queues/${queue}/ack`, { receipts: [third?.receipt] })).status,
    ).toBe(200);
    const dead = await on(1).post<{ messages: Array<{ payload: number; headers: Record<string, string> }> }>(
      `/v1/queues/${dlq}/receive`,
      { max: 10, waitMs: 5000 },
    );
    expect(dead.body.messages.map((m) => m.payload)).toEqual([1]);
    expect(dead.body.messages[0]?.headers["aviso-dead-letter-queue"]).toBe(queue);
    // Only the creator deletes, whichever node is asked; then it is gone everywhere.
    for (const i of NODES) expect((await on(i, bob.api).delete(`/v1/queues/${queue}`)).status).toBe(403);
    expect((await on(2).delete(`/v1/queues/${queue}`)).status).toBe(204);
    const gone = await sameEverywhere(alice.api.token as string, `/v1/queues/${queue}`);
    expect(gone.status).toBe(404);
  });

  it("for every topic route and durable subscriptions", async () => {
    const { api } = await newUser(cluster.node(0).url);
    const on = (i: number) => new Api(cluster.node(i).url, api.token);
    const topic = uniqueName("t");
    const queue = uniqueName("sub");
    expect((await on(0).post("/v1/topics", { name: topic })).status).toBe(201);
    expect((await on(1).post(`/v1/topics/${topic}/subscriptions`, { queue, pattern: "a.*" })).status).toBe(
      201,
    );
    await sameEverywhere(api.token as string, `/v1/topics/${topic}/subscriptions`);
    for (const i of NODES) {
      const sent = await on(i).post<{ offsets: number[] }>(`/v1/topics/${topic}/messages`, {
        messages: [
          { payload: `${i}-match`, key: "a.b" },
          { payload: `${i}-other`, key: "b.c" },
        ],
      });
      expect(sent.body.offsets).toEqual([2 * i, 2 * i + 1]);
    }
    const history = await sameEverywhere(api.token as string, `/v1/topics/${topic}/messages?from=0&limit=10`);
    expect((history.body as { messages: unknown[] }).messages).toHaveLength(6);
    await sameEverywhere(api.token as string, `/v1/topics/${topic}`);
    await expectLookupNamesOwner(api.token as string, "topic", topic);
    // The durable subscription copied the matching messages, wherever its queue lives.
    const copied = await on(2).post<{ messages: Array<{ payload: string }> }>(`/v1/queues/${queue}/receive`, {
      max: 10,
      waitMs: 5000,
    });
    const payloads = copied.body.messages.map((m) => m.payload);
    if (payloads.length < 3) {
      const more = await on(0).post<{ messages: Array<{ payload: string }> }>(`/v1/queues/${queue}/receive`, {
        max: 10,
        waitMs: 5000,
      });
      payloads.push(...more.body.messages.map((m) => m.payload));
    }
    expect(payloads.sort()).toEqual(["0-match", "1-match", "2-match"]);
    expect((await on(2).delete(`/v1/topics/${topic}/subscriptions/${queue}`)).status).toBe(204);
    expect((await on(1).delete(`/v1/topics/${topic}`)).status).toBe(204);
    expect((await sameEverywhere(api.token as string, `/v1/topics/${topic}`)).status).toBe(404);
  });

  it("for every WebSocket op", async () => {
    const { api } = await newUser(cluster.node(0).url);
    const queue = uniqueName("q");
    const topic = uniqueName("t");
    await new Api(cluster.node(0).url, api.token).post("/v1/queues", { name: queue });
    await new Api(cluster.node(0).url, api.token).post("/v1/topics", { name: topic });
    for (const i of NODES) {
      const socket = await TestSocket.connect(cluster.node(i).wsUrl);
      expect((await socket.request({ op: "auth", id: "a", token: api.token as string })).op).toBe("ok");
      socket.send({ op: "ping", id: `p${i}` });
      expect(await socket.waitFor((frame) => frame.op === "pong")).toEqual({ op: "pong", id: `p${i}` });
      const qsub = await socket.request({ op: "subscribe", id: "q", queue, prefetch: 10 });
      expect(qsub).toMatchObject({ op: "ok", sub: "q1" });
      const tsub = await socket.request({ op: "subscribe", id: "t", topic, from: "earliest" });
      expect(tsub.op).toBe("ok");
      const published = await socket.request({ op: "publish", id: "pq", queue, payload: `from-${i}` });
      expect(published.op).toBe("ok");
      const delivery = await socket.waitFor(
        (f) => f.op === "message" && f.sub === "q1" && f.payload === `from-${i}`,
      );
      expect(
        (await socket.request({ op: "ack", id: "ack", sub: "q1", ids: [delivery.id as string] })).acked,
      ).toBe(1);
      const offset = await socket.request({ op: "publish", id: "pt", topic, payload: `t-${i}` });
      expect(offset.offset).toBe(i);
      await socket.waitFor((f) => f.op === "message" && f.sub === tsub.sub && f.offset === i);
      expect((await socket.request({ op: "unsubscribe", id: "u", sub: "q1" })).op).toBe("ok");
      const bad = await socket.request({ op: "subscribe", id: "x", topic, from: 99 });
      expect(bad).toMatchObject({ op: "error", reason: "OFFSET_OUT_OF_RANGE" });
      await socket.close();
    }
  });
});
