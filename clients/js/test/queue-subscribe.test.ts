import { describe, expect, it } from "vitest";
import type { QueueMessage } from "../src/index.ts";
import { eventually, take, uniqueName, useNode, userClient } from "./helpers/clients.ts";
import { TcpProxy } from "./helpers/tcp-proxy.ts";

const { node } = useNode();

async function queueWithMessages(count: number) {
  const user = await userClient(node().url);
  const queue = uniqueName("push");
  await user.client.queues.create(queue);
  if (count > 0) {
    await user.client.queues.publishBatch(
      queue,
      Array.from({ length: count }, (_, n) => ({ payload: { n } })),
    );
  }
  return { ...user, queue };
}

describe("queue subscriptions", () => {
  it("hold at most `prefetch` un-acked messages; an ack lets the next one through", async () => {
    const { client, queue } = await queueWithMessages(5);
    const received: QueueMessage[] = [];
    const subscription = client.queues.subscribe(queue, {
      prefetch: 2,
      onMessage: (m) => void received.push(m),
    });
    await subscription.ready();
    await eventually(() => expect(received).toHaveLength(2));
    // The node agrees: two in flight, three waiting — so nothing more is on its way.
    await eventually(async () =>
      expect(await client.queues.get(queue)).toMatchObject({ inFlight: 2, depth: 3 }),
    );
    expect(received).toHaveLength(2);
    expect(await received[0]?.ack()).toBe("done");
    await eventually(() => expect(received).toHaveLength(3));
    expect(received.map((message) => message.payload)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(await received[0]?.ack()).toBe("stale"); // settled already: nothing sent
    await Promise.all(received.slice(1).map((message) => message.ack()));
    await eventually(() => expect(received).toHaveLength(5));
    await Promise.all(received.slice(3).map((message) => message.ack()));
    await eventually(async () =>
      expect(await client.queues.get(queue)).toMatchObject({ inFlight: 0, depth: 0 }),
    );
  });

  it("deliver to an async iterator; autoAck acks each message when the loop asks for the next", async () => {
    const { client, queue } = await queueWithMessages(3);
    const subscription = client.queues.subscribe<{ n: number }>(queue, { prefetch: 1, autoAck: true });
    const seen: number[] = [];
    for await (const message of subscription) {
      seen.push(message.payload.n);
      expect(message).toMatchObject({ queue, deliveries: 1 });
      if (seen.length === 3) break; // leaving the loop leaves this one un-acked and closes the subscription
    }
    expect(seen).toEqual([0, 1, 2]);
    expect(subscription.state).toBe("closed");
    // Two were acked by the loop; the third went back to the queue when the loop ended.
    await eventually(async () =>
      expect(await client.queues.get(queue)).toMatchObject({ inFlight: 0, depth: 1 }),
    );
    const [again] = await client.queues.receive(queue);
    expect(again).toMatchObject({ payload: { n: 2 }, deliveries: 2 });
  });

  it("autoAck with a callback acks after the handler resolves and nacks when it throws", async () => {
    const { client, queue } = await queueWithMessages(0);
    const attempts: Array<[number, number]> = [];
    const subscription = client.queues.subscribe<{ n: number }>(queue, {
      autoAck: true,
      onMessage: async (message) => {
        attempts.push([message.payload.n, message.deliveries]);
        if (message.payload.n === 1 && message.deliveries === 1) throw new Error("fail once");
      },
    });
    await subscription.ready();
    await client.queues.publishBatch(queue, [{ payload: { n: 0 } }, { payload: { n: 1 } }]);
    await eventually(() => expect(attempts).toContainEqual([1, 2]));
    expect(attempts.slice(0, 2)).toEqual([
      [0, 1],
      [1, 1],
    ]);
    await eventually(async () =>
      expect(await client.queues.get(queue)).toMatchObject({ inFlight: 0, depth: 0 }),
    );
  });

  it("nack with a delay redelivers later, counted in `deliveries`", async () => {
    const { client, queue } = await queueWithMessages(1);
    const subscription = client.queues.subscribe(queue);
    const [first] = await take(subscription, 1);
    const nackedAt = Date.now();
    expect(await first?.nack({ delayMs: 300 })).toBe("done");
    const [second] = await take(subscription, 1);
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(250);
    expect(second).toMatchObject({ id: first?.id, deliveries: 2 });
    expect(await second?.ack()).toBe("done");
  });

  it("callbacks and the iterator see the same messages; the ok comes before any message", async () => {
    const { client, queue } = await queueWithMessages(2);
    const viaCallback: unknown[] = [];
    const subscription = client.queues.subscribe(queue);
    subscription.on("message", (message) => void viaCallback.push(message.payload));
    const viaIterator = await take(subscription, 2);
    expect(viaIterator.map((message) => message.payload)).toEqual([{ n: 0 }, { n: 1 }]);
    expect(viaCallback).toEqual([{ n: 0 }, { n: 1 }]);
    await subscription.close();
    expect(subscription.state).toBe("closed");
  });

  it("fails with QUEUE_NOT_FOUND for a missing queue, and ends when the queue is deleted", async () => {
    const { client, queue } = await queueWithMessages(0);
    const missing = client.queues.subscribe(uniqueName("missing"));
    await expect(missing.ready()).rejects.toMatchObject({ reason: "QUEUE_NOT_FOUND" });
    const errors: string[] = [];
    const subscription = client.queues.subscribe(queue, { onMessage: () => {} });
    subscription.on("error", (error) => void errors.push(String(error.reason)));
    await subscription.ready();
    await client.queues.delete(queue);
    await eventually(() => expect(subscription.state).toBe("closed"));
    expect(errors).toEqual(["QUEUE_NOT_FOUND"]);
  });

  it("re-subscribe after the socket drops; un-acked messages come again (at-least-once)", async () => {
    const proxy = await TcpProxy.start(node().url);
    try {
      const { client, queue } = await queueWithMessages(0);
      const states: string[] = [];
      client.on("status", (status) => void states.push(status.state));
      const received: QueueMessage<{ n: number }>[] = [];
      // The subscriber (another user: the queue is public) goes through the proxy; the publisher does not.
      const socketClient = (await userClient(proxy.url)).client;
      const subscription = socketClient.queues.subscribe<{ n: number }>(queue, {
        prefetch: 10,
        onMessage: (message) => void received.push(message),
      });
      let resubscribed = 0;
      subscription.on("subscribed", (event) => void (event.resubscribed && resubscribed++));
      await subscription.ready();
      await client.queues.publishBatch(queue, [{ payload: { n: 0 } }, { payload: { n: 1 } }]);
      await eventually(() => expect(received).toHaveLength(2));
      expect(await received[0]?.ack()).toBe("done");
      expect(proxy.dropAll()).toBeGreaterThan(0);
      await eventually(() => expect(resubscribed).toBe(1));
      // n=1 was in flight when the socket died: it is delivered again, marked as such.
      await eventually(() => expect(received).toHaveLength(3));
      expect(received[2]).toMatchObject({ payload: { n: 1 }, deliveries: 2 });
      expect(await received[1]?.ack()).toBe("stale"); // its socket is gone
      expect(await received[2]?.ack()).toBe("done");
      await client.queues.publish(queue, { n: 2 });
      await eventually(() => expect(received.map((message) => message.payload.n)).toEqual([0, 1, 1, 2]));
      expect(states).toEqual([]); // the publisher never needed its socket
    } finally {
      await proxy.close();
    }
  });
});
