import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../src/app/services.ts";
import type { AnyRoute } from "../../src/edge/http/route.ts";
import { apiKeyRoutes } from "../../src/edge/http/routes/api-key-routes.ts";
import { authRoutes } from "../../src/edge/http/routes/auth-routes.ts";
import { type OperationDeps, operationRoutes } from "../../src/edge/http/routes/operation-routes.ts";
import { queueRoutes } from "../../src/edge/http/routes/queue-routes.ts";
import { topicRoutes } from "../../src/edge/http/routes/topic-routes.ts";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import {
  ack,
  createQueue,
  createTopic,
  type Delivery,
  publishToQueue,
  publishToTopic,
  receive,
} from "../helpers/broker-api.ts";
import { samples } from "../helpers/prometheus.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";
import { TestSocket } from "../helpers/ws-client.ts";

interface Operation {
  operationId: string;
  summary: string;
  security?: unknown[];
  parameters?: Array<{ name: string; in: string; required: boolean }>;
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<
    string,
    { description: string; content?: Record<string, { schema: Record<string, unknown> }> }
  >;
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
  paths: Record<string, Record<string, Operation>>;
}

/** Every route the route files define; building them calls no service. */
function definedRoutes(): AnyRoute[] {
  const services = {} as Services;
  return [
    ...authRoutes(services),
    ...queueRoutes(services),
    ...topicRoutes(services),
    ...apiKeyRoutes(services),
    ...operationRoutes({} as OperationDeps),
  ];
}

describe.each(storeKinds)("operations routes (%s store)", (kind) => {
  let node: TestNode;
  let anonymous: Api;
  let alice: Api;
  let operator: Api;

  beforeAll(async () => {
    const operatorName = uniqueName("ops");
    node = await startNodeOn(kind, { prefix: "operations", env: { AVISO_OPERATORS: operatorName } });
    anonymous = new Api(node.url);
    alice = (await newUser(node.url, "alice")).api;
    const credentials = { username: operatorName, password: "correct horse battery" };
    expect((await anonymous.post("/v1/auth/register", credentials)).status).toBe(201);
    operator = anonymous.withToken(
      (await anonymous.post<{ token: string }>("/v1/auth/login", credentials)).body.token,
    );
  });
  afterAll(async () => {
    await node?.close();
  });

  it("answers /healthz and /readyz without a token", async () => {
    const health = await anonymous.get("/healthz");
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: "ok" });
    const ready = await anonymous.get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: "ready" });
  });

  it("serves Prometheus metrics that count REST requests and publishes", async () => {
    // An operator's scrape carries per-queue labels (S7).
    const before = samples((await operator.get<string>("/metrics")).body);
    const queue = await createQueue(alice);
    await publishToQueue(alice, queue.name, [{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const topic = await createTopic(alice);
    await publishToTopic(alice, topic.name, [{ payload: 1 }, { payload: 2 }]);
    const [leased] = await receive(alice, queue.name);
    await receive(alice, queue.name);
    await ack(alice, queue.name, [(leased as Delivery).receipt]);
    const scraped = await operator.get<string>("/metrics");
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get("content-type")).toContain("text/plain");
    for (const name of [
      "aviso_http_requests_total",
      "aviso_messages_published_total",
      "aviso_publish_latency_seconds",
      "aviso_queue_depth",
      "aviso_queue_in_flight",
      "aviso_ws_connections",
      "aviso_store_commit_seconds",
    ]) {
      expect(scraped.body).toContain(`# TYPE ${name} `);
    }
    const after = samples(scraped.body);
    const grew = (sample: string) => (after.get(sample) ?? 0) - (before.get(sample) ?? 0);
    expect(grew('aviso_messages_published_total{kind="queue"}')).toBe(3);
    expect(grew('aviso_messages_published_total{kind="topic"}')).toBe(2);
    expect(grew('aviso_http_requests_total{route="/v1/queues/{name}/messages",status="201"}')).toBe(1);
    // REST receivers count like WebSocket subscribers.
    expect(grew('aviso_messages_delivered_total{kind="queue"}')).toBe(2);
    expect(grew("aviso_messages_acked_total")).toBe(1);
    expect(after.get(`aviso_queue_depth{queue="${queue.name}"}`)).toBe(1);
    expect(after.get(`aviso_queue_in_flight{queue="${queue.name}"}`)).toBe(1);
  });

  it("counts WebSocket deliveries and acks once each, as it counts REST ones", async () => {
    const queue = await createQueue(alice);
    await publishToQueue(alice, queue.name, [{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const before = samples((await operator.get<string>("/metrics")).body);
    const socket = await TestSocket.connect(node.wsUrl, alice.token);
    try {
      const subscribed = await socket.request({ op: "subscribe", id: 1, queue: queue.name, prefetch: 10 });
      expect(subscribed.op).toBe("ok");
      const messages = await Promise.all(
        [0, 1, 2].map((index) =>
          socket.waitFor((frame) => frame.op === "message" && (frame.payload as number) === index + 1),
        ),
      );
      const acked = await socket.request({
        op: "ack",
        id: 2,
        sub: subscribed.sub,
        ids: messages.slice(0, 2).map((frame) => frame.id),
      });
      expect(acked).toMatchObject({ op: "ok", acked: 2 });
    } finally {
      socket.ws.close();
      await socket.closed;
    }
    const after = samples((await operator.get<string>("/metrics")).body);
    const grew = (sample: string) => (after.get(sample) ?? 0) - (before.get(sample) ?? 0);
    expect(grew('aviso_messages_delivered_total{kind="queue"}')).toBe(3);
    expect(grew("aviso_messages_acked_total")).toBe(2);
  });

  it("serves an OpenAPI 3.1 document with every route the route files define", async () => {
    const answer = await anonymous.get<OpenApiDocument>("/openapi.json");
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toContain("application/json");
    const doc = answer.body;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info).toMatchObject({ title: "Aviso", version: expect.any(String) });
    expect(doc.components.securitySchemes).toHaveProperty("bearer");
    expect(doc.components.schemas).toHaveProperty("Error");

    const routes = definedRoutes();
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(
      routes.map((route) => `${route.method.toUpperCase()} ${route.path}`).sort(),
    );
    expect(routes.length).toBeGreaterThanOrEqual(25);

    const operationIds = new Set<string>();
    for (const route of routes) {
      const operation = doc.paths[route.path]?.[route.method] as Operation;
      const where = `${route.method} ${route.path}`;
      expect(operation.operationId, where).toBe(route.operationId);
      operationIds.add(operation.operationId);
      expect(operation.summary.length, where).toBeGreaterThan(0);
      if (route.auth) expect(operation.security, where).toBeUndefined();
      else expect(operation.security, where).toEqual([]);
      const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      expect(
        (operation.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name),
        where,
      ).toEqual(pathParams);
      if (route.body !== undefined)
        expect(operation.requestBody?.content, where).toHaveProperty("application/json");
      else expect(operation.requestBody, where).toBeUndefined();
      for (const status of Object.keys(route.responses))
        expect(operation.responses, where).toHaveProperty(status);
      const errorText = Object.entries(operation.responses)
        .filter(([status]) => Number(status) >= 400)
        .map(([, response]) => response.description)
        .join(" ");
      for (const reason of route.errors)
        expect(errorText, `${where} documents ${reason}`).toContain(`\`${reason}\``);
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) < 400) continue;
        expect(response.content?.["application/json"]?.schema, where).toEqual({
          $ref: "#/components/schemas/Error",
        });
      }
    }
    expect(operationIds.size).toBe(routes.length);
  });

  it("documents on each route the errors the routes are known to answer with", async () => {
    const doc = (await anonymous.get<OpenApiDocument>("/openapi.json")).body;
    const reasonsOf = (method: string, path: string) =>
      Object.values(doc.paths[path]?.[method]?.responses ?? {})
        .map((response) => response.description)
        .join(" ");
    // A private dead-letter queue the creator may not publish to is refused with ACCESS_DENIED.
    expect(reasonsOf("post", "/v1/queues")).toContain("`ACCESS_DENIED`");
    // Every route with a body can be too large, malformed or of the wrong type.
    for (const reason of ["BAD_JSON", "BODY_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"]) {
      expect(reasonsOf("post", "/v1/queues/{name}/ack")).toContain(`\`${reason}\``);
    }
  });

  it("serves an HTML page that renders the OpenAPI document", async () => {
    const page = await anonymous.get<string>("/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.body).toMatch(/^<!doctype html>/i);
    expect(page.body).toContain("/openapi.json");
  });

  it("describes the standalone cluster at /v1/cluster, naming what this node owns to operators only", async () => {
    const queue = await createQueue(alice);
    await publishToQueue(alice, queue.name, [{ payload: 1 }]);
    const topic = await createTopic(alice);
    await publishToTopic(alice, topic.name, [{ payload: 1 }]);
    expect((await anonymous.get("/v1/cluster")).status).toBe(401);
    const cluster = await alice.get<{
      mode: string;
      self: { id: string; httpUrl: string; peerUrl: string };
      members: unknown[];
      owned: { queues: string[]; topics: string[] };
    }>("/v1/cluster");
    expect(cluster.status).toBe(200);
    expect(cluster.body.mode).toBe("standalone");
    expect(cluster.body.self.httpUrl).toBe(node.url);
    expect(cluster.body.members).toEqual([cluster.body.self]);
    expect(cluster.body).not.toHaveProperty("owned");
    const asOperator = await operator.get<{ owned: { queues: string[]; topics: string[] } }>("/v1/cluster");
    expect(asOperator.body.owned.queues).toContain(queue.name);
    expect(asOperator.body.owned.topics).toContain(topic.name);
  });
});
