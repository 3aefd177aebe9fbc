import { describe, expect, it } from "vitest";
import { TopicEngine } from "../../src/broker/topic/topic-engine.ts";
import {
  type FanoutMember,
  type LiveGroups,
  type ReplayInfo,
  TopicFanout,
} from "../../src/broker/topic/topic-fanout.ts";
import type { TopicWriter } from "../../src/broker/topic/topic-ports.ts";
import type { IdempotencyRecord, TopicDefinition, TopicMessage } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { topicDefinition } from "../helpers/topic-definition.ts";

/** An in-memory log standing in for the store; reads resolve on a later turn so publishes interleave. */
class FakeLog implements TopicWriter {
  readonly messages: TopicMessage[] = [];
  readonly idempotency: IdempotencyRecord[] = [];
  appendCalls = 0;
  failNext = false;
  async append(
    messages: TopicMessage[],
    _nextOffset: number,
    idempotency: IdempotencyRecord[],
  ): Promise<void> {
    this.appendCalls += 1;
    await settle();
    if (this.failNext) {
      this.failNext = false;
      throw new AvisoError("STORE_UNAVAILABLE");
    }
    this.messages.push(...messages);
    this.idempotency.push(...idempotency);
  }
  async trim(beforeOffset: number): Promise<void> {
    const keep = this.messages.filter((m) => m.offset >= beforeOffset);
    this.messages.splice(0, this.messages.length, ...keep);
  }
  async read(from: number, limit: number): Promise<TopicMessage[]> {
    await settle();
    return this.messages.filter((m) => m.offset >= from).slice(0, limit);
  }
}

function setup(overrides: Partial<TopicDefinition> = {}, memoryMessages = 1000, floor?: number) {
  const clock = new ManualClock();
  const log = new FakeLog();
  const definition = topicDefinition(overrides);
  const engine = new TopicEngine(
    definition,
    { nextOffset: 0, firstOffset: 0 },
    {
      clock,
      writer: definition.durable ? log : null,
      reader: definition.durable ? log : null,
      idempotencyWindowMs: 60_000,
      memoryMessages,
      memoryBytes: 1_000_000,
      maxBatchMessages: 100,
      retentionIntervalMs: 1000,
      retentionFloor: async () => floor,
    },
  );
  return { clock, log, engine };
}

const input = (key: string, payload: unknown) => ({ key, payload: JSON.stringify(payload), headers: null });

class RecordingGroups implements LiveGroups {
  readonly byGroup = new Map<string, TopicMessage[]>();
  readonly ended: string[] = [];
  publish(groupKey: string, messages: readonly TopicMessage[]): void {
    const list = this.byGroup.get(groupKey) ?? [];
    list.push(...messages);
    this.byGroup.set(groupKey, list);
  }
  end(groupKey: string): void {
    this.ended.push(groupKey);
  }
}

/** A member that records what it saw, and, once live, what its group delivered afterwards. */
class RecordingMember implements FanoutMember {
  readonly seen: number[] = [];
  replay: ReplayInfo | null | undefined;
  liveFrom: number | undefined;
  left = false;
  endedWith: AvisoError | null = null;
  constructor(
    private readonly groups: RecordingGroups,
    private readonly groupKey: () => string,
  ) {}
  joined(): void {}
  sendReplay(messages: readonly TopicMessage[]): void {
    this.seen.push(...messages.map((m) => m.offset));
  }
  goLive(_groupKey: string, replay: ReplayInfo | null): void {
    this.replay = replay;
    this.liveFrom = this.groups.byGroup.get(this.groupKey())?.length ?? 0;
  }
  end(reason: AvisoError): void {
    this.endedWith = reason;
  }
  all(): number[] {
    const live = (this.groups.byGroup.get(this.groupKey()) ?? []).slice(this.liveFrom ?? 0);
    return [...this.seen, ...live.map((m) => m.offset)];
  }
}

describe("TopicEngine", () => {
  it("assigns increasing offsets in publish order and commits before answering", async () => {
    const { engine, log } = setup();
    const [a, b] = await Promise.all([
      engine.publish([input("a", 1), input("a", 2)]),
      engine.publish([input("b", 3)]),
    ]);
    expect(a).toEqual([0, 1]);
    expect(b).toEqual([2]);
    expect(log.messages.map((m) => m.offset)).toEqual([0, 1, 2]);
    expect(log.appendCalls).toBe(1);
    expect(engine.nextOffset()).toBe(3);
  });

  it("reuses the offsets of a failed commit, so the log has no hole", async () => {
    const { engine, log } = setup();
    await engine.publish([input("a", 1)]);
    log.failNext = true;
    await expect(engine.publish([input("a", 2)])).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
    expect(await engine.publish([input("a", 3)])).toEqual([1]);
    expect(log.messages.map((m) => [m.offset, m.payload])).toEqual([
      [0, "1"],
      [1, "3"],
    ]);
  });

  it("answers a retried idempotent publish with the first offsets", async () => {
    const { engine, log } = setup();
    const first = await engine.publish([{ ...input("a", 1), idempotencyKey: "k" }]);
    const again = await engine.publish([{ ...input("a", 1), idempotencyKey: "k" }]);
    expect(again).toEqual(first);
    expect(log.messages).toHaveLength(1);
    expect(log.idempotency.map((r) => [r.key, r.result])).toEqual([["k", "0"]]);
  });

  it("forgets the key of a failed publish, so its retry commits the message once", async () => {
    const { engine, log } = setup();
    const keyed = { ...input("a", 1), idempotencyKey: "k" };
    log.failNext = true;
    await expect(engine.publish([keyed])).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
    expect(await engine.publish([keyed])).toEqual([0]);
    expect(await engine.publish([keyed])).toEqual([0]);
    expect(log.messages.map((m) => m.offset)).toEqual([0]);
  });

  it("remembers a key for the whole idempotency window and forgets it after", async () => {
    const { engine, clock, log } = setup();
    const keyed = { ...input("a", 1), idempotencyKey: "k" };
    await engine.publish([keyed]);
    clock.advance(59_999);
    expect(await engine.publish([keyed])).toEqual([0]);
    clock.advance(1);
    expect(await engine.publish([keyed])).toEqual([1]);
    expect(log.messages).toHaveLength(2);
  });

  it("honours restored idempotency keys", async () => {
    const { engine, clock, log } = setup();
    engine.restoreIdempotency([
      { kind: "topic", resource: "events", key: "k", result: "41", expiresAt: clock.now() + 10 },
    ]);
    expect(await engine.publish([{ ...input("a", 1), idempotencyKey: "k" }])).toEqual([41]);
    expect(log.appendCalls).toBe(0);
  });

  it("reads history from memory and from the store", async () => {
    const { engine } = setup({}, 3);
    for (let i = 0; i < 10; i += 1) await engine.publish([input("k", i)]);
    expect((await engine.read(0, 4)).map((m) => m.offset)).toEqual([0, 1, 2, 3]);
    expect((await engine.read(8, 10)).map((m) => m.offset)).toEqual([8, 9]);
    expect(await engine.read(10, 10)).toEqual([]);
  });

  it("applies count retention", async () => {
    const { engine, log } = setup({ retention: { maxAgeMs: null, maxMessages: 3 } });
    for (let i = 0; i < 10; i += 1) await engine.publish([input("k", i)]);
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(7);
    expect(log.messages.map((m) => m.offset)).toEqual([7, 8, 9]);
    expect(engine.nextOffset()).toBe(10);
  });

  it("keeps what a durable subscription has not copied yet", async () => {
    const { engine } = setup({ retention: { maxAgeMs: null, maxMessages: 3 } }, 1000, 5);
    for (let i = 0; i < 10; i += 1) await engine.publish([input("k", i)]);
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(5);
  });

  it("applies age retention", async () => {
    const { engine, clock } = setup({ retention: { maxAgeMs: 5000, maxMessages: null } });
    await engine.publish([input("k", "old")]);
    clock.advance(3000);
    await engine.publish([input("k", "new")]);
    clock.advance(2500);
    await engine.applyRetention();
    expect(engine.firstOffset()).toBe(1);
    expect((await engine.read(0, 10)).map((m) => m.payload)).toEqual(['"new"']);
  });

  it("keeps a non-durable topic's history in memory only, capped by maxMessages", async () => {
    const { engine, log } = setup({ durable: false, retention: { maxAgeMs: null, maxMessages: 2 } });
    for (let i = 0; i < 5; i += 1) await engine.publish([input("k", i)]);
    expect(log.appendCalls).toBe(0);
    expect(engine.firstOffset()).toBe(3);
    expect((await engine.read(0, 10)).map((m) => m.offset)).toEqual([3, 4]);
  });
});

describe("TopicFanout", () => {
  function fanoutSetup() {
    const env = setup();
    const groups = new RecordingGroups();
    let nextKey = 0;
    const fanout = new TopicFanout(env.engine, groups, () => `g${nextKey++}`, 4);
    return { ...env, groups, fanout };
  }

  it("delivers each committed message once per pattern group, matched by routing key", async () => {
    const { engine, groups, fanout } = fanoutSetup();
    const eu = fanout.join("orders.eu.*", "latest", new RecordingMember(groups, () => "g0"));
    const all = fanout.join("#", "latest", new RecordingMember(groups, () => "g1"));
    const euAgain = fanout.join("orders.eu.*", "latest", new RecordingMember(groups, () => "g0"));
    expect(euAgain).toBe(eu);
    await engine.publish([input("orders.eu.created", 1), input("orders.us.created", 2), input("", 3)]);
    expect(groups.byGroup.get(eu)?.map((m) => m.offset)).toEqual([0]);
    expect(groups.byGroup.get(all)?.map((m) => m.offset)).toEqual([0, 1, 2]);
  });

  it("replays from an offset then goes live with no gap and no duplicate while publishing continues", async () => {
    const { engine, groups, fanout } = fanoutSetup();
    for (let i = 0; i < 10; i += 1) await engine.publish([input("k", i)]);
    let key = "";
    const member = new RecordingMember(groups, () => key);
    key = fanout.join("#", 3, member);
    // Keep publishing while the replay pages through history.
    for (let i = 10; i < 30; i += 1) {
      await engine.publish([input("k", i)]);
      await settle();
    }
    await settle();
    expect(member.replay).toEqual({ from: 3, to: expect.any(Number), complete: true });
    expect(member.all()).toEqual(Array.from({ length: 27 }, (_, i) => i + 3));
  });

  it("reports a retention gap as complete:false and starts at the oldest retained offset", async () => {
    const { engine, groups, fanout } = fanoutSetup();
    for (let i = 0; i < 10; i += 1) await engine.publish([input("k", i)]);
    // Retention dropped 0..5
    (engine.definition.retention as { maxMessages: number | null }).maxMessages = 4;
    await engine.applyRetention();
    let key = "";
    const member = new RecordingMember(groups, () => key);
    key = fanout.join("#", 2, member);
    for (let i = 0; i < 5; i += 1) await settle();
    expect(member.replay).toEqual({ from: 2, to: 10, complete: false });
    expect(member.seen).toEqual([6, 7, 8, 9]);
  });

  it("refuses an offset beyond the topic's next offset", async () => {
    const { engine, groups, fanout } = fanoutSetup();
    await engine.publish([input("k", 0)]);
    expect(() => fanout.join("#", 2, new RecordingMember(groups, () => ""))).toThrow(
      expect.objectContaining({ reason: "OFFSET_OUT_OF_RANGE" }),
    );
  });

  it("ends every group when the topic goes away", async () => {
    const { engine, groups, fanout } = fanoutSetup();
    const key = fanout.join("#", "latest", new RecordingMember(groups, () => ""));
    engine.close(new AvisoError("TOPIC_NOT_FOUND"));
    expect(groups.ended).toEqual([key]);
    expect(fanout.memberCount).toBe(0);
  });
});
