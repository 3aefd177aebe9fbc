import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import {
  createQueue,
  createTopic,
  getQueue,
  getTopic,
  publishToQueue,
  publishToTopic,
} from "../helpers/broker-api.ts";
import { expectError } from "../helpers/expect-error.ts";
import { TestSocket } from "../helpers/ws-client.ts";

describe("what a publisher controls (S6, S8)", () => {
  let node: TestNode;
  let alice: Api;
  let bob: Api;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    node = await startTestNode();
    alice = (await newUser(node.url, "alice")).api;
    bob = (await newUser(node.url, "bob")).api;
  });
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.close()));
  });
  afterAll(async () => {
    await node?.close();
  });

  async function connect(api: Api): Promise<TestSocket> {
    const socket = await TestSocket.connect(node.wsUrl, api.token);
    sockets.push(socket);
    return socket;
  }

  describe("idempotency keys belong to their publisher (S6)", () => {
    const targets = [
      {
        kind: "queue",
        create: async (api: Api) => (await createQueue(api)).name,
        publish: publishToQueue as (api: Api, name: string, messages: unknown[]) => Promise<unknown[]>,
        stored: async (name: string) => (await getQueue(alice, name)).depth,
      },
      {
        kind: "topic",
        create: async (api: Api) => (await createTopic(api)).name,
        publish: publishToTopic as (api: Api, name: string, messages: unknown[]) => Promise<unknown[]>,
        stored: async (name: string) => (await getTopic(alice, name)).nextOffset,
      },
    ];

    it.each(targets)(
      "$kind, REST: another user's publish with the same key is stored; the first user's repeat is not",
      async ({ create, publish, stored }) => {
        const name = await create(alice);
        const [first] = await publish(alice, name, [{ payload: "a", idempotencyKey: "k" }]);
        const [bobs] = await publish(bob, name, [{ payload: "b", idempotencyKey: "k" }]);
        expect(bobs).not.toBe(first);
        expect(await publish(alice, name, [{ payload: "a", idempotencyKey: "k" }])).toEqual([first]);
        const batch = await publish(bob, name, [
          { payload: "b", idempotencyKey: "k" },
          { payload: "c", idempotencyKey: "k2" },
        ]);
        expect(batch[0]).toBe(bobs);
        expect(await stored(name)).toBe(3);
      },
    );

    it("WebSocket publishes to a queue and a topic are scoped the same way", async () => {
      const queue = await createQueue(alice);
      const topic = await createTopic(alice);
      const [queued] = await publishToQueue(alice, queue.name, [{ payload: "a", idempotencyKey: "k" }]);
      const [offset] = await publishToTopic(alice, topic.name, [{ payload: "a", idempotencyKey: "k" }]);
      let id = 0;
      const publishWithK = (socket: TestSocket, target: Record<string, string>, payload: string) =>
        socket.request({ op: "publish", id: ++id, ...target, payload, idempotencyKey: "k" });
      const socket = await connect(bob);
      const toQueue = await publishWithK(socket, { queue: queue.name }, "b");
      const toTopic = await publishWithK(socket, { topic: topic.name }, "b");
      expect(toQueue).toMatchObject({ op: "ok", messageId: expect.any(String) });
      expect(toQueue.messageId).not.toBe(queued);
      expect(toTopic).toMatchObject({ op: "ok", offset: expect.any(Number) });
      expect(toTopic.offset).not.toBe(offset);
      const again = await publishWithK(await connect(alice), { queue: queue.name }, "a");
      expect(again).toMatchObject({ op: "ok", messageId: queued });
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 2 });
    });
  });

  describe("reserved headers (S8)", () => {
    const reserved = [{ "aviso-topic": "forged" }, { "Aviso-Dead-Letter-Queue": "x" }, { "AVISO-": "" }];

    it("refuses a REST publish setting an aviso-* header with 400 RESERVED_HEADER, storing no part of a batch", async () => {
      const queue = await createQueue(alice);
      const topic = await createTopic(alice);
      for (const headers of reserved) {
        const single = { payload: 1, headers };
        const batch = { messages: [{ payload: 0 }, { payload: 1, headers }] };
        for (const body of [single, batch]) {
          expectError(await alice.post(`/v1/queues/${queue.name}/messages`, body), "RESERVED_HEADER");
          expectError(await alice.post(`/v1/topics/${topic.name}/messages`, body), "RESERVED_HEADER");
        }
      }
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0 });
      expect(await getTopic(alice, topic.name)).toMatchObject({ nextOffset: 0 });
    });

    it("refuses a WebSocket publish setting one with an error frame and stores nothing", async () => {
      const queue = await createQueue(alice);
      const topic = await createTopic(alice);
      const socket = await connect(alice);
      let id = 0;
      for (const headers of reserved) {
        for (const target of [{ queue: queue.name }, { topic: topic.name }]) {
          const reply = await socket.request({ op: "publish", id: ++id, ...target, payload: 1, headers });
          expect(reply).toMatchObject({ op: "error", code: "invalid_argument", reason: "RESERVED_HEADER" });
        }
      }
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0 });
      expect(await getTopic(alice, topic.name)).toMatchObject({ nextOffset: 0 });
    });

    it("accepts headers that only contain or resemble the prefix", async () => {
      const queue = await createQueue(alice);
      const headers = { "x-aviso-trace": "1", avisoTopic: "2", aviso_x: "3" };
      await publishToQueue(alice, queue.name, [{ payload: 1, headers }]);
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 1 });
    });
  });
});
