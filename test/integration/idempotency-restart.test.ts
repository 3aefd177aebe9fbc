import { describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { childNodesPerTest } from "../helpers/aviso-node.ts";
import {
  createQueue,
  createTopic,
  drain,
  history,
  publishToQueue,
  publishToTopic,
} from "../helpers/broker-api.ts";

/**
 * Idempotency keys are stored with the messages they produced, and a node that
 * loads a queue or topic from the store honours them: a client retrying after
 * the node restarted gets the first answer, and the message is stored once.
 */
describe("idempotency keys across a restart", () => {
  const nodes = childNodesPerTest();

  it("answers a retry after kill -9 and restart with the first id and offset, storing each message once", async () => {
    const dataDir = await nodes.tempDir();
    const first = await nodes.spawn({ dataDir });
    const { username, password, api } = await newUser(first.url);
    const queue = (await createQueue(api)).name;
    const topic = (await createTopic(api)).name;
    const [id] = await publishToQueue(api, queue, [{ payload: "once", idempotencyKey: "order-1" }]);
    const [offset] = await publishToTopic(api, topic, [{ payload: "once", idempotencyKey: "order-1" }]);
    await first.kill("SIGKILL");

    const second = await nodes.spawn({ dataDir });
    const login = await new Api(second.url).post<{ token: string }>("/v1/auth/login", { username, password });
    expect(login.status).toBe(200);
    const again = new Api(second.url, login.body.token);
    expect(await publishToQueue(again, queue, [{ payload: "once", idempotencyKey: "order-1" }])).toEqual([
      id,
    ]);
    expect(await publishToTopic(again, topic, [{ payload: "once", idempotencyKey: "order-1" }])).toEqual([
      offset,
    ]);
    // A new key still publishes, after the one restored.
    await publishToQueue(again, queue, [{ payload: "next", idempotencyKey: uniqueName("k") }]);
    expect((await drain(again, queue)).map((m) => m.payload)).toEqual(["once", "next"]);
    expect((await history(again, topic)).messages.map((m) => m.payload)).toEqual(["once"]);
  });
});
