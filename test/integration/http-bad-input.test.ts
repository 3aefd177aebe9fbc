import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Reason } from "../../src/errors/reasons.ts";
import { Api, type ApiResponse, newUser } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import {
  createQueue,
  createTopic,
  getQueue,
  getTopic,
  publishToQueue,
  publishToTopic,
} from "../helpers/broker-api.ts";
import { expectError } from "../helpers/expect-error.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";

const MAX_PAYLOAD_BYTES = 1024;
const MAX_BODY_BYTES = 16_384;
const MAX_BATCH_MESSAGES = 5;

type OpenApi = {
  paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
};

describe.each(storeKinds)("bad HTTP input (%s store)", (kind) => {
  let node: TestNode;
  let alice: Api;
  let queue: string;
  let topic: string;
  let queueDepth = 0;
  let topicNext = 0;
  let documented: OpenApi;

  beforeAll(async () => {
    node = await startNodeOn(kind, {
      prefix: "bad_input",
      env: {
        AVISO_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES),
        AVISO_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
        AVISO_MAX_BATCH_MESSAGES: String(MAX_BATCH_MESSAGES),
      },
    });
    alice = (await newUser(node.url, "alice")).api;
    queue = (await createQueue(alice)).name;
    topic = (await createTopic(alice)).name;
    documented = (await new Api(node.url).get<OpenApi>("/openapi.json")).body;
  });
  afterAll(async () => {
    await node?.close();
  });

  // After every bad request: nothing changed, and the node still serves good ones.
  afterEach(async () => {
    expect(await getQueue(alice, queue)).toMatchObject({ depth: queueDepth, inFlight: 0 });
    expect(await getTopic(alice, topic)).toMatchObject({ nextOffset: topicNext });
    await publishToQueue(alice, queue, [{ payload: "good" }]);
    queueDepth += 1;
    await publishToTopic(alice, topic, [{ payload: "good" }]);
    topicNext += 1;
  });

  /** The reasons /openapi.json lists for one operation. */
  function documentedReasons(method: string, template: string): string[] {
    const operation = documented.paths[template]?.[method.toLowerCase()];
    expect(operation, `${method} ${template} in /openapi.json`).toBeDefined();
    const descriptions = Object.values(operation?.responses ?? {}).map((response) => response.description);
    return [...descriptions.join(" ").matchAll(/`([A-Z_]+)`/g)].map((match) => match[1] as string);
  }

  /** Sends a bad request; asserts the error answer and that the route documents that reason. */
  async function refused(
    reason: Reason,
    method: string,
    template: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse> {
    const path = template
      .replace("/queues/{name}", `/queues/${queue}`)
      .replace("/topics/{name}", `/topics/${topic}`);
    const answer = await alice.request(method, path, body, headers);
    expectError(answer, reason);
    expect(documentedReasons(method, template), `${method} ${template} documents ${reason}`).toContain(
      reason,
    );
    return answer;
  }

  const jsonRoutes: Array<[string, string]> = [
    ["POST", "/v1/queues"],
    ["POST", "/v1/queues/{name}/messages"],
    ["POST", "/v1/queues/{name}/receive"],
    ["POST", "/v1/queues/{name}/ack"],
    ["POST", "/v1/queues/{name}/nack"],
    ["POST", "/v1/queues/{name}/grants"],
    ["POST", "/v1/topics"],
    ["POST", "/v1/topics/{name}/messages"],
    ["POST", "/v1/topics/{name}/subscriptions"],
    ["POST", "/v1/topics/{name}/grants"],
  ];

  it("answers malformed JSON with 400 BAD_JSON on every route that takes a body", async () => {
    for (const [method, template] of jsonRoutes) {
      for (const text of ['{"payload":', "{'payload':1}", "payload=1", '{"a":1}}', "\u00ff"]) {
        await refused("BAD_JSON", method, template, text);
      }
    }
  });

  // fuzz.test.ts has the 10,000-deep payload that overflowed the stack (500); bodies here are capped at 16 KiB.
  it("answers JSON nested deeper than 64 levels with 400 VALIDATION_FAILED on every route that takes a body", async () => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    for (const [method, template] of jsonRoutes) {
      for (const text of [
        nested(5_000),
        `{"payload":${nested(64)}}`,
        `{"name":${'{"a":'.repeat(100)}1${"}".repeat(100)}}`,
      ]) {
        const answer = await refused("VALIDATION_FAILED", method, template, text);
        expect(answer.body).toMatchObject({
          error: { details: { problems: [{ path: "/", message: "JSON nested deeper than 64 levels" }] } },
        });
      }
    }
    // 64 levels in all is allowed: the body's object and a payload 63 deep.
    expect((await alice.post(`/v1/queues/${queue}/messages`, `{"payload":${nested(63)}}`)).status).toBe(201);
    queueDepth += 1;
  });

  it("answers a body that is not application/json with 415 UNSUPPORTED_MEDIA_TYPE", async () => {
    const valid = JSON.stringify({ payload: "x" });
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "application/xml"]) {
      await refused("UNSUPPORTED_MEDIA_TYPE", "POST", "/v1/queues/{name}/messages", valid, {
        "content-type": contentType,
      });
      await refused("UNSUPPORTED_MEDIA_TYPE", "POST", "/v1/topics/{name}/messages", valid, {
        "content-type": contentType,
      });
    }
    const withCharset = await alice.request("POST", `/v1/queues/${queue}/messages`, valid, {
      "content-type": "application/json; charset=utf-8",
    });
    expect(withCharset.status).toBe(201);
    queueDepth += 1;
  });

  it("answers a body over maxBodyBytes with 413 BODY_TOO_LARGE, declared or streamed", async () => {
    const messages = Array.from({ length: 3 }, () => ({ payload: "x".repeat(MAX_BODY_BYTES / 2) }));
    await refused("BODY_TOO_LARGE", "POST", "/v1/queues/{name}/messages", { messages });
    await refused("BODY_TOO_LARGE", "POST", "/v1/topics/{name}/messages", { messages });
    // Chunked: no Content-Length, so the limit is enforced while reading.
    const text = JSON.stringify({ messages });
    const streamed = await fetch(`${node.url}/v1/queues/${queue}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${alice.token}` },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < text.length; i += 1000)
            controller.enqueue(new TextEncoder().encode(text.slice(i, i + 1000)));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toMatchObject({ error: { reason: "BODY_TOO_LARGE" } });
  });

  it("answers a payload over maxPayloadBytes with 413 PAYLOAD_TOO_LARGE, counting UTF-8 bytes of its JSON", async () => {
    // A string payload's JSON is the string plus two quotes.
    const fits = "x".repeat(MAX_PAYLOAD_BYTES - 2);
    const fitsUtf8 = "é".repeat((MAX_PAYLOAD_BYTES - 2) / 2);
    expect(await publishToQueue(alice, queue, [{ payload: fits }, { payload: fitsUtf8 }])).toHaveLength(2);
    queueDepth += 2;
    expect(await publishToTopic(alice, topic, [{ payload: fits }])).toHaveLength(1);
    topicNext += 1;
    for (const payload of [`${fits}x`, `${fitsUtf8}é`, { big: fits }]) {
      await refused("PAYLOAD_TOO_LARGE", "POST", "/v1/queues/{name}/messages", { payload });
      await refused("PAYLOAD_TOO_LARGE", "POST", "/v1/topics/{name}/messages", { payload });
    }
    const mixed = { messages: [{ payload: "small" }, { payload: `${fits}x` }] };
    await refused("PAYLOAD_TOO_LARGE", "POST", "/v1/queues/{name}/messages", mixed);
    await refused("PAYLOAD_TOO_LARGE", "POST", "/v1/topics/{name}/messages", mixed);
  });

  it("answers a batch over maxBatchMessages with 413 TOO_MANY_MESSAGES and takes one at the limit", async () => {
    const batch = (count: number) => ({
      messages: Array.from({ length: count }, (_, i) => ({ payload: i })),
    });
    await refused("TOO_MANY_MESSAGES", "POST", "/v1/queues/{name}/messages", batch(MAX_BATCH_MESSAGES + 1));
    await refused("TOO_MANY_MESSAGES", "POST", "/v1/topics/{name}/messages", batch(MAX_BATCH_MESSAGES + 1));
    expect((await alice.post(`/v1/queues/${queue}/messages`, batch(MAX_BATCH_MESSAGES))).status).toBe(201);
    queueDepth += MAX_BATCH_MESSAGES;
  });

  it("answers unknown fields and wrong shapes with 400 VALIDATION_FAILED listing each problem", async () => {
    const unknown = await refused("VALIDATION_FAILED", "POST", "/v1/queues/{name}/messages", {
      payload: 1,
      priority: 9,
    });
    expect(unknown.body).toMatchObject({
      error: { details: { problems: [{ path: "/priority", message: expect.any(String) }] } },
    });
    const many = await refused("VALIDATION_FAILED", "POST", "/v1/queues", {
      name: 1,
      private: 2,
      ackTimeoutMs: "x",
      maxDeliveries: "y",
      maxLength: "z",
      messageTtlMs: "w",
      extra: true,
    });
    const problems = (many.body as { error: { details: { problems: unknown[] } } }).error.details.problems;
    expect(problems.length).toBeGreaterThan(1);
    expect(problems.length).toBeLessThanOrEqual(5);
    for (const body of [[], '"text"', "null", 5, true]) {
      await refused("VALIDATION_FAILED", "POST", "/v1/queues/{name}/messages", body);
      await refused("VALIDATION_FAILED", "POST", "/v1/topics/{name}/messages", body);
    }
    await refused("VALIDATION_FAILED", "POST", "/v1/queues/{name}/messages", {
      messages: [{ payload: 1 }],
      payload: 2,
    });
    await refused("VALIDATION_FAILED", "POST", "/v1/queues/{name}/ack", { receipts: "abc" });
    await refused("VALIDATION_FAILED", "POST", "/v1/queues/{name}/nack", {
      receipts: ["a.b.c"],
      delayMs: -1,
    });
    await refused("VALIDATION_FAILED", "POST", "/v1/queues/{name}/receive", { max: "all" });
    await refused("VALIDATION_FAILED", "POST", "/v1/queues/{name}/messages", { payload: 1, delayMs: -5 });
  });

  it("answers a path parameter that is too long or badly percent-encoded with 400 and keeps serving", async () => {
    const long = await alice.get(`/v1/queues/${"q".repeat(201)}`);
    expectError(long, "VALIDATION_FAILED");
    for (const path of ["/v1/queues/%E0%A4%A", "/v1/queues/%", "/v1/topics/%zz/messages"]) {
      const answer = await alice.get(path);
      expectError(answer, "VALIDATION_FAILED");
    }
    expectError(await alice.post("/v1/queues/%E0%A4%A/messages", { payload: 1 }), "VALIDATION_FAILED");
    const decoded = await alice.get<{ error: { message: string } }>("/v1/queues/no%2Dsuch%2Dqueue");
    expectError(decoded, "QUEUE_NOT_FOUND");
    expect(decoded.body.error.message).toContain('"no-such-queue"');
  });

  it("answers unknown routes with 404 ROUTE_NOT_FOUND", async () => {
    for (const path of [
      "/v2/queues",
      "/v1/queuez",
      `/v1/queues/${queue}/messages/1`,
      "/",
      "/v1/queues//receive",
    ]) {
      expectError(await alice.get(path), "ROUTE_NOT_FOUND");
      expectError(await new Api(node.url).post(path, {}), "ROUTE_NOT_FOUND");
    }
    // A trailing slash is not the route (uWS matches exactly), whichever method.
    expectError(await alice.get("/v1/queues/"), "ROUTE_NOT_FOUND");
  });

  it("answers a known path with an unsupported method with 405 METHOD_NOT_ALLOWED and an Allow header", async () => {
    const cases: Array<[string, string, string]> = [
      ["PUT", "/v1/queues", "GET, POST"],
      ["PATCH", `/v1/queues/${queue}`, "DELETE, GET"],
      ["GET", `/v1/queues/${queue}/receive`, "POST"],
      ["DELETE", `/v1/topics/${topic}/messages`, "GET, POST"],
      ["POST", "/healthz", "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await alice.request(method, path, method === "GET" ? undefined : {});
      expectError(answer, "METHOD_NOT_ALLOWED");
      expect((answer.headers.get("allow") ?? "").split(", ").sort().join(", "), `${method} ${path}`).toBe(
        allow,
      );
    }
  });
});
