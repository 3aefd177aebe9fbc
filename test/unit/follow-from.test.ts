import { describe, expect, it } from "vitest";
import { TopicEngine } from "../../src/broker/topic/topic-engine.ts";
import type { TopicMessage } from "../../src/broker/types.ts";
import { followFrom } from "../../src/cluster/follow-from.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";

function memoryTopic(): TopicEngine {
  return new TopicEngine(
    {
      id: "t-id",
      name: "t",
      creator: "alice",
      private: false,
      durable: false,
      retention: { maxAgeMs: null, maxMessages: null },
      createdAt: 0,
    },
    { nextOffset: 0, firstOffset: 0 },
    {
      clock: new ManualClock(),
      writer: null,
      reader: null,
      idempotencyWindowMs: 1000,
      memoryMessages: 1000,
      memoryBytes: 1_000_000,
      maxBatchMessages: 100,
      retentionIntervalMs: 60_000,
    },
  );
}

const input = (payload: number) => ({ key: "", payload: String(payload), headers: null });

describe("followFrom", () => {
  it("passes history from the offset, then live, even to a listener attached a while after", async () => {
    const engine = memoryTopic();
    for (let i = 0; i < 5; i += 1) await engine.publish([input(i)]);
    const feed = followFrom(engine, 2);
    await settle();
    const seen: number[] = [];
    feed.onCommitted((messages: readonly TopicMessage[]) => seen.push(...messages.map((m) => m.offset)));
    await settle();
    await engine.publish([input(5)]);
    await settle();
    expect(seen).toEqual([2, 3, 4, 5]);
    expect(feed.nextOffset()).toBe(6);
  });

  it("loses nothing committed while the history is being read", async () => {
    const engine = memoryTopic();
    for (let i = 0; i < 3; i += 1) await engine.publish([input(i)]);
    const feed = followFrom(engine, 0);
    const seen: number[] = [];
    feed.onCommitted((messages: readonly TopicMessage[]) => seen.push(...messages.map((m) => m.offset)));
    const publishing = engine.publish([input(3)]);
    await publishing;
    await settle();
    expect(seen).toEqual([0, 1, 2, 3]);
  });
});
