import { describe, expect, it } from "vitest";
import type { Principal } from "../../src/app/context.ts";
import type { Services } from "../../src/app/services.ts";
import { PublishBatches, type PublishTarget } from "../../src/edge/ws/publish-batches.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";

interface Call {
  principal: Principal;
  name: string;
  messages: string[];
}

/** A target whose publish records each call and answers `name:message` per message, or what `answer` says. */
function recordingTarget(kind: string, answer?: (messages: string[]) => Error | undefined) {
  const calls: Call[] = [];
  const target: PublishTarget<string, string> = {
    kind,
    publish: async (_services, principal, name, messages) => {
      calls.push({ principal, name, messages: [...messages] });
      const error = answer?.(messages);
      if (error !== undefined) throw error;
      return messages.map((message) => `${name}:${message}`);
    },
    ok: (result) => ({ result }),
  };
  return { target, calls };
}

const alice = { username: "alice" } as Principal;
const services = {} as Services;

function batches(maxMessages = 1000) {
  const frames: Record<string, unknown>[] = [];
  const publishes = new PublishBatches(services, (frame) => frames.push(JSON.parse(frame)), maxMessages);
  return { publishes, frames };
}

/** Past the turn that gathers, and past the answers' promise callbacks. */
async function settled(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("a socket's publishes gathered per turn", () => {
  it("sends one turn's publishes to one queue as one batch, in order, and answers each frame by its id", async () => {
    const { target, calls } = recordingTarget("queue");
    const { publishes, frames } = batches();
    publishes.add(target, alice, "q", "a", 1);
    publishes.add(target, alice, "q", "b", "two");
    publishes.add(target, alice, "q", "c", 3);
    expect(calls).toEqual([]);
    await settled();
    expect(calls).toEqual([{ principal: alice, name: "q", messages: ["a", "b", "c"] }]);
    expect(frames).toEqual([
      { op: "ok", id: 1, result: "q:a" },
      { op: "ok", id: "two", result: "q:b" },
      { op: "ok", id: 3, result: "q:c" },
    ]);
  });

  it("keeps queues apart, and a queue apart from a topic of the same name", async () => {
    const queue = recordingTarget("queue");
    const topic = recordingTarget("topic");
    const { publishes } = batches();
    publishes.add(queue.target, alice, "x", "a", 1);
    publishes.add(queue.target, alice, "y", "b", 2);
    publishes.add(topic.target, alice, "x", "c", 3);
    publishes.add(queue.target, alice, "x", "d", 4);
    await settled();
    expect(queue.calls.map((c) => [c.name, c.messages])).toEqual([
      ["x", ["a", "d"]],
      ["y", ["b"]],
    ]);
    expect(topic.calls.map((c) => [c.name, c.messages])).toEqual([["x", ["c"]]]);
  });

  it("publishes separate turns separately", async () => {
    const { target, calls } = recordingTarget("queue");
    const { publishes } = batches();
    publishes.add(target, alice, "q", "a", 1);
    await settled();
    publishes.add(target, alice, "q", "b", 2);
    await settled();
    expect(calls.map((c) => c.messages)).toEqual([["a"], ["b"]]);
  });

  it("closes a batch at the batch publish limit at once", async () => {
    const { target, calls } = recordingTarget("queue");
    const { publishes } = batches(2);
    for (const [i, message] of ["a", "b", "c", "d", "e"].entries())
      publishes.add(target, alice, "q", message, i);
    expect(calls.map((c) => c.messages)).toEqual([
      ["a", "b"],
      ["c", "d"],
    ]);
    await settled();
    expect(calls.map((c) => c.messages)).toEqual([["a", "b"], ["c", "d"], ["e"]]);
  });

  it("sends what came before a refreshed principal as it was authorized", async () => {
    const { target, calls } = recordingTarget("queue");
    const { publishes } = batches();
    const refreshed = { username: "alice" } as Principal;
    publishes.add(target, alice, "q", "a", 1);
    publishes.add(target, refreshed, "q", "b", 2);
    await settled();
    expect(calls).toEqual([
      { principal: alice, name: "q", messages: ["a"] },
      { principal: refreshed, name: "q", messages: ["b"] },
    ]);
  });

  it("publishes a batch refused as a whole one by one, so each frame gets its own answer", async () => {
    const invalid = () => new AvisoError("PAYLOAD_TOO_LARGE", "too large");
    const { target, calls } = recordingTarget("queue", (messages) =>
      messages.includes("big") ? invalid() : undefined,
    );
    const { publishes, frames } = batches();
    publishes.add(target, alice, "q", "a", 1);
    publishes.add(target, alice, "q", "big", 2);
    publishes.add(target, alice, "q", "c", 3);
    await settled();
    expect(calls.map((c) => c.messages)).toEqual([["a", "big", "c"], ["a"], ["big"], ["c"]]);
    expect(frames).toEqual([
      { op: "ok", id: 1, result: "q:a" },
      expect.objectContaining({ op: "error", id: 2, reason: "PAYLOAD_TOO_LARGE" }),
      { op: "ok", id: 3, result: "q:c" },
    ]);
  });

  it("answers every frame with a failure that is not a refusal, and publishes nothing again", async () => {
    const { target, calls } = recordingTarget("queue", () => new AvisoError("STORE_UNAVAILABLE"));
    const { publishes, frames } = batches();
    publishes.add(target, alice, "q", "a", 1);
    publishes.add(target, alice, "q", "b", 2);
    await settled();
    expect(calls).toHaveLength(1);
    expect(frames).toEqual([
      expect.objectContaining({ op: "error", id: 1, reason: "STORE_UNAVAILABLE" }),
      expect.objectContaining({ op: "error", id: 2, reason: "STORE_UNAVAILABLE" }),
    ]);
  });

  it("answers every frame with a refusal of the caller, and publishes nothing again", async () => {
    const { target, calls } = recordingTarget("queue", () => new AvisoError("ACCESS_DENIED"));
    const { publishes, frames } = batches();
    publishes.add(target, alice, "q", "a", 1);
    publishes.add(target, alice, "q", "b", 2);
    await settled();
    expect(calls).toHaveLength(1);
    expect(frames).toEqual([
      expect.objectContaining({ op: "error", id: 1, reason: "ACCESS_DENIED" }),
      expect.objectContaining({ op: "error", id: 2, reason: "ACCESS_DENIED" }),
    ]);
  });

  it.each(["VALIDATION_FAILED", "TOO_MANY_MESSAGES", "PUBLISH_RATE_LIMITED"] as const)(
    "publishes a batch refused with %s frame by frame",
    async (reason) => {
      let refuse = true;
      const { target, calls } = recordingTarget("queue", () => {
        const error = refuse ? new AvisoError(reason) : undefined;
        refuse = false;
        return error;
      });
      const { publishes, frames } = batches();
      publishes.add(target, alice, "q", "a", 1);
      publishes.add(target, alice, "q", "b", 2);
      await settled();
      expect(calls.map((c) => c.messages)).toEqual([["a", "b"], ["a"], ["b"]]);
      expect(frames).toEqual([
        { op: "ok", id: 1, result: "q:a" },
        { op: "ok", id: 2, result: "q:b" },
      ]);
    },
  );

  it("answers a lone frame's refusal without publishing it again", async () => {
    const { target, calls } = recordingTarget("queue", () => new AvisoError("QUEUE_FULL"));
    const { publishes, frames } = batches();
    publishes.add(target, alice, "q", "a", 7);
    await settled();
    expect(calls).toHaveLength(1);
    expect(frames).toEqual([expect.objectContaining({ op: "error", id: 7, reason: "QUEUE_FULL" })]);
  });
});
