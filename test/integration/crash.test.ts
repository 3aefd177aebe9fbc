import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { type ChildNode, spawnNode } from "../helpers/aviso-node.ts";
import { eventually } from "../helpers/eventually.ts";
import { createTestDatabase, dropTestDatabase } from "../helpers/mariadb.ts";
import { type Frame, TestSocket } from "../helpers/ws-client.ts";

/**
 * Guarantee 1 of docs/architecture.md ("The contract") against a real process: what was acknowledged
 * (REST 201, ack ok) survives kill -9 and a graceful restart, for each store.
 */

const N = 500;
const BATCH = 25;

interface Place {
  dataDir: string;
  store: string;
  cleanUp(): Promise<void>;
}

async function placeFor(kind: "sqlite" | "mysql"): Promise<Place> {
  const dataDir = await mkdtemp(join(tmpdir(), "aviso-crash-"));
  const store = kind === "sqlite" ? "sqlite:" : await createTestDatabase("crash");
  return {
    dataDir,
    store,
    async cleanUp() {
      if (kind === "mysql") await dropTestDatabase(store);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const running: ChildNode[] = [];
const places: Place[] = [];
const sockets: TestSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.ws.terminate();
  await Promise.all(running.splice(0).map((child) => child.kill("SIGKILL")));
  await Promise.all(places.splice(0).map((place) => place.cleanUp()));
});

async function start(place: Place): Promise<ChildNode> {
  const child = await spawnNode({ dataDir: place.dataDir, store: place.store });
  running.push(child);
  return child;
}

async function stop(child: ChildNode, signal: NodeJS.Signals) {
  const exit = await child.kill(signal);
  running.splice(running.indexOf(child), 1);
  return exit;
}

async function connect(url: string, token: string | undefined): Promise<TestSocket> {
  const socket = await TestSocket.connect(url, token);
  sockets.push(socket);
  return socket;
}

async function login(url: string, username: string, password: string): Promise<Api> {
  const response = await new Api(url).post<{ token: string }>("/v1/auth/login", { username, password });
  expect(response.status).toBe(200);
  return new Api(url, response.body.token);
}

/** Publishes `count` payloads in concurrent batches; returns what the 201s acknowledged, in payload order. */
async function publishAll<T>(api: Api, path: string, count: number, field: "ids" | "offsets"): Promise<T[]> {
  const batches = Array.from({ length: Math.ceil(count / BATCH) }, (_, b) =>
    Array.from({ length: Math.min(BATCH, count - b * BATCH) }, (_, i) => ({ payload: { n: b * BATCH + i } })),
  );
  const replies = await Promise.all(
    batches.map((messages) => api.post<Record<string, T[]>>(path, { messages })),
  );
  for (const reply of replies) expect(reply.status).toBe(201);
  return replies.flatMap((reply) => reply.body[field] as T[]);
}

/**
 * Keeps single publishes going on `lanes` concurrent loops until the process dies;
 * resolves with the results of those that were answered 201.
 */
function publishUntilDeath<T>(api: Api, path: string, field: "id" | "offset", lanes = 8) {
  const acknowledged: T[] = [];
  let sent = 0;
  const lane = async () => {
    for (;;) {
      let response: Awaited<ReturnType<typeof api.post<Record<string, T[]>>>>;
      try {
        response = await api.post<Record<string, T[]>>(path, { payload: { pressure: sent++ } });
      } catch {
        return; // connection refused or reset: the node is gone
      }
      if (response.status !== 201) return;
      const values = response.body[`${field}s`] ?? [];
      acknowledged.push(...values);
    }
  };
  const done = Promise.all(Array.from({ length: lanes }, lane)).then(() => acknowledged);
  return { acknowledged, done };
}

const messageOf = (sub: string) => (frame: Frame) => frame.op === "message" && frame.sub === sub;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe.each(["sqlite", "mysql"] as const)("crash and restart on %s", (kind) => {
  it("keeps every acknowledged queue message and topic offset through kill -9", async () => {
    const place = await placeFor(kind);
    places.push(place);
    let child = await start(place);
    const { username, password, api } = await newUser(child.url);
    const queue = uniqueName("q");
    const topic = uniqueName("t");
    expect((await api.post("/v1/queues", { name: queue, ackTimeoutMs: 600_000 })).status).toBe(201);
    expect((await api.post("/v1/topics", { name: topic })).status).toBe(201);

    const ids = await publishAll<string>(api, `/v1/queues/${queue}/messages`, N, "ids");
    const offsets = await publishAll<number>(api, `/v1/topics/${topic}/messages`, N, "offsets");
    expect(new Set(ids).size).toBe(N);
    expect([...offsets].sort((a, b) => a - b)).toEqual(range(0, N));

    // Receive 100 without acking, then ack 40 of them (the ok comes after the ack is committed).
    const consumer = await connect(child.wsUrl, api.token);
    const sub = (await consumer.request({ op: "subscribe", id: "s", queue, prefetch: 100 })).sub as string;
    const delivered = (await consumer.collect(messageOf(sub), 100)).map((frame) => frame.id as string);
    const acked = delivered.slice(0, 40);
    const inFlight = delivered.slice(40);
    expect(await consumer.request({ op: "ack", id: "a", sub, ids: acked })).toMatchObject({
      op: "ok",
      acked: 40,
      stale: [],
    });

    // Publishes still arriving when the node dies: each one answered 201 must survive.
    const queuePressure = publishUntilDeath<string>(api, `/v1/queues/${queue}/messages`, "id");
    const topicPressure = publishUntilDeath<number>(api, `/v1/topics/${topic}/messages`, "offset");
    await eventually(
      () => {
        expect(queuePressure.acknowledged.length).toBeGreaterThanOrEqual(20);
        expect(topicPressure.acknowledged.length).toBeGreaterThanOrEqual(20);
      },
      { timeoutMs: 10_000 },
    );
    expect((await stop(child, "SIGKILL")).signal).toBe("SIGKILL");
    const lateIds = await queuePressure.done;
    const lateOffsets = await topicPressure.done;

    child = await start(place);
    const after = await login(child.url, username, password);

    // Queue: everything acknowledged and not acked is there; the acked 40 are gone.
    const expectedIds = new Set([...ids, ...lateIds]);
    for (const id of acked) expectedIds.delete(id);
    const view = await after.get<{ depth: number; inFlight: number }>(`/v1/queues/${queue}`);
    expect(view.body.inFlight).toBe(0);
    // Publishes committed but cut off before their 201 may be there too: at least, never fewer.
    expect(view.body.depth).toBeGreaterThanOrEqual(expectedIds.size);
    const restarted = await connect(child.wsUrl, after.token);
    const again = (await restarted.request({ op: "subscribe", id: "s", queue, prefetch: 10_000 }))
      .sub as string;
    const redelivered = await restarted.collect(messageOf(again), view.body.depth, 20_000);
    const redeliveredIds = redelivered.map((frame) => frame.id as string);
    expect(new Set(redeliveredIds).size).toBe(redeliveredIds.length);
    for (const id of expectedIds) expect(redeliveredIds).toContain(id);
    for (const id of acked) expect(redeliveredIds).not.toContain(id);
    // At-least-once: the 60 that were in flight are delivered again (their persisted delivery
    // count may not include the delivery the crash interrupted, so only >= 1 is promised).
    for (const id of inFlight) expect(redeliveredIds).toContain(id);
    expect(redelivered.every((frame) => (frame.deliveries as number) >= 1)).toBe(true);

    // Topic: every acknowledged offset is readable, and the log has no holes.
    const head = await after.get<{ nextOffset: number; firstOffset: number }>(`/v1/topics/${topic}`);
    const maxAcknowledged = Math.max(...offsets, ...lateOffsets);
    expect(head.body.firstOffset).toBe(0);
    expect(head.body.nextOffset).toBeGreaterThan(maxAcknowledged);
    const reader = await connect(child.wsUrl, after.token);
    const tsub = (await reader.request({ op: "subscribe", id: "t", topic, from: 0 })).sub as string;
    const replayed = await reader.waitFor((frame) => frame.op === "replayed", 20_000);
    expect(replayed).toMatchObject({ from: 0, to: head.body.nextOffset, complete: true });
    const history = reader.messagesFor(tsub);
    expect(history.map((frame) => frame.offset)).toEqual(range(0, head.body.nextOffset));
    expect(
      history
        .slice(0, N)
        .map((frame) => (frame.payload as { n: number }).n)
        .sort((a, b) => a - b),
    ).toEqual(range(0, N));
  });

  it("closes WebSockets with 1001 on SIGTERM, exits 0 and keeps what it acknowledged", async () => {
    const place = await placeFor(kind);
    places.push(place);
    let child = await start(place);
    const { username, password, api } = await newUser(child.url);
    const queue = uniqueName("q");
    const topic = uniqueName("t");
    await api.post("/v1/queues", { name: queue });
    await api.post("/v1/topics", { name: topic });
    const queueSubscriber = await connect(child.wsUrl, api.token);
    const topicSubscriber = await connect(child.wsUrl, api.token);
    await queueSubscriber.request({ op: "subscribe", id: 1, queue, prefetch: 1 });
    await topicSubscriber.request({ op: "subscribe", id: 1, topic });

    const last = await api.post<{ ids: string[] }>(`/v1/queues/${queue}/messages`, {
      payload: "just before",
    });
    expect(last.status).toBe(201);
    // More publishes racing the signal: each is either refused or kept.
    const racing = Array.from({ length: 40 }, (_, i) =>
      api.post<{ offsets: number[] }>(`/v1/topics/${topic}/messages`, { payload: i }).catch(() => undefined),
    );
    const exit = stop(child, "SIGTERM");
    for (const socket of [queueSubscriber, topicSubscriber]) {
      const closed = await socket.closed;
      expect(closed.code).toBe(1001);
      expect(socket.frames.at(-1)).toMatchObject({ op: "error", reason: "SHUTTING_DOWN" });
    }
    expect(await exit).toEqual({ code: 0, signal: null });
    const raced = await Promise.all(racing);
    const keptOffsets = raced.flatMap((reply) => (reply?.status === 201 ? reply.body.offsets : []));

    child = await start(place);
    const after = await login(child.url, username, password);
    const received = await after.post<{ messages: Array<{ id: string; payload: unknown }> }>(
      `/v1/queues/${queue}/receive`,
      { max: 10 },
    );
    expect(received.body.messages.map((message) => message.id)).toContain(last.body.ids[0]);
    expect(received.body.messages.find((message) => message.id === last.body.ids[0])?.payload).toBe(
      "just before",
    );
    const head = await after.get<{ nextOffset: number }>(`/v1/topics/${topic}`);
    for (const offset of keptOffsets) expect(offset).toBeLessThan(head.body.nextOffset);
    expect(await stop(child, "SIGTERM")).toEqual({ code: 0, signal: null });
  });
});
