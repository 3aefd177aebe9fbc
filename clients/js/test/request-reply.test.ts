import { describe, expect, it } from "vitest";
import { eventually, uniqueName, useNode, userClient } from "./helpers/clients.ts";

const { node } = useNode();

describe("request/reply", () => {
  it("answers a request through a private reply queue, across users, and deletes it on close", async () => {
    const service = await userClient(node().url);
    const caller = await userClient(node().url);
    const queue = uniqueName("rpc");
    await service.client.queues.create(queue);
    const server = service.client.serve<{ a: number; b: number }, number>(queue, ({ a, b }, message) => {
      expect(message.headers?.["correlation-id"]).toMatch(/^[0-9a-f-]{36}$/);
      return a + b;
    });
    await server.ready();
    // The server hides the queue's creator from other users, so the caller names the responder.
    await expect(caller.client.request<number>(queue, { a: 0, b: 0 })).rejects.toMatchObject({
      reason: "INVALID_ARGUMENT",
    });
    const replyFrom = [service.username];
    const answers = await Promise.all([
      caller.client.request<number>(queue, { a: 1, b: 2 }, { replyFrom }),
      caller.client.request<number>(queue, { a: 20, b: 22 }, { replyFrom }),
    ]);
    expect(answers).toEqual([3, 42]);
    const replyQueues = (await caller.client.queues.list()).items.filter((queue) =>
      queue.name.startsWith("reply-"),
    );
    expect(replyQueues).toHaveLength(1);
    expect(replyQueues[0]).toMatchObject({ creator: caller.username, owner: caller.username, private: true });
    // Only the named responder was granted the right to publish replies.
    expect((await caller.client.queues.grants(replyQueues[0]?.name as string)).items).toEqual([
      expect.objectContaining({ username: service.username, permissions: ["publish"] }),
    ]);
    await caller.client.close();
    await expect(service.client.queues.get(replyQueues[0]?.name as string)).rejects.toMatchObject({
      reason: "QUEUE_NOT_FOUND",
    });
    await eventually(async () =>
      expect(await service.client.queues.get(queue)).toMatchObject({ depth: 0, inFlight: 0 }),
    );
  });

  it("rejects with HANDLER_FAILED when the handler throws, and with TIMEOUT when nobody answers", async () => {
    const { client } = await userClient(node().url);
    const failing = uniqueName("failing");
    const silent = uniqueName("silent");
    await client.queues.create(failing);
    await client.queues.create(silent);
    await client
      .serve(failing, () => {
        throw new Error("no stock for item 7");
      })
      .ready();
    await expect(client.request(failing, { item: 7 })).rejects.toMatchObject({
      reason: "HANDLER_FAILED",
      message: "no stock for item 7",
    });
    const started = Date.now();
    await expect(client.request(silent, "anyone?", { timeoutMs: 300 })).rejects.toMatchObject({
      reason: "TIMEOUT",
      code: "deadline_exceeded",
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await expect(client.request(uniqueName("missing"), 1)).rejects.toMatchObject({
      reason: "QUEUE_NOT_FOUND",
    });
  });
});
