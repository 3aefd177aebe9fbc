import { describe, expect, it } from "vitest";
import type { Principal } from "../../src/app/context.ts";
import type { Services } from "../../src/app/services.ts";
import { PublishBatches, type PublishTarget } from "../../src/edge/ws/publish-batches.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";

interface Input {
  m: string;
  payload: string;
  headers: string | null;
  idempotencyKey?: string;
}

interface Call {
  principal: Principal;
  name: string;
  messages: string[];
}

type Answer = (inputs: Input[]) => (string | AvisoError | undefined)[] | Error;

/** A target whose publish records each call and answers `name:m` per input, or what `answer` says. */
function recordingTarget(kind: string, answer?: Answer) {
  const calls: Call[] = [];
  const target: PublishTarget<Input, string> = {
    kind,
    publish: async (_services, principal, name, inputs) => {
      calls.push({ principal, name, messages: inputs.map((input) => input.m) });
      const answers = answer?.(inputs) ?? inputs.map((input) => `${name}:${input.m}`);
      if (answers instanceof Error) throw answers;
      return answers as (string | AvisoError)[];
    },
    ok: (result) => ({ result }),
  };
  return { target, calls };
}

const alice = { username: "alice" } as Principal;
const services = {} as Services;
const m = (text: string, idempotencyKey?: string): Input =>
  idempotencyKey === undefined
    ? { m: text, payload: `"${text}"`, headers: null }
    : { m: text, payload: `"${text}"`, headers: null, idempotencyKey };

function batches(maxMessages = 1000, maxBytes = 1_000_000) {
  const frames: Record<string, unknown>[] = [];
  let idle = 0;
  const publishes = new PublishBatches(
    services,
    (frame) => frames.push(JSON.parse(frame)),
    maxMessages,
    maxBytes,
    () => idle++,
  );
  return { publishes, frames, idle: () => idle };
}

/** Past the turn that gathers, and past the answers' promise callbacks. */
async function settled(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("a socket's publishes gathered per turn", () => {
  it("sends one turn's publishes to one queue as one batch, in order, and answers each frame by its id", async () => {
    const { target, calls } = recordingTarget("queue");
    const { publishes, frames, idle } = batches();
    publishes.add(target, alice, "q", m("a"), 1);
    publishes.add(target, alice, "q", m("b"), "two");
    publishes.add(target, alice, "q", m("c"), 3);
    expect(calls).toEqual([]);
    await settled();
    expect(calls).toEqual([{ principal: alice, name: "q", messages: ["a", "b", "c"] }]);
    expect(frames).toEqual([
      { op: "ok", id: 1, result: "q:a" },
      { op: "ok", id: "two", result: "q:b" },
      { op: "ok", id: 3, result: "q:c" },
    ]);
    expect(idle()).toBe(1);
  });

  it("keeps queues apart, and a queue apart from a topic of the same name", async () => {
    const queue = recordingTarget("queue");
    const topic = recordingTarget("topic");
    const { publishes } = batches();
    publishes.add(queue.target, alice, "x", m("a"), 1);
    publishes.add(queue.target, alice, "y", m("b"), 2);
    publishes.add(topic.target, alice, "x", m("c"), 3);
    publishes.add(queue.target, alice, "x", m("d"), 4);
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
    publishes.add(target, alice, "q", m("a"), 1);
    await settled();
    publishes.add(target, alice, "q", m("b"), 2);
    await settled();
    expect(calls.map((c) => c.messages)).toEqual([["a"], ["b"]]);
  });

  it("closes a batch at the batch publish limit at once", async () => {
    const { target, calls } = recordingTarget("queue");
    const { publishes } = batches(2);
    for (const [i, text] of ["a", "b", "c", "d", "e"].entries())
      publishes.add(target, alice, "q", m(text), i);
    expect(calls.map((c) => c.messages)).toEqual([
      ["a", "b"],
      ["c", "d"],
    ]);
    await settled();
    expect(calls.map((c) => c.messages)).toEqual([["a", "b"], ["c", "d"], ["e"]]);
  });

  it("closes a batch before the message that would take it past the byte limit; a bigger one goes alone", async () => {
    const { target, calls } = recordingTarget("queue");
    // Each payload below is 6 characters ("aaaa" quoted); the limit holds two.
    const { publishes } = batches(1000, 12);
    publishes.add(target, alice, "q", m("aaaa"), 1);
    publishes.add(target, alice, "q", m("bbbb"), 2);
    publishes.add(target, alice, "q", m("cccc"), 3);
    publishes.add(target, alice, "q", { m: "big", payload: "x".repeat(40), headers: null }, 4);
    publishes.add(target, alice, "q", m("dddd"), 5);
    await settled();
    expect(calls.map((c) => c.messages)).toEqual([["aaaa", "bbbb"], ["cccc"], ["big"], ["dddd"]]);
  });

  it("sends what came before a refreshed principal as it was authorized, in order", async () => {
    const { target, calls } = recordingTarget("queue");
    const { publishes } = batches();
    const refreshed = { username: "alice" } as Principal;
    publishes.add(target, alice, "q", m("a"), 1);
    publishes.add(target, refreshed, "q", m("b"), 2);
    await settled();
    expect(calls).toEqual([
      { principal: alice, name: "q", messages: ["a"] },
      { principal: refreshed, name: "q", messages: ["b"] },
    ]);
  });

  it("never mixes frames with and without an idempotency key, and keeps their order", async () => {
    const { target, calls } = recordingTarget("queue");
    const { publishes } = batches();
    publishes.add(target, alice, "q", m("a"), 1);
    publishes.add(target, alice, "q", m("b"), 2);
    publishes.add(target, alice, "q", m("k1", "key1"), 3);
    publishes.add(target, alice, "q", m("k2", "key2"), 4);
    publishes.add(target, alice, "q", m("c"), 5);
    await settled();
    expect(calls.map((c) => c.messages)).toEqual([["a", "b"], ["k1", "k2"], ["c"]]);
  });

  it("answers each frame with its own refusal and the others with their results", async () => {
    const { target } = recordingTarget("queue", (inputs) =>
      inputs.map((input) => (input.m === "late" ? new AvisoError("PUBLISH_RATE_LIMITED") : `q:${input.m}`)),
    );
    const { publishes, frames } = batches();
    publishes.add(target, alice, "q", m("a"), 1);
    publishes.add(target, alice, "q", m("late"), 2);
    publishes.add(target, alice, "q", m("c"), 3);
    await settled();
    expect(frames).toEqual([
      { op: "ok", id: 1, result: "q:a" },
      expect.objectContaining({ op: "error", id: 2, reason: "PUBLISH_RATE_LIMITED" }),
      { op: "ok", id: 3, result: "q:c" },
    ]);
  });

  it("answers every frame with a failure of the whole publish", async () => {
    const { target, calls } = recordingTarget("queue", () => new AvisoError("STORE_UNAVAILABLE"));
    const { publishes, frames } = batches();
    publishes.add(target, alice, "q", m("a"), 1);
    publishes.add(target, alice, "q", m("b"), 2);
    await settled();
    expect(calls).toHaveLength(1);
    expect(frames).toEqual([
      expect.objectContaining({ op: "error", id: 1, reason: "STORE_UNAVAILABLE" }),
      expect.objectContaining({ op: "error", id: 2, reason: "STORE_UNAVAILABLE" }),
    ]);
  });

  it("answers INTERNAL for a frame the publish left without an answer", async () => {
    const { target } = recordingTarget("queue", (inputs) => [`q:${inputs[0]?.m}`]);
    const { publishes, frames } = batches();
    publishes.add(target, alice, "q", m("a"), 1);
    publishes.add(target, alice, "q", m("b"), 2);
    await settled();
    expect(frames).toEqual([
      { op: "ok", id: 1, result: "q:a" },
      expect.objectContaining({ op: "error", id: 2, reason: "INTERNAL" }),
    ]);
  });

  it("answers the frames of a publish that throws instead of rejecting, and still sends the turn's other batches", async () => {
    const throwing: PublishTarget<Input, string> = {
      kind: "queue",
      publish: () => {
        throw new AvisoError("QUEUE_NOT_FOUND");
      },
      ok: (result) => ({ result }),
    };
    const other = recordingTarget("topic");
    const { publishes, frames } = batches();
    publishes.add(throwing, alice, "q", m("a"), 1);
    publishes.add(other.target, alice, "t", m("b"), 2);
    await settled();
    expect(other.calls.map((c) => c.messages)).toEqual([["b"]]);
    expect(frames).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ op: "error", id: 1, reason: "QUEUE_NOT_FOUND" }),
        { op: "ok", id: 2, result: "t:b" },
      ]),
    );
  });
});
