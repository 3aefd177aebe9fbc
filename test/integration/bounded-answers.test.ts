import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import {
  createQueue,
  createTopic,
  getQueue,
  history,
  publishToQueue,
  publishToTopic,
  receive,
} from "../helpers/broker-api.ts";
import { startNodeOn } from "../helpers/stores.ts";

const RESPONSE_BYTES = 8192;

describe("bounded answers", () => {
  let node: TestNode;
  let alice: Api;
  let bob: Api;

  beforeAll(async () => {
    node = await startNodeOn("sqlite", {
      env: { AVISO_MAX_RESPONSE_BYTES: String(RESPONSE_BYTES), AVISO_MAX_PAYLOAD_BYTES: "65536" },
    });
    ({ api: alice } = await newUser(node.url, "alice"));
    ({ api: bob } = await newUser(node.url, "bob"));
  });
  afterAll(async () => {
    await node?.close();
  });

  it("a receive stops before maxResponseBytes and leases only what it returns", async () => {
    const queue = await createQueue(alice);
    const payload = "p".repeat(3000);
    await publishToQueue(
      alice,
      queue.name,
      Array.from({ length: 5 }, () => ({ payload })),
    );
    const first = await alice.post<{ messages: unknown[] }>(`/v1/queues/${queue.name}/receive`, { max: 5 });
    expect(first.status).toBe(200);
    expect(first.body.messages.length).toBeGreaterThan(0);
    expect(first.body.messages.length).toBeLessThan(5);
    expect(JSON.stringify(first.body).length).toBeLessThanOrEqual(RESPONSE_BYTES);
    const returned = first.body.messages.length;
    expect(await getQueue(alice, queue.name)).toMatchObject({ inFlight: returned, depth: 5 - returned });
    // What was not returned is still there for others.
    const rest = await receive(alice, queue.name, { max: 1 });
    expect(rest).toHaveLength(1);
  });

  it("a receive returns one message bigger than maxResponseBytes alone", async () => {
    const queue = await createQueue(alice);
    const big = "b".repeat(RESPONSE_BYTES * 2);
    await publishToQueue(alice, queue.name, [{ payload: big }, { payload: big }]);
    const got = await receive(alice, queue.name, { max: 10 });
    expect(got).toHaveLength(1);
    expect(await getQueue(alice, queue.name)).toMatchObject({ inFlight: 1, depth: 1 });
  });

  it("a long-polling receive served by a later publish is bounded too", async () => {
    const queue = await createQueue(alice);
    const waiting = receive(bob, queue.name, { max: 5, waitMs: 10_000 });
    // Whether the publish lands before or after the receive waits, the page is bounded the same.
    const payload = "w".repeat(3000);
    await publishToQueue(
      alice,
      queue.name,
      Array.from({ length: 5 }, () => ({ payload })),
    );
    const got = await waiting;
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(5);
    expect(await getQueue(alice, queue.name)).toMatchObject({ inFlight: got.length });
  });

  it("a history page stops before maxResponseBytes; the next page goes on from there", async () => {
    const topic = await createTopic(alice);
    const payload = "h".repeat(3000);
    await publishToTopic(
      alice,
      topic.name,
      Array.from({ length: 5 }, () => ({ payload })),
    );
    const page = await alice.get<{ messages: Array<{ offset: number }> }>(
      `/v1/topics/${topic.name}/messages?from=0&limit=5`,
    );
    expect(page.status).toBe(200);
    expect(page.body.messages.length).toBeGreaterThan(0);
    expect(page.body.messages.length).toBeLessThan(5);
    expect(JSON.stringify(page.body).length).toBeLessThanOrEqual(RESPONSE_BYTES);
    const last = page.body.messages.at(-1)?.offset as number;
    const next = await history(alice, topic.name, `?from=${last + 1}&limit=5`);
    expect(next.messages[0]?.offset).toBe(last + 1);
  });
});
