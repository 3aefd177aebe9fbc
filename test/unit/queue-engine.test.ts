import { describe, expect, it } from "vitest";
import { QueueEngine } from "../../src/broker/queue/queue-engine.ts";
import type { QueueWriter } from "../../src/broker/queue/queue-ports.ts";
import type { QueueDefinition, QueueMessage } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { queueDefinition } from "../helpers/queue-definition.ts";
import { RecordingSink } from "../helpers/recording-sink.ts";

class FakeWriter implements QueueWriter {
  readonly stored = new Map<number, QueueMessage>();
  appendCalls = 0;
  failNext: AvisoError | null = null;
  readonly updates: Array<{ seq: number; deliveries: number; availableAt: number }> = [];

  async append(messages: QueueMessage[]): Promise<void> {
    this.appendCalls += 1;
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = null;
      throw error;
    }
    for (const msg of messages) this.stored.set(msg.seq, { ...msg });
  }
  async remove(seqs: number[]): Promise<void> {
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = null;
      throw error;
    }
    for (const seq of seqs) this.stored.delete(seq);
  }
  async update(changes: Array<{ seq: number; deliveries: number; availableAt: number }>): Promise<void> {
    this.updates.push(...changes);
  }
}

function setup(overrides: Partial<QueueDefinition> = {}) {
  const clock = new ManualClock();
  const writer = new FakeWriter();
  const deadLettered: Array<{ payloads: string[]; cause: string }> = [];
  let dropped = 0;
  const engine = new QueueEngine(
    queueDefinition(overrides),
    { nextSeq: 1 },
    {
      clock,
      writer,
      epoch: 3,
      idempotencyWindowMs: 60_000,
      deadLetter: async (messages, cause) => {
        deadLettered.push({ payloads: messages.map((m) => m.payload), cause });
      },
      onDropped: (count) => {
        dropped += count;
      },
    },
  );
  return { clock, writer, engine, deadLettered, dropped: () => dropped };
}

const msg = (payload: unknown, delayMs = 0) => ({ payload: JSON.stringify(payload), headers: null, delayMs });
const pull = { max: 10, waitMs: 0, ackTimeoutMs: undefined };

describe("QueueEngine", () => {
  it("commits before answering a publish and delivers in publish order", async () => {
    const { engine, writer } = setup();
    const ids = await engine.publish([msg(1), msg(2), msg(3)]);
    expect(ids).toEqual(["1", "2", "3"]);
    expect([...writer.stored.keys()]).toEqual([1, 2, 3]);
    const got = await engine.receive(pull);
    expect(got.map((d) => d.payload)).toEqual(["1", "2", "3"]);
    expect(got.every((d) => d.deliveries === 1)).toBe(true);
  });

  it("rejects the publish and keeps nothing when the commit fails", async () => {
    const { engine, writer } = setup();
    writer.failNext = new AvisoError("STORE_UNAVAILABLE");
    await expect(engine.publish([msg("x")])).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
    expect(engine.stats().depth).toBe(0);
    expect(await engine.receive(pull)).toEqual([]);
  });

  it("deletes acked messages from the store and reports stale receipts", async () => {
    const { engine, writer } = setup();
    await engine.publish([msg("a"), msg("b")]);
    const [first, second] = await engine.receive(pull);
    const result = await engine.ack([first!.receipt]);
    expect(result).toEqual({ acked: 1, stale: [] });
    expect([...writer.stored.keys()]).toEqual([2]);
    const again = await engine.ack([first!.receipt, second!.receipt]);
    expect(again).toEqual({ acked: 1, stale: [first!.receipt] });
    expect(writer.stored.size).toBe(0);
  });

  it("refuses a malformed receipt and changes nothing", async () => {
    const { engine, writer } = setup();
    await engine.publish([msg("a")]);
    const [delivery] = await engine.receive(pull);
    await expect(engine.ack([delivery!.receipt, "not-a-receipt"])).rejects.toMatchObject({
      reason: "INVALID_RECEIPT",
    });
    expect(writer.stored.size).toBe(1);
    expect(engine.stats().inFlight).toBe(1);
  });

  it("redelivers after the ack deadline with a higher delivery count and a new receipt", async () => {
    const { engine, clock, writer } = setup({ ackTimeoutMs: 1000 });
    await engine.publish([msg("a")]);
    const [first] = await engine.receive(pull);
    clock.advance(999);
    expect(await engine.receive(pull)).toEqual([]);
    clock.advance(1);
    const [second] = await engine.receive(pull);
    expect(second?.payload).toBe('"a"');
    expect(second?.deliveries).toBe(2);
    expect(second?.receipt).not.toBe(first?.receipt);
    expect((await engine.ack([first!.receipt])).stale).toEqual([first!.receipt]);
    expect(writer.updates.at(-1)).toMatchObject({ seq: 1, deliveries: 1 });
  });

  it("honours a per-receive ack timeout", async () => {
    const { engine, clock } = setup({ ackTimeoutMs: 60_000 });
    await engine.publish([msg("a")]);
    await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: 100 });
    clock.advance(100);
    expect(await engine.receive(pull)).toHaveLength(1);
  });

  it("holds a nacked message back for the nack delay", async () => {
    const { engine, clock } = setup();
    await engine.publish([msg("a")]);
    const [delivery] = await engine.receive(pull);
    expect(await engine.nack([delivery!.receipt], 500)).toEqual({ acked: 1, stale: [] });
    expect(engine.stats()).toMatchObject({ delayed: 1, inFlight: 0 });
    clock.advance(499);
    expect(await engine.receive(pull)).toEqual([]);
    clock.advance(1);
    expect((await engine.receive(pull))[0]?.deliveries).toBe(2);
  });

  it("dead-letters a message after maxDeliveries", async () => {
    const { engine, writer, deadLettered } = setup({ maxDeliveries: 2, deadLetterQueue: "jobs.dlq" });
    await engine.publish([msg("poison")]);
    for (let i = 0; i < 2; i += 1) {
      const [delivery] = await engine.receive(pull);
      await engine.nack([delivery!.receipt], 0);
    }
    await settle();
    expect(deadLettered).toEqual([{ payloads: ['"poison"'], cause: "max_deliveries" }]);
    expect(writer.stored.size).toBe(0);
    expect(engine.stats().depth).toBe(0);
  });

  it("drops a message after maxDeliveries when there is no dead-letter queue", async () => {
    const { engine, clock, writer, dropped } = setup({ maxDeliveries: 1, ackTimeoutMs: 10 });
    await engine.publish([msg("poison")]);
    await engine.receive(pull);
    clock.advance(10);
    await settle();
    expect(dropped()).toBe(1);
    expect(writer.stored.size).toBe(0);
    expect(await engine.receive(pull)).toEqual([]);
  });

  it("expires undelivered messages after their TTL", async () => {
    const { engine, clock, deadLettered } = setup({ messageTtlMs: 1000, deadLetterQueue: "dlq" });
    await engine.publish([msg("old")]);
    clock.advance(500);
    await engine.publish([msg("new")]);
    clock.advance(500);
    await settle();
    expect(deadLettered).toEqual([{ payloads: ['"old"'], cause: "expired" }]);
    expect((await engine.receive(pull)).map((d) => d.payload)).toEqual(['"new"']);
  });

  it("rejects publishes past maxLength with QUEUE_FULL", async () => {
    const { engine, writer } = setup({ maxLength: 2 });
    await engine.publish([msg(1), msg(2)]);
    await expect(engine.publish([msg(3)])).rejects.toMatchObject({ reason: "QUEUE_FULL" });
    expect(writer.stored.size).toBe(2);
    const [delivery] = await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: undefined });
    await engine.ack([delivery!.receipt]);
    await expect(engine.publish([msg(3)])).resolves.toEqual(["3"]);
  });

  it("delivers a delayed message only after its delay", async () => {
    const { engine, clock } = setup({ ackTimeoutMs: 60_000 });
    await engine.publish([msg("later", 2000), msg("now")]);
    expect((await engine.receive(pull)).map((d) => d.payload)).toEqual(['"now"']);
    clock.advance(2000);
    expect((await engine.receive(pull)).map((d) => d.payload)).toEqual(['"later"']);
  });

  it("stores a publish once per idempotency key, including concurrent retries", async () => {
    const { engine, writer } = setup();
    const keyed = (key: string) => ({ ...msg("x"), idempotencyKey: key });
    const [a, b] = await Promise.all([engine.publish([keyed("k1")]), engine.publish([keyed("k1")])]);
    const c = await engine.publish([keyed("k1")]);
    expect(a).toEqual(["1"]);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(writer.appendCalls).toBe(1);
    expect(await engine.publish([keyed("k2")])).toEqual(["2"]);
    // In one batch: a known key, a new key twice, and no key.
    expect(await engine.publish([keyed("k1"), keyed("k3"), keyed("k3"), msg("y")])).toEqual([
      "1",
      "3",
      "3",
      "4",
    ]);
    expect([...writer.stored.keys()]).toEqual([1, 2, 3, 4]);
  });

  it("forgets an idempotency key once its window has passed", async () => {
    const { engine, clock } = setup();
    await engine.publish([{ ...msg("x"), idempotencyKey: "k" }]);
    clock.advance(60_000);
    expect(await engine.publish([{ ...msg("x"), idempotencyKey: "k" }])).toEqual(["2"]);
  });

  it("remembers an idempotency key for the whole window, not a moment less", async () => {
    const { engine, clock, writer } = setup();
    await engine.publish([{ ...msg("x"), idempotencyKey: "k" }]);
    clock.advance(59_999);
    expect(await engine.publish([{ ...msg("x"), idempotencyKey: "k" }])).toEqual(["1"]);
    expect(writer.appendCalls).toBe(1);
  });

  it("forgets the key of a failed publish, so its retry publishes and stores the message once", async () => {
    const { engine, writer } = setup();
    const keyed = { ...msg("x"), idempotencyKey: "k" };
    writer.failNext = new AvisoError("STORE_UNAVAILABLE");
    await expect(engine.publish([keyed])).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
    const [id] = await engine.publish([keyed]);
    expect(await engine.publish([keyed])).toEqual([id]);
    expect([...writer.stored.values()].map((m) => [String(m.seq), m.payload])).toEqual([[id, '"x"']]);
  });

  it("honours the idempotency keys it restores, until each one's own expiry", async () => {
    const { engine, clock, writer } = setup();
    const now = clock.now();
    engine.restore(
      [],
      [
        { kind: "queue", resource: "jobs", key: "kept", result: JSON.stringify("41"), expiresAt: now + 10 },
        { kind: "queue", resource: "jobs", key: "old", result: JSON.stringify("40"), expiresAt: now },
      ],
    );
    expect(await engine.publish([{ ...msg("x"), idempotencyKey: "kept" }])).toEqual(["41"]);
    expect(writer.appendCalls).toBe(0);
    expect(await engine.publish([{ ...msg("x"), idempotencyKey: "old" }])).toEqual(["1"]);
    clock.advance(10);
    expect(await engine.publish([{ ...msg("x"), idempotencyKey: "kept" }])).toEqual(["2"]);
  });

  it("long-polls until a message arrives, or answers empty at the wait deadline", async () => {
    const { engine, clock } = setup({ ackTimeoutMs: 60_000 });
    const waiting = engine.receive({ max: 5, waitMs: 1000, ackTimeoutMs: undefined });
    await engine.publish([msg("a"), msg("b")]);
    expect((await waiting).map((d) => d.payload)).toEqual(['"a"', '"b"']);
    const empty = engine.receive({ max: 5, waitMs: 1000, ackTimeoutMs: undefined });
    clock.advance(1000);
    expect(await empty).toEqual([]);
  });

  it("does not lease messages to a long-poll that was aborted", async () => {
    const { engine } = setup();
    const abort = new AbortController();
    const waiting = engine.receive({ max: 5, waitMs: 10_000, ackTimeoutMs: undefined }, abort.signal);
    abort.abort();
    expect(await waiting).toEqual([]);
    await engine.publish([msg("a")]);
    expect((await engine.receive(pull)).map((d) => d.payload)).toEqual(['"a"']);
  });

  it("never gives a push consumer more un-acked messages than its prefetch", async () => {
    const { engine } = setup();
    const sink = new RecordingSink();
    const consumer = engine.addConsumer(sink, 3);
    await engine.publish(Array.from({ length: 10 }, (_, i) => msg(i)));
    await settle();
    expect(sink.received.map((d) => d.id)).toEqual(["1", "2", "3"]);
    await consumer.ack(["1", "2"]);
    await settle();
    expect(sink.received.map((d) => d.id)).toEqual(["1", "2", "3", "4", "5"]);
    expect(engine.stats().inFlight).toBe(3);
  });

  it("splits messages between competing consumers with nothing missing or doubled", async () => {
    const { engine } = setup();
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    const consumers = sinks.map((sink) => engine.addConsumer(sink, 2));
    const total = 60;
    await engine.publish(Array.from({ length: total }, (_, i) => msg(i)));
    for (let round = 0; round < total; round += 1) {
      await settle();
      await Promise.all(consumers.map((consumer, i) => consumer.ack(sinks[i]!.received.map((d) => d.id))));
      if (engine.stats().depth === 0 && engine.stats().inFlight === 0) break;
    }
    const ids = sinks.flatMap((sink) => sink.received.map((d) => d.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const sink of sinks) expect(sink.received.length).toBeGreaterThan(0);
  });

  it("serves competing consumers in turn: the one after the last served goes next, not always the first", async () => {
    const { engine } = setup();
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    const consumers = sinks.map((sink) => engine.addConsumer(sink, 1));
    const served: number[] = [];
    for (let i = 0; i < 9; i += 1) {
      const before = sinks.map((sink) => sink.received.length);
      await engine.publish([msg(i)]);
      await settle();
      const index = sinks.findIndex((sink, j) => sink.received.length > before[j]!);
      served.push(index);
      if (index >= 0) await consumers[index]!.ack([sinks[index]!.received.at(-1)!.id]);
    }
    expect(served).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });

  it("gives a departed consumer's un-acked messages to another consumer at once", async () => {
    const { engine } = setup();
    const first = new RecordingSink();
    const firstConsumer = engine.addConsumer(first, 5);
    await engine.publish([msg("a"), msg("b")]);
    await settle();
    const second = new RecordingSink();
    engine.addConsumer(second, 5);
    firstConsumer.close();
    await settle();
    expect(second.received.map((d) => [d.id, d.deliveries])).toEqual([
      ["1", 2],
      ["2", 2],
    ]);
  });

  it("ignores a push ack for a message held by another consumer", async () => {
    const { engine } = setup();
    const sinkA = new RecordingSink();
    const sinkB = new RecordingSink();
    engine.addConsumer(sinkA, 1);
    const b = engine.addConsumer(sinkB, 1);
    await engine.publish([msg("a"), msg("b")]);
    await settle();
    const idOfA = sinkA.received[0]!.id;
    expect(await b.ack([idOfA])).toEqual({ acked: 0, stale: [idOfA] });
  });

  it("restores stored messages in sequence order, redelivered ones first", async () => {
    const { engine } = setup();
    const stored = (seq: number, deliveries: number): QueueMessage => ({
      seq,
      payload: String(seq),
      headers: null,
      publishedAt: 0,
      availableAt: 0,
      expiresAt: null,
      deliveries,
    });
    engine.restore([stored(4, 0), stored(5, 1), stored(7, 0)]);
    const got = await engine.receive(pull);
    expect(got.map((d) => [d.id, d.deliveries])).toEqual([
      ["4", 1],
      ["5", 2],
      ["7", 1],
    ]);
    expect(await engine.publish([msg("next")])).toEqual(["8"]);
  });

  it("tells waiters and consumers why when it closes, and refuses further work", async () => {
    const { engine } = setup();
    const sink = new RecordingSink();
    engine.addConsumer(sink, 1);
    const waiting = engine.receive({ max: 1, waitMs: 5000, ackTimeoutMs: undefined });
    const reason = new AvisoError("QUEUE_NOT_FOUND");
    engine.close(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(sink.closedWith).toBe(reason);
    expect(() => engine.publish([msg(1)])).toThrow(reason);
  });

  it("answers an ack whose removal failed with the store's error (its serving node then reloads from the store)", async () => {
    const { engine, writer } = setup();
    await engine.publish([msg("a")]);
    const [delivery] = await engine.receive(pull);
    writer.failNext = new AvisoError("STORE_UNAVAILABLE");
    await expect(engine.ack([delivery!.receipt])).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
    expect(writer.stored.size).toBe(1);
  });

  it("saves the delivery count of a message still in flight shortly after delivery, so a crash keeps it", async () => {
    const { engine, clock, writer } = setup({ ackTimeoutMs: 60_000 });
    await engine.publish([msg("slow"), msg("fast")]);
    const [slow, fast] = await engine.receive(pull);
    await engine.ack([fast!.receipt]);
    clock.advance(250);
    await settle();
    expect(writer.updates).toEqual([
      { seq: Number(slow!.id), deliveries: 1, availableAt: expect.any(Number) },
    ]);
  });

  it("rejects a receipt issued by another queue as stale", async () => {
    const first = setup();
    const second = setup({ name: "other" });
    await first.engine.publish([msg("a")]);
    await second.engine.publish([msg("b")]);
    const [fromFirst] = await first.engine.receive(pull);
    expect(await second.engine.ack([fromFirst!.receipt])).toEqual({ acked: 0, stale: [fromFirst!.receipt] });
    expect(second.writer.stored.size).toBe(1);
  });
});
