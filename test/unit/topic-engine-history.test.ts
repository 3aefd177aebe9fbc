import { describe, expect, it } from "vitest";
import { TopicEngine } from "../../src/broker/topic/topic-engine.ts";
import type { TopicEngineDeps, TopicReader, TopicWriter } from "../../src/broker/topic/topic-ports.ts";
import type { IdempotencyRecord, TopicDefinition, TopicMessage } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { topicDefinition } from "../helpers/topic-definition.ts";

/** An in-memory store log that records what the engine asked of it. */
class FakeStore implements TopicWriter, TopicReader {
  messages: TopicMessage[] = [];
  idempotency: IdempotencyRecord[] = [];
  appendSizes: number[] = [];
  reads: Array<{ from: number; limit: number }> = [];
  trims: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Runs inside the next append, before it completes. */
  duringAppend: (() => void) | null = null;
  /** Runs inside the next trim, before it completes. */
  duringTrim: (() => Promise<void>) | null = null;
  async append(messages: TopicMessage[], _next: number, idempotency: IdempotencyRecord[]): Promise<void> {
    this.appendSizes.push(messages.length);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await settle();
    const hook = this.duringAppend;
    this.duringAppend = null;
    hook?.();
    this.messages.push(...messages);
    this.idempotency.push(...idempotency);
    this.inFlight -= 1;
  }
  async trim(beforeOffset: number): Promise<void> {
    this.trims.push(beforeOffset);
    const hook = this.duringTrim;
    this.duringTrim = null;
    await hook?.();
    this.messages = this.messages.filter((m) => m.offset >= beforeOffset);
  }
  async read(from: number, limit: number): Promise<TopicMessage[]> {
    this.reads.push({ from, limit });
    await settle();
    return this.messages.filter((m) => m.offset >= from).slice(0, limit);
  }
}

interface Options {
  topic?: Partial<TopicDefinition>;
  memoryMessages?: number;
  memoryBytes?: number;
  maxBatchMessages?: number;
  head?: { nextOffset: number; firstOffset: number };
  floor?: number;
  noFloor?: boolean;
  stored?: TopicMessage[];
}

function setup(options: Options = {}) {
  const clock = new ManualClock();
  const store = new FakeStore();
  store.messages = options.stored ?? [];
  const topic = topicDefinition(options.topic);
  const deps: TopicEngineDeps = {
    clock,
    writer: topic.durable ? store : null,
    reader: topic.durable ? store : null,
    idempotencyWindowMs: 60_000,
    memoryMessages: options.memoryMessages ?? 1000,
    memoryBytes: options.memoryBytes ?? 1_000_000,
    maxBatchMessages: options.maxBatchMessages ?? 100,
    retentionIntervalMs: 1000,
  };
  if (options.noFloor !== true) deps.retentionFloor = async () => options.floor;
  const engine = new TopicEngine(topic, options.head ?? { nextOffset: 0, firstOffset: 0 }, deps);
  return { clock, store, engine };
}

const input = (payload: number, key = "k") => ({ key, payload: JSON.stringify(payload), headers: null });
const offsets = (messages: readonly TopicMessage[]) => messages.map((m) => m.offset);
const stored = (count: number, publishedAt: number): TopicMessage[] =>
  Array.from({ length: count }, (_, offset) => ({
    offset,
    key: "k",
    payload: "0",
    headers: null,
    publishedAt,
  }));

async function publishEach(engine: TopicEngine, clock: ManualClock, count: number, stepMs = 0) {
  for (let i = 0; i < count; i += 1) {
    await engine.publish([input(i)]);
    clock.advance(stepMs);
  }
}

async function settleMany(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await settle();
}

describe("TopicEngine publishing", () => {
  it("records idempotency keys under the topic's kind and name", async () => {
    const { engine, store } = setup();
    expect(engine.name).toBe("events");
    await engine.publish([{ ...input(1), idempotencyKey: "k1" }]);
    expect(store.idempotency).toMatchObject([{ kind: "topic", resource: "events", key: "k1", result: "0" }]);
  });

  it("answers a publish made only of known keys without writing", async () => {
    const { engine, store } = setup();
    await engine.publish([
      { ...input(1), idempotencyKey: "a" },
      { ...input(2), idempotencyKey: "b" },
    ]);
    expect(await engine.publish([{ ...input(2), idempotencyKey: "b" }])).toEqual([1]);
    expect(store.appendSizes).toEqual([2]);
  });

  it("keeps one append in flight: a publish made during a commit waits and takes the next offsets", async () => {
    const { engine, store } = setup();
    const first = engine.publish([input(1)]);
    await Promise.resolve();
    await Promise.resolve();
    const second = engine.publish([input(2)]);
    expect(await first).toEqual([0]);
    expect(await second).toEqual([1]);
    expect(store.maxInFlight).toBe(1);
    expect(offsets(store.messages)).toEqual([0, 1]);
  });

  it("commits at most maxBatchMessages per append, but never splits one publish", async () => {
    const { engine, store } = setup({ maxBatchMessages: 2 });
    await Promise.all([engine.publish([input(1)]), engine.publish([input(2)]), engine.publish([input(3)])]);
    await Promise.all([engine.publish([input(4), input(5), input(6)]), engine.publish([input(7)])]);
    await Promise.all([engine.publish([input(8)]), engine.publish([input(9), input(10)])]);
    expect(store.appendSizes).toEqual([2, 1, 3, 1, 1, 2]);
    expect(offsets(store.messages)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("refuses a publish after close with the close reason and writes nothing", async () => {
    const { engine, store } = setup();
    engine.close(new AvisoError("TOPIC_NOT_FOUND"));
    await expect(engine.publish([input(1)])).rejects.toMatchObject({ reason: "TOPIC_NOT_FOUND" });
    await settleMany();
    expect(store.appendSizes).toEqual([]);
  });

  it("answers a commit that completes after close, but leaves the closed engine's state as it was", async () => {
    const { engine, store } = setup();
    const seen: number[] = [];
    engine.onCommitted((messages) => seen.push(...offsets(messages)));
    await engine.publish([input(0)]);
    store.duringAppend = () => engine.close(new AvisoError("TOPIC_NOT_FOUND"));
    expect(await engine.publish([input(1)])).toEqual([1]);
    expect(engine.nextOffset()).toBe(1);
    expect(offsets(await engine.read(0, 10))).toEqual([0]);
    expect(seen).toEqual([0]);
  });
});

describe("TopicEngine listeners and close", () => {
  it("stops calling a listener once it unsubscribes", async () => {
    const { engine } = setup();
    const committed: number[] = [];
    const ended: string[] = [];
    const stopCommitted = engine.onCommitted((messages) => committed.push(...offsets(messages)));
    const stopEnded = engine.onEnded((reason) => ended.push(reason.reason));
    await engine.publish([input(0)]);
    stopCommitted();
    stopEnded();
    await engine.publish([input(1)]);
    engine.close(new AvisoError("TOPIC_NOT_FOUND"));
    expect(committed).toEqual([0]);
    expect(ended).toEqual([]);
  });

  it("ends once: a second close is ignored", async () => {
    const { engine, clock } = setup();
    const ended: string[] = [];
    engine.onEnded((reason) => ended.push(reason.reason));
    engine.close(new AvisoError("TOPIC_NOT_FOUND"));
    engine.close(new AvisoError("QUEUE_NOT_FOUND"));
    expect(ended).toEqual(["TOPIC_NOT_FOUND"]);
    expect(clock.pendingTimers).toBe(0);
    await expect(engine.publish([input(1)])).rejects.toMatchObject({ reason: "TOPIC_NOT_FOUND" });
  });
});

describe("TopicEngine reads", () => {
  it("serves the in-memory window without a store read, and only older history from the store", async () => {
    const { engine, clock, store } = setup({ memoryMessages: 3 });
    await publishEach(engine, clock, 6);
    expect(offsets(await engine.read(3, 10))).toEqual([3, 4, 5]);
    expect(store.reads).toEqual([]);
    expect(offsets(await engine.read(1, 10))).toEqual([1, 2, 3, 4, 5]);
    expect(store.reads).toEqual([{ from: 1, limit: 5 }]);
  });

  it("asks the store for no more than is committed and not at all at or past the head", async () => {
    const { engine, store } = setup({ head: { nextOffset: 5, firstOffset: 0 }, stored: stored(5, 0) });
    expect(offsets(await engine.read(3, 100))).toEqual([3, 4]);
    expect(await engine.read(5, 10)).toEqual([]);
    expect(await engine.read(7, 10)).toEqual([]);
    expect(store.reads).toEqual([{ from: 3, limit: 2 }]);
  });

  it("never returns a stored message past the committed head, even from a store that overshoots the limit", async () => {
    // The store already holds 5..7 from an append whose commit the engine never saw.
    const { engine, store } = setup({ head: { nextOffset: 5, firstOffset: 0 }, stored: stored(8, 0) });
    store.read = async (from) => store.messages.filter((m) => m.offset >= from);
    expect(offsets(await engine.read(2, 100))).toEqual([2, 3, 4]);
  });

  it("keeps no more than maxMessages in memory for a non-durable topic with a larger memory cap", async () => {
    const { engine, clock } = setup({
      topic: { durable: false, retention: { maxAgeMs: null, maxMessages: 10 } },
      memoryMessages: 3,
    });
    await publishEach(engine, clock, 5);
    expect(engine.firstOffset()).toBe(2);
    expect(offsets(await engine.read(0, 10))).toEqual([2, 3, 4]);
  });

  it("holds a durable topic's history in memory up to its byte bound and reads older history from the store", async () => {
    // Each published message weighs key "k" (1) + payload "0".."9" (1) = 2 bytes.
    const { engine, clock, store } = setup({ memoryBytes: 6 });
    await publishEach(engine, clock, 8);
    expect(offsets(await engine.read(5, 10))).toEqual([5, 6, 7]);
    expect(store.reads).toEqual([]);
    expect(engine.firstOffset()).toBe(0);
    expect(offsets(await engine.read(2, 10))).toEqual([2, 3, 4, 5, 6, 7]);
    expect(store.reads).toEqual([{ from: 2, limit: 6 }]);
  });

  it("shortens a non-durable topic's replayable history to its byte bound", async () => {
    const { engine, clock } = setup({
      topic: { durable: false, retention: { maxAgeMs: null, maxMessages: 100 } },
      memoryBytes: 6,
    });
    await publishEach(engine, clock, 8);
    expect(engine.firstOffset()).toBe(5);
    expect(offsets(await engine.read(0, 10))).toEqual([5, 6, 7]);
  });

  it("keeps a durable topic's recent messages in memory past its count retention when a subscription holds them", async () => {
    const { engine, clock, store } = setup({
      topic: { retention: { maxAgeMs: null, maxMessages: 2 } },
      floor: 0,
    });
    await publishEach(engine, clock, 5);
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(0);
    expect(offsets(await engine.read(0, 10))).toEqual([0, 1, 2, 3, 4]);
    expect(store.reads).toEqual([]);
  });
});

describe("TopicEngine retention", () => {
  it("does not touch the store when there is nothing to drop", async () => {
    const { engine, clock, store } = setup({ topic: { retention: { maxAgeMs: 10_000, maxMessages: 5 } } });
    await publishEach(engine, clock, 5);
    await engine.applyRetention();
    expect(store.trims).toEqual([]);
    expect(engine.firstOffset()).toBe(0);
  });

  it("works without a retention floor", async () => {
    const { engine, clock, store } = setup({
      topic: { retention: { maxAgeMs: null, maxMessages: 2 } },
      noFloor: true,
    });
    await publishEach(engine, clock, 5);
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(3);
    expect(store.trims).toEqual([3]);
  });

  it("drops nothing once closed", async () => {
    const { engine, clock, store } = setup({ topic: { retention: { maxAgeMs: null, maxMessages: 2 } } });
    await publishEach(engine, clock, 5);
    engine.close(new AvisoError("TOPIC_NOT_FOUND"));
    await engine.applyRetention();
    expect(store.trims).toEqual([]);
    expect(engine.firstOffset()).toBe(0);
  });

  it("ages out a non-durable topic's messages from memory", async () => {
    const { engine, clock } = setup({
      topic: { durable: false, retention: { maxAgeMs: 5000, maxMessages: null } },
    });
    await publishEach(engine, clock, 4, 2000); // published at 0, 2000, 4000, 6000; now 8000
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(2);
    expect(offsets(await engine.read(0, 10))).toEqual([2, 3]);
  });

  it("drops a message exactly maxAgeMs old and keeps a younger one (in memory)", async () => {
    const { engine, clock, store } = setup({ topic: { retention: { maxAgeMs: 4000, maxMessages: null } } });
    await publishEach(engine, clock, 4, 2000); // ages now: 8000, 6000, 4000, 2000
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(3);
    expect(store.reads).toEqual([]);
  });

  it("ages out a whole in-memory window in one pass, however long", async () => {
    const { engine, clock, store } = setup({
      memoryMessages: 20_000,
      maxBatchMessages: 2000,
      topic: { retention: { maxAgeMs: 1000, maxMessages: null } },
    });
    const batch = Array.from({ length: 2000 }, (_, i) => input(i));
    await Promise.all(Array.from({ length: 6 }, () => engine.publish(batch)));
    clock.advance(5000);
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(12_000);
    expect(store.trims).toEqual([12_000]);
    expect(store.reads).toEqual([]);
  });

  it("finds the age cut in the store when it lies before the in-memory window", async () => {
    const { engine, clock, store } = setup({
      memoryMessages: 2,
      topic: { retention: { maxAgeMs: 4000, maxMessages: null } },
    });
    await publishEach(engine, clock, 8, 1000); // ages now: 8000 … 1000; memory holds 6, 7
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(5);
    expect(offsets(store.messages)).toEqual([5, 6, 7]);
    expect(offsets(await engine.read(0, 10))).toEqual([5, 6, 7]);
  });

  it("drops everything when every message, stored and in memory, is too old", async () => {
    const { engine, clock } = setup({
      memoryMessages: 2,
      topic: { retention: { maxAgeMs: 1000, maxMessages: null } },
    });
    await publishEach(engine, clock, 5);
    clock.advance(5000);
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(5);
    expect(await engine.read(0, 10)).toEqual([]);
  });

  it("scans a bounded number of store pages per pass and continues on the next", async () => {
    const { engine, store } = setup({
      head: { nextOffset: 12_000, firstOffset: 0 },
      stored: stored(12_000, 0),
      topic: { retention: { maxAgeMs: 1000, maxMessages: null } },
    });
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(10_000);
    expect(store.reads).toHaveLength(20);
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(12_000);
    expect(store.trims).toEqual([10_000, 12_000]);
  });

  it("leaves retention where it was when the store returns nothing below the head", async () => {
    const { engine, store } = setup({
      head: { nextOffset: 5, firstOffset: 0 },
      stored: [],
      topic: { retention: { maxAgeMs: 1000, maxMessages: null } },
    });
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(0);
    expect(store.trims).toEqual([]);
  });

  it("runs on its timer, again after each pass", async () => {
    const { engine, clock, store } = setup({ topic: { retention: { maxAgeMs: null, maxMessages: 2 } } });
    await publishEach(engine, clock, 4);
    clock.advance(1000);
    await settleMany();
    expect(engine.firstOffset()).toBe(2);
    await publishEach(engine, clock, 2);
    clock.advance(1000);
    await settleMany();
    expect(engine.firstOffset()).toBe(4);
    expect(store.trims).toEqual([2, 4]);
  });

  it("stops its timer when closed during a pass", async () => {
    const { engine, clock, store } = setup({ topic: { retention: { maxAgeMs: null, maxMessages: 2 } } });
    await publishEach(engine, clock, 4);
    store.duringTrim = async () => engine.close(new AvisoError("TOPIC_NOT_FOUND"));
    clock.advance(1000);
    await settleMany();
    expect(store.trims).toEqual([2]);
    expect(clock.pendingTimers).toBe(0);
  });
});
