import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wsOps } from "../../src/edge/ws/dispatch.ts";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import {
  createQueue,
  createTopic,
  type Delivery,
  publishToQueue,
  publishToTopic,
  receive,
} from "../helpers/broker-api.ts";
import { expectError } from "../helpers/expect-error.ts";
import { TestSocket } from "../helpers/ws-client.ts";

/** S7: what the caller may not see answers like what does not exist, and nothing names a creator. */

interface Case {
  label: string;
  method: string;
  path: string;
  body?: unknown;
}

/** The resources alice holds while the "private" answers are taken. */
interface Secrets {
  privateQueue: string;
  privateTopic: string;
  /** Alice's public topic, bound to her private queue. */
  publicTopic: string;
  receipt: string;
  outsider: string;
  freshQueue: string;
}

type Sample = (secrets: Secrets) => Case[];

/**
 * Every REST operation that names a queue or topic (path or body), with a
 * request that passes validation. The test fails when an operation of the
 * route table is in neither this table nor `namesNoResource`.
 */
const namesResource: Record<string, Sample> = {
  getQueue: (s) => [{ label: "", method: "GET", path: `/v1/queues/${s.privateQueue}` }],
  lookupQueue: (s) => [{ label: "", method: "GET", path: `/v1/queues/${s.privateQueue}/lookup` }],
  deleteQueue: (s) => [{ label: "", method: "DELETE", path: `/v1/queues/${s.privateQueue}` }],
  publishToQueue: (s) => [
    { label: "", method: "POST", path: `/v1/queues/${s.privateQueue}/messages`, body: { payload: 1 } },
  ],
  receiveFromQueue: (s) => [
    { label: "", method: "POST", path: `/v1/queues/${s.privateQueue}/receive`, body: {} },
  ],
  ackQueueMessages: (s) => [
    {
      label: "",
      method: "POST",
      path: `/v1/queues/${s.privateQueue}/ack`,
      body: { receipts: [s.receipt] },
    },
  ],
  nackQueueMessages: (s) => [
    {
      label: "",
      method: "POST",
      path: `/v1/queues/${s.privateQueue}/nack`,
      body: { receipts: [s.receipt] },
    },
  ],
  grantQueue: (s) => [
    {
      label: "",
      method: "POST",
      path: `/v1/queues/${s.privateQueue}/grants`,
      body: { username: s.outsider, permissions: ["consume"] },
    },
  ],
  listQueueGrants: (s) => [{ label: "", method: "GET", path: `/v1/queues/${s.privateQueue}/grants` }],
  createQueue: (s) => [
    {
      label: "dead-letter queue",
      method: "POST",
      path: "/v1/queues",
      body: { name: s.freshQueue, deadLetterQueue: s.privateQueue },
    },
  ],
  getTopic: (s) => [{ label: "", method: "GET", path: `/v1/topics/${s.privateTopic}` }],
  lookupTopic: (s) => [{ label: "", method: "GET", path: `/v1/topics/${s.privateTopic}/lookup` }],
  deleteTopic: (s) => [{ label: "", method: "DELETE", path: `/v1/topics/${s.privateTopic}` }],
  publishToTopic: (s) => [
    { label: "", method: "POST", path: `/v1/topics/${s.privateTopic}/messages`, body: { payload: 1 } },
  ],
  topicHistory: (s) => [{ label: "", method: "GET", path: `/v1/topics/${s.privateTopic}/messages?from=0` }],
  grantTopic: (s) => [
    {
      label: "",
      method: "POST",
      path: `/v1/topics/${s.privateTopic}/grants`,
      body: { username: s.outsider, permissions: ["consume"] },
    },
  ],
  listTopicGrants: (s) => [{ label: "", method: "GET", path: `/v1/topics/${s.privateTopic}/grants` }],
  createDurableSubscription: (s) => [
    {
      label: "private topic",
      method: "POST",
      path: `/v1/topics/${s.privateTopic}/subscriptions`,
      body: { queue: s.freshQueue },
    },
  ],
  listDurableSubscriptions: (s) => [
    { label: "private topic", method: "GET", path: `/v1/topics/${s.privateTopic}/subscriptions` },
    { label: "public topic", method: "GET", path: `/v1/topics/${s.publicTopic}/subscriptions` },
  ],
  deleteDurableSubscription: (s) => [
    {
      label: "private topic",
      method: "DELETE",
      path: `/v1/topics/${s.privateTopic}/subscriptions/${s.privateQueue}`,
    },
    {
      label: "private queue on a public topic",
      method: "DELETE",
      path: `/v1/topics/${s.publicTopic}/subscriptions/${s.privateQueue}`,
    },
  ],
};

const namesNoResource = new Set([
  "register",
  "login",
  "me",
  "createTopic",
  "listQueues",
  "listTopics",
  "health",
  "ready",
  "metrics",
  "openapi",
  "docs",
  "cluster",
  // Users and API keys, not queues or topics: the user routes are operators' alone (403
  // OPERATOR_REQUIRED before any lookup, auth-hygiene.test.ts) and another's API key answers
  // like a missing one (API_KEY_NOT_FOUND, api-keys.test.ts).
  "deleteMe",
  "logoutAll",
  "createUser",
  "logoutUser",
  "deleteUser",
  "createApiKey",
  "listApiKeys",
  "revokeApiKey",
]);

/** WebSocket ops by what they name; `[]` for ops that name no queue or topic (they name a subscription). */
const wsFrames: Record<string, (s: Secrets) => Array<Record<string, unknown>>> = {
  subscribe: (s) => [
    { op: "subscribe", queue: s.privateQueue },
    { op: "subscribe", topic: s.privateTopic },
    { op: "subscribe", topic: s.privateTopic, from: "earliest" },
  ],
  publish: (s) => [
    { op: "publish", queue: s.privateQueue, payload: 1 },
    { op: "publish", topic: s.privateTopic, payload: 1 },
  ],
  auth: () => [],
  unsubscribe: () => [],
  ack: () => [],
  nack: () => [],
  ping: () => [],
};

describe("no leaks (S7)", () => {
  let node: TestNode;
  let alice: Api;
  let aliceName: string;
  let bob: Api;
  let bobName: string;
  let operator: Api;
  const operatorName = uniqueName("ops");
  const metricsToken = "m".repeat(40);

  beforeAll(async () => {
    node = await startTestNode({
      env: { AVISO_OPERATORS: operatorName, AVISO_METRICS_TOKEN: metricsToken },
    });
    ({ api: alice, username: aliceName } = await newUser(node.url, "alice"));
    ({ api: bob, username: bobName } = await newUser(node.url, "bob"));
    const registered = await new Api(node.url).post("/v1/auth/register", {
      username: operatorName,
      password: "correct horse battery",
    });
    expect(registered.status).toBe(201);
    const login = await new Api(node.url).post<{ token: string }>("/v1/auth/login", {
      username: operatorName,
      password: "correct horse battery",
    });
    operator = new Api(node.url, login.body.token);
  });
  afterAll(async () => {
    await node?.close();
  });

  async function operationIds(): Promise<string[]> {
    const doc = (
      await new Api(node.url).get<{ paths: Record<string, Record<string, { operationId: string }>> }>(
        "/openapi.json",
      )
    ).body;
    return Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
  }

  async function aliceSecrets(): Promise<Secrets> {
    const privateQueue = (await createQueue(alice, { private: true })).name;
    const privateTopic = (await createTopic(alice, { private: true })).name;
    const publicTopic = (await createTopic(alice)).name;
    await publishToQueue(alice, privateQueue, [{ payload: "secret" }]);
    await publishToTopic(alice, privateTopic, [{ payload: "secret" }]);
    const [leased] = await receive(alice, privateQueue);
    const bound = await alice.post(`/v1/topics/${publicTopic}/subscriptions`, { queue: privateQueue });
    expect(bound.status).toBe(201);
    return {
      privateQueue,
      privateTopic,
      publicTopic,
      receipt: (leased as Delivery).receipt,
      outsider: bobName,
      freshQueue: uniqueName("fresh"),
    };
  }

  async function forget(secrets: Secrets): Promise<void> {
    expect(
      (await alice.delete(`/v1/topics/${secrets.publicTopic}/subscriptions/${secrets.privateQueue}`)).status,
    ).toBe(204);
    expect((await alice.delete(`/v1/queues/${secrets.privateQueue}`)).status).toBe(204);
    expect((await alice.delete(`/v1/topics/${secrets.privateTopic}`)).status).toBe(204);
  }

  it("the resource table covers every operation of the route table and every WebSocket op", async () => {
    const ids = await operationIds();
    const unclassified = ids.filter((id) => !(id in namesResource) && !namesNoResource.has(id));
    expect(unclassified).toEqual([]);
    expect(Object.keys(wsFrames).sort()).toEqual(Object.keys(wsOps).sort());
  });

  it("answers every REST operation on a private resource exactly as on a missing one", async () => {
    const ids = await operationIds();
    const secrets = await aliceSecrets();
    const cases = ids.flatMap((id) =>
      (namesResource[id]?.(secrets) ?? []).map((c) => ({ ...c, label: `${id} ${c.label}` })),
    );
    expect(cases.length).toBeGreaterThanOrEqual(Object.keys(namesResource).length);
    const answer = async (api: Api, c: Case) => {
      const response = await api.request(c.method, c.path, c.body);
      return { label: c.label, status: response.status, body: response.body };
    };
    const callers = [bob, operator];
    const hidden = [];
    for (const api of callers) for (const c of cases) hidden.push(await answer(api, c));
    await forget(secrets);
    const missing = [];
    for (const api of callers) for (const c of cases) missing.push(await answer(api, c));
    expect(hidden).toEqual(missing);
    for (const answered of hidden) {
      expect(JSON.stringify(answered.body), answered.label).not.toContain(aliceName);
      // Not found (or, for a dead-letter queue, "does not exist"), or an empty listing: never a
      // refusal that admits the resource exists, nor a validation error that would hide one.
      const reason = (answered.body as { error?: { reason?: string } }).error?.reason;
      if (answered.status === 200)
        expect(answered.body, answered.label).toEqual({ subscriptions: [], next: null });
      else
        expect(
          ["QUEUE_NOT_FOUND", "TOPIC_NOT_FOUND", "SUBSCRIPTION_NOT_FOUND", "INVALID_DEAD_LETTER_QUEUE"],
          answered.label,
        ).toContain(reason);
    }
  });

  it("answers every WebSocket op on a private resource exactly as on a missing one", async () => {
    const secrets = await aliceSecrets();
    const frames = Object.keys(wsOps).flatMap((op) => wsFrames[op]?.(secrets) ?? []);
    expect(frames.length).toBeGreaterThanOrEqual(4);
    const socket = await TestSocket.connect(node.wsUrl, bob.token);
    const answers = async (round: string) => {
      const replies = [];
      for (const [index, frame] of frames.entries()) {
        const reply = await socket.request({ ...frame, id: `${round}-${index}` });
        replies.push({ ...reply, id: index });
      }
      return replies;
    };
    const hidden = await answers("hidden");
    await forget(secrets);
    const missing = await answers("missing");
    socket.ws.close();
    expect(hidden).toEqual(missing);
    for (const reply of hidden) {
      expect(reply).toMatchObject({ op: "error", code: "not_found" });
      expect(JSON.stringify(reply)).not.toContain(aliceName);
    }
  });

  it("refuses a visible resource without naming its creator: ACCESS_DENIED for a missing grant, NOT_RESOURCE_OWNER for creator-only actions", async () => {
    const queue = (await createQueue(alice, { private: true })).name;
    const topic = (await createTopic(alice)).name;
    const granted = await alice.post(`/v1/queues/${queue}/grants`, {
      username: bobName,
      permissions: ["consume"],
    });
    expect(granted.status).toBe(200);
    const answers = [
      [await bob.post(`/v1/queues/${queue}/messages`, { payload: 1 }), "ACCESS_DENIED"],
      [await bob.delete(`/v1/queues/${queue}`), "NOT_RESOURCE_OWNER"],
      [await bob.get(`/v1/queues/${queue}/grants`), "NOT_RESOURCE_OWNER"],
      [await bob.delete(`/v1/topics/${topic}`), "NOT_RESOURCE_OWNER"],
      [
        await bob.post(`/v1/topics/${topic}/grants`, { username: bobName, permissions: ["publish"] }),
        "NOT_RESOURCE_OWNER",
      ],
    ] as const;
    for (const [response, reason] of answers) {
      expectError(response, reason);
      expect(JSON.stringify(response.body)).not.toContain(aliceName);
    }
  });

  it("binding a topic into someone else's queue never names its creator, and a private one answers like a taken name", async () => {
    const topic = (await createTopic(bob)).name;
    const hiddenQueue = (await createQueue(alice, { private: true })).name;
    const openQueue = (await createQueue(alice)).name;
    const intoHidden = await bob.post(`/v1/topics/${topic}/subscriptions`, { queue: hiddenQueue });
    const takenName = await bob.post("/v1/queues", { name: hiddenQueue });
    expectError(intoHidden, "QUEUE_EXISTS");
    expect(intoHidden.body).toEqual(takenName.body);
    const intoOpen = await bob.post(`/v1/topics/${topic}/subscriptions`, { queue: openQueue });
    expectError(intoOpen, "NOT_RESOURCE_OWNER");
    expect(JSON.stringify(intoOpen.body)).not.toContain(aliceName);
  });

  it("shows creators only to the creator and operators, and grants only to the creator", async () => {
    const queue = (await createQueue(alice)).name;
    const topic = (await createTopic(alice)).name;
    for (const [api, seesCreator] of [
      [alice, true],
      [operator, true],
      [bob, false],
    ] as const) {
      const views = [
        (await api.get(`/v1/queues/${queue}`)).body,
        (await api.get(`/v1/topics/${topic}`)).body,
        ...(await api.get<{ queues: Array<{ name: string }> }>("/v1/queues")).body.queues.filter(
          (q) => q.name === queue,
        ),
        ...(await api.get<{ topics: Array<{ name: string }> }>("/v1/topics")).body.topics.filter(
          (t) => t.name === topic,
        ),
      ];
      expect(views).toHaveLength(4);
      for (const view of views) {
        if (seesCreator) expect(view).toMatchObject({ creator: aliceName, owner: aliceName });
        else {
          expect(view).not.toHaveProperty("creator");
          expect(view).not.toHaveProperty("owner");
        }
      }
    }
    expectError(await operator.get(`/v1/queues/${queue}/grants`), "NOT_RESOURCE_OWNER");
  });

  it("lists only bindings on queues the caller may see, with their creator only for the topic's and binding's creators", async () => {
    const topic = (await createTopic(alice)).name;
    const hiddenQueue = uniqueName("hidden");
    const openQueue = uniqueName("open");
    expect((await alice.post("/v1/queues", { name: hiddenQueue, private: true })).status).toBe(201);
    expect((await alice.post(`/v1/topics/${topic}/subscriptions`, { queue: hiddenQueue })).status).toBe(201);
    expect((await alice.post(`/v1/topics/${topic}/subscriptions`, { queue: openQueue })).status).toBe(201);
    const listed = async (api: Api) =>
      (await api.get<{ subscriptions: Array<Record<string, unknown>> }>(`/v1/topics/${topic}/subscriptions`))
        .body.subscriptions;
    const bobSees = await listed(bob);
    expect(bobSees.map((b) => b.queue)).toEqual([openQueue]);
    expect(bobSees[0]).not.toHaveProperty("createdBy");
    const aliceSees = await listed(alice);
    expect(aliceSees.map((b) => b.queue).sort()).toEqual([hiddenQueue, openQueue].sort());
    for (const binding of aliceSees) expect(binding).toMatchObject({ createdBy: aliceName });
  });

  it("shows /v1/cluster's owned resources only to operators", async () => {
    const queue = (await createQueue(alice, { private: true })).name;
    await publishToQueue(alice, queue, [{ payload: 1 }]);
    const full = await operator.get<{ owned: { queues: string[] } }>("/v1/cluster");
    expect(full.status).toBe(200);
    expect(full.body.owned.queues).toContain(queue);
    const plain = await bob.get("/v1/cluster");
    expect(plain.status).toBe(200);
    expect(plain.body).not.toHaveProperty("owned");
    expect(plain.body).toMatchObject({ mode: "standalone", members: expect.any(Array) });
    expect(JSON.stringify(plain.body)).not.toContain(queue);
  });

  it("labels /metrics by queue only for operators and the metrics token", async () => {
    const queue = (await createQueue(alice, { private: true })).name;
    await publishToQueue(alice, queue, [{ payload: 1 }, { payload: 2 }]);
    const scrape = (token?: string) => new Api(node.url, token).get<string>("/metrics");
    const anonymous = await scrape();
    expect(anonymous.status).toBe(200);
    expect(anonymous.body).not.toContain(queue);
    expect(anonymous.body).not.toContain('queue="');
    expect(anonymous.body).toMatch(/^aviso_queue_depth \d+$/m);
    const asUser = await scrape(bob.token);
    expect(asUser.body).not.toContain('queue="');
    for (const token of [operator.token, metricsToken]) {
      const labelled = await scrape(token);
      expect(labelled.status).toBe(200);
      expect(labelled.body).toContain(`aviso_queue_depth{queue="${queue}"} 2`);
    }
    const forged = await scrape("not-a-token");
    expect(forged.status).toBe(200);
    expect(forged.body).not.toContain('queue="');
  });
});

describe("no leaks (S7), metricsResourceLabels", () => {
  it("labels /metrics for everyone when metricsResourceLabels is set", async () => {
    const node = await startTestNode({ env: { AVISO_METRICS_RESOURCE_LABELS: "true" } });
    try {
      const { api } = await newUser(node.url, "alice");
      const queue = (await createQueue(api)).name;
      await publishToQueue(api, queue, [{ payload: 1 }]);
      const text = (await new Api(node.url).get<string>("/metrics")).body;
      expect(text).toContain(`aviso_queue_depth{queue="${queue}"} 1`);
    } finally {
      await node.close();
    }
  });
});
