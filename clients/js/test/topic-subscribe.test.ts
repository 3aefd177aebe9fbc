import { describe, expect, it } from "vitest";
import type { ConnectionStatus, RetentionGap, TopicMessage } from "../src/index.ts";
import { eventually, take, uniqueName, useNode, userClient } from "./helpers/clients.ts";
import { TcpProxy } from "./helpers/tcp-proxy.ts";

const { node } = useNode();

async function topicOf(settings: Parameters<import("../src/index.ts").TopicsApi["create"]>[1] = {}) {
  const user = await userClient(node().url);
  const topic = uniqueName("topic");
  await user.client.topics.create(topic, settings);
  return { ...user, topic };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => from + index);

describe("topic subscriptions", () => {
  it("replay from `earliest` or an offset, then go live, through the iterator and callbacks alike", async () => {
    const { client, topic } = await topicOf();
    await client.topics.publishBatch(topic, [
      { payload: 0, key: "orders.eu.created" },
      { payload: 1, key: "orders.us.created" },
      { payload: 2, key: "users.eu.created" },
    ]);
    const earliest = client.topics.subscribe<number>(topic, {
      from: "earliest",
      pattern: "orders.*.created",
    });
    const viaCallback: number[] = [];
    const fromOne = client.topics.subscribe<number>(topic, {
      from: 1,
      onMessage: (m) => void viaCallback.push(m.offset),
    });
    await Promise.all([earliest.ready(), fromOne.ready()]);
    await client.topics.publish(topic, 3, { key: "orders.eu.created" });
    const messages = await take(earliest, 3);
    expect(messages.map((message) => [message.offset, message.key, message.payload])).toEqual([
      [0, "orders.eu.created", 0],
      [1, "orders.us.created", 1],
      [3, "orders.eu.created", 3],
    ]);
    expect(messages[0]).toMatchObject({ topic, publishedAt: expect.any(Number) });
    await eventually(() => expect(viaCallback).toEqual([1, 2, 3]));
    expect(earliest.position).toBe(4);
  });

  it("start at the topic's next offset by default, so only new messages arrive", async () => {
    const { client, topic } = await topicOf();
    await client.topics.publish(topic, "old");
    const subscription = client.topics.subscribe(topic);
    await subscription.ready();
    expect(subscription.position).toBe(1);
    await client.topics.publish(topic, "new");
    const [message] = await take(subscription, 1);
    expect(message).toMatchObject({ offset: 1, payload: "new" });
  });

  it("refuse a second live subscription to the same topic and pattern on one client", async () => {
    const { client, topic } = await topicOf();
    client.topics.subscribe(topic, { pattern: "a.#" });
    expect(() => client.topics.subscribe(topic, { pattern: "a.#" })).toThrow(
      expect.objectContaining({ reason: "SUBSCRIPTION_ID_IN_USE" }),
    );
    const other = client.topics.subscribe(topic, { pattern: "b.#" });
    await other.ready();
    const missing = client.topics.subscribe(uniqueName("nope"));
    await expect(missing.ready()).rejects.toMatchObject({ reason: "TOPIC_NOT_FOUND" });
  });

  it("resume from the last offset after the socket is cut, with no gap and no duplicate, while a publisher keeps publishing", async () => {
    const { client: publisher, topic } = await topicOf();
    const proxy = await TcpProxy.start(node().url);
    try {
      const { client: subscriber } = await userClient(proxy.url, { reconnect: { initialDelayMs: 20 } });
      const statuses: ConnectionStatus[] = [];
      subscriber.on("status", (status) => void statuses.push(status));
      const offsets: number[] = [];
      const subscription = subscriber.topics.subscribe(topic, {
        onMessage: (m) => void offsets.push(m.offset),
      });
      await subscription.ready();
      const total = 150;
      let published = 0;
      const publishing = (async () => {
        for (; published < total; published++) await publisher.topics.publish(topic, { n: published });
      })();
      for (const cutAt of [40, 90]) {
        await eventually(() => expect(offsets.length).toBeGreaterThanOrEqual(cutAt), { timeoutMs: 10_000 });
        expect(proxy.dropAll()).toBeGreaterThan(0);
      }
      await publishing;
      await eventually(() => expect(offsets).toHaveLength(total), { timeoutMs: 10_000 });
      expect(offsets).toEqual(range(0, total));
      const disconnects = statuses.filter((status) => status.state === "disconnected");
      expect(disconnects).toHaveLength(2);
      expect(disconnects[0]).toMatchObject({ reason: "network-error", code: 1006 });
      expect(statuses.filter((status) => status.state === "connected")).toHaveLength(3);
      expect(statuses.at(-1)).toMatchObject({ state: "connected", url: proxy.url });
    } finally {
      await proxy.close();
    }
  });

  it("report a retention gap with a typed `gap` event, on first subscribe and after a reconnect", async () => {
    const { client, topic } = await topicOf({ retention: { maxMessages: 3 } });
    await client.topics.publishBatch(
      topic,
      range(0, 6).map((n) => ({ payload: n })),
    );
    await eventually(async () => expect((await client.topics.get(topic)).firstOffset).toBe(3), {
      timeoutMs: 5000,
    });
    const gaps: RetentionGap[] = [];
    const fromZero = client.topics.subscribe<number>(topic, { from: 0, onGap: (gap) => void gaps.push(gap) });
    const replay = await take(fromZero, 3);
    expect(replay.map((message) => message.offset)).toEqual([3, 4, 5]);
    expect(gaps).toEqual([{ topic, from: 0, to: 6 }]);
    await fromZero.close();

    const proxy = await TcpProxy.start(node().url);
    try {
      const { client: subscriber } = await userClient(proxy.url, {
        reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
      });
      const afterReconnect: RetentionGap[] = [];
      const received: TopicMessage[] = [];
      const live = subscriber.topics.subscribe(topic, {
        onGap: (gap) => void afterReconnect.push(gap),
        onMessage: (message) => void received.push(message),
      });
      await live.ready();
      await client.topics.publish(topic, 6);
      await eventually(() => expect(received.map((message) => message.offset)).toEqual([6]));
      proxy.refuseConnections = true;
      proxy.dropAll();
      await client.topics.publishBatch(
        topic,
        range(7, 12).map((n) => ({ payload: n })),
      );
      await eventually(async () => expect((await client.topics.get(topic)).firstOffset).toBe(9), {
        timeoutMs: 5000,
      });
      proxy.refuseConnections = false;
      await eventually(() => expect(received.map((message) => message.offset)).toEqual([6, 9, 10, 11]), {
        timeoutMs: 5000,
      });
      expect(afterReconnect).toEqual([{ topic, from: 7, to: 12 }]);
    } finally {
      await proxy.close();
    }
  });

  it("expose connection states as a discriminated union, also as an async iterator", async () => {
    const { client, topic } = await topicOf();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const status of client.statusChanges()) {
        if (status.state === "connected") seen.push(`connected as ${status.username}`);
        else if (status.state === "closed") seen.push(`closed: ${status.reason}`);
        else seen.push(status.state);
      }
    })();
    expect(client.connectionStatus).toEqual({ state: "idle" });
    await client.topics.subscribe(topic).ready();
    expect(client.connectionStatus.state).toBe("connected");
    await client.close();
    await watching;
    expect(seen[0]).toBe("connecting");
    expect(seen[1]).toMatch(/^connected as sdk-/);
    expect(seen.at(-1)).toBe("closed: client-closed");
  });
});
