import { describe, expect, it } from "vitest";
import { QueueEngine } from "../../src/broker/queue/queue-engine.ts";
import { type Delivery, deliveryBytes, type QueueWriter } from "../../src/broker/queue/queue-ports.ts";
import { formatReceipt, queueTagOf } from "../../src/broker/queue/receipt.ts";
import type { QueueDefinition, QueueMessage } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { Gate } from "../helpers/gate.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { queueDefinition } from "../helpers/queue-definition.ts";
import { queueMessage } from "../helpers/queue-message.ts";
import { RecordingSink } from "../helpers/recording-sink.ts";

type AppendOptions = Parameters<QueueWriter["append"]>[2];

class FakeWriter implements QueueWriter {
  readonly stored = new Map<number, QueueMessage>();
  appendCalls = 0;
  readonly appendOptions: AppendOptions[] = [];
  failNext: AvisoError | null = null;
  readonly updates: Array<{ seq: number; deliveries: number; availableAt: number }> = [];
  updateCalls = 0;
  /** Shut: appends are stored at once but answered only when it opens. */
  readonly appendGate = new Gate();

  async append(messages: QueueMessage[], _nextSeq: number, options: AppendOptions): Promise<void> {
    this.appendCalls += 1;
    this.appendOptions.push(options);
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = null;
      throw error;
    }
    for (const msg of messages) this.stored.set(msg.seq, { ...msg });
    const held = this.appendGate.pass();
    if (held !== undefined) await held;
  }
  /** The seqs of each remove call, in call order. */
  readonly removes: number[][] = [];
  async remove(seqs: number[]): Promise<void> {
    this.removes.push([...seqs]);
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = null;
      throw error;
    }
    for (const seq of seqs) this.stored.delete(seq);
  }
  async update(changes: Array<{ seq: number; deliveries: number; availableAt: number }>): Promise<void> {
    this.updateCalls += 1;
    this.updates.push(...changes);
  }
}

function setup(
  overrides: Partial<QueueDefinition> = {},
  options: { nextSeq?: number; epoch?: number; mayDeliver?: () => boolean } = {},
) {
  const clock = new ManualClock();
  const writer = new FakeWriter();
  const deadLettered: Array<{ payloads: string[]; cause: string }> = [];
  /** Dead-letter moves tried, and how many of the next ones fail. */
  const moves = { tried: 0, failNext: 0 };
  let dropped = 0;
  const engine = new QueueEngine(
    queueDefinition(overrides),
    { nextSeq: options.nextSeq ?? 1 },
    {
      clock,
      writer,
      epoch: options.epoch ?? 3,
      idempotencyWindowMs: 60_000,
      deadLetter: async (messages, cause) => {
        moves.tried += 1;
        if (moves.failNext > 0) {
          moves.failNext -= 1;
          throw new AvisoError("STORE_UNAVAILABLE");
        }
        deadLettered.push({ payloads: messages.map((m) => m.payload), cause });
      },
      onDropped: (count) => {
        dropped += count;
      },
      mayDeliver: options.mayDeliver,
    },
  );
  return { clock, writer, engine, deadLettered, moves, dropped: () => dropped };
}
type Setup = ReturnType<typeof setup>;

/**
 * Each engine has its message 1 in flight under lease 1, so their receipts
 * differ only in what the two setups differ in (queue or epoch): the first
 * one's receipt must be stale on the second, which keeps its message.
 */
async function expectForeignReceiptStale(first: Setup, second: Setup): Promise<void> {
  await first.engine.publish([msg("a")]);
  await second.engine.publish([msg("b")]);
  const [fromFirst] = await first.engine.receive(pull);
  await second.engine.receive(pull);
  expect(await second.engine.ack([fromFirst!.receipt])).toEqual({ acked: 0, stale: [fromFirst!.receipt] });
  expect(second.writer.stored.size).toBe(1);
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

  it("settles one request with one write: an ack of several deliveries is one removal, a nack one update", async () => {
    const { engine, writer } = setup();
    await engine.publish([msg("a"), msg("b"), msg("c"), msg("d"), msg("e")]);
    const [a, b, c, d, e] = await engine.receive({ ...pull, max: 5 });
    const stale = formatReceipt({ epoch: 1, queueTag: queueTagOf("jobs"), seq: 9, leaseId: 1 });
    expect(await engine.ack([c!.receipt, a!.receipt, stale, c!.receipt, b!.receipt])).toEqual({
      acked: 3,
      stale: [stale, c!.receipt],
    });
    expect(writer.removes).toEqual([[3, 1, 2]]);
    const updatesBefore = writer.updateCalls;
    expect(await engine.nack([d!.receipt, e!.receipt], 0)).toEqual({ acked: 2, stale: [] });
    expect(writer.updateCalls).toBe(updatesBefore + 1);
    expect(writer.updates.slice(-2).map((u) => u.seq)).toEqual([4, 5]);
    expect(await engine.ack([stale])).toEqual({ acked: 0, stale: [stale] });
    expect(writer.removes).toHaveLength(1);
  });

  it("settles a push consumer's ack of several ids with one removal", async () => {
    const { engine, writer } = setup();
    const sink = new RecordingSink();
    const consumer = engine.addConsumer(sink, 10);
    await engine.publish([msg("a"), msg("b"), msg("c")]);
    await settle();
    await consumer.ack(["2", "1", "3"]);
    expect(writer.removes).toEqual([[2, 1, 3]]);
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

  it("hands no later consumer its batch once the lease goes untrusted mid-pass (a pause that lands inside a delivery pass)", async () => {
    let mayDeliver = true;
    const { engine } = setup({}, { mayDeliver: () => mayDeliver });
    // The first consumer's delivery is where the process froze: when it resumes, the lease is stale.
    const first = Object.assign(new RecordingSink(), {
      deliver(this: RecordingSink, deliveries: Delivery[]) {
        this.received.push(...deliveries);
        mayDeliver = false;
      },
    });
    const second = new RecordingSink();
    engine.addConsumer(first, 5);
    engine.addConsumer(second, 5);
    await engine.publish([msg("a"), msg("b"), msg("c"), msg("d")]);
    await settle();
    expect(first.received.length).toBeGreaterThan(0);
    expect(second.received).toEqual([]);
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
    await expectForeignReceiptStale(setup(), setup({ name: "other" }));
  });

  it("rejects a receipt issued under an earlier epoch as stale", async () => {
    await expectForeignReceiptStale(setup({}, { epoch: 3 }), setup({}, { epoch: 4 }));
  });

  it("never settles a push delivery by a receipt", async () => {
    const { engine, writer } = setup();
    const sink = new RecordingSink();
    engine.addConsumer(sink, 1);
    await engine.publish([msg("a")]);
    await settle();
    expect(sink.received.map((d) => d.id)).toEqual(["1"]);
    // What a receipt for that delivery would be: this epoch, seq 1, lease 1, this queue.
    const forged = formatReceipt({ epoch: 3, seq: 1, leaseId: 1, queueTag: queueTagOf("jobs") });
    expect(await engine.ack([forged])).toEqual({ acked: 0, stale: [forged] });
    expect(engine.stats().inFlight).toBe(1);
    expect(writer.stored.size).toBe(1);
  });

  it("quotes at most 64 characters of a malformed receipt", async () => {
    const { engine } = setup();
    const long = "x".repeat(100);
    await expect(engine.ack([long])).rejects.toMatchObject({
      reason: "INVALID_RECEIPT",
      message: `"${"x".repeat(64)}" is not a receipt Aviso issued.`,
    });
  });
});

describe("QueueEngine: what each rule changes", () => {
  it("counts commits not yet answered against maxLength, and names the queue and its maximum when full", async () => {
    const { engine, writer } = setup({ maxLength: 3 });
    writer.appendGate.shut();
    const first = engine.publish([msg(1), msg(2)]);
    expect(engine.room()).toBe(1);
    await expect(engine.publish([msg(3), msg(4)])).rejects.toMatchObject({
      reason: "QUEUE_FULL",
      message: 'Queue "jobs" holds its maximum of 3 messages.',
    });
    writer.appendGate.open();
    expect(await first).toEqual(["1", "2"]);
    expect(engine.room()).toBe(1);
  });

  it("commits a publish's idempotency records and a durable subscription's cursor with its messages", async () => {
    const { engine, writer, clock } = setup();
    const now = clock.now();
    await engine.publish([{ ...msg("x"), idempotencyKey: "k" }]);
    const cursor = { topic: "events", nextOffset: 7 };
    // Nothing new to store (the binding's page was all duplicates): the cursor still moves on.
    expect(await engine.publish([], { cursor })).toEqual([]);
    expect(writer.appendOptions).toEqual([
      {
        idempotency: [{ kind: "queue", resource: "jobs", key: "k", result: '"1"', expiresAt: now + 60_000 }],
        cursor: undefined,
      },
      { idempotency: [], cursor },
    ]);
  });

  it("after a restore, numbers new messages after both the stored head and the restored messages", async () => {
    const ahead = setup({}, { nextSeq: 10 });
    ahead.engine.restore([queueMessage(3), queueMessage(4)]);
    expect(await ahead.engine.publish([msg("next")])).toEqual(["10"]);
    const level = setup({}, { nextSeq: 4 });
    level.engine.restore([queueMessage(4)]);
    expect(await level.engine.publish([msg("next")])).toEqual(["5"]);
  });

  it("expires a restored, never-delivered message on time, with no receive to notice it", async () => {
    const { engine, clock, dropped } = setup();
    engine.restore([queueMessage(1, { expiresAt: clock.now() + 1000 })]);
    await settle();
    clock.advance(999);
    expect(dropped()).toBe(0);
    clock.advance(1);
    expect(dropped()).toBe(1);
    expect(engine.stats().depth).toBe(0);
  });

  it("reports ready, delayed and in-flight messages apart; depth leaves out what is in flight", async () => {
    const { engine } = setup();
    await engine.publish([msg("a"), msg("b"), msg("c", 500)]);
    await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: undefined });
    expect(engine.stats()).toEqual({ depth: 2, ready: 1, delayed: 1, inFlight: 1, consumers: 0, paged: 0 });
  });

  it("leases nothing to a receive whose signal is already aborted", async () => {
    const { engine } = setup();
    await engine.publish([msg("a")]);
    const abort = new AbortController();
    abort.abort();
    expect(await engine.receive(pull, abort.signal)).toEqual([]);
    expect(engine.stats()).toMatchObject({ ready: 1, inFlight: 0 });
  });

  it("answers a long-poll at once when messages are ready", async () => {
    const { engine } = setup();
    await engine.publish([msg("a")]);
    const answer = await Promise.race([
      engine.receive({ max: 5, waitMs: 10_000, ackTimeoutMs: undefined }),
      settle().then(() => "still waiting"),
    ]);
    expect(answer).toMatchObject([{ id: "1", deliveries: 1 }]);
  });

  it("serves a long-poll already waiting before a later receive", async () => {
    let mayDeliver = false;
    const { engine } = setup({}, { mayDeliver: () => mayDeliver });
    const early = engine.receive({ max: 1, waitMs: 10_000, ackTimeoutMs: undefined });
    await engine.publish([msg("a"), msg("b")]);
    await settle();
    mayDeliver = true;
    const late = engine.receive({ max: 1, waitMs: 10_000, ackTimeoutMs: undefined });
    expect((await early).map((d) => d.id)).toEqual(["1"]);
    expect((await late).map((d) => d.id)).toEqual(["2"]);
  });

  it("keeps the first reason when closed twice", async () => {
    const { engine } = setup();
    const first = new AvisoError("OWNER_UNAVAILABLE");
    engine.close(first);
    engine.close(new AvisoError("QUEUE_NOT_FOUND"));
    expect(() => engine.publish([msg(1)])).toThrow(first);
  });

  it("redelivers a message a push consumer nacked, keeping it stored", async () => {
    const { engine, writer } = setup();
    const sink = new RecordingSink();
    const consumer = engine.addConsumer(sink, 1);
    await engine.publish([msg("a")]);
    await settle();
    expect(await consumer.nack(["1"], 0)).toEqual({ acked: 1, stale: [] });
    await settle();
    expect(sink.received.map((d) => [d.id, d.deliveries])).toEqual([
      ["1", 1],
      ["1", 2],
    ]);
    expect(writer.stored.size).toBe(1);
  });

  it("delivers to a consumer whose transport drained when it resumes", async () => {
    const { engine } = setup();
    const sink = Object.assign(new RecordingSink(), { open: false });
    const consumer = engine.addConsumer(Object.assign(sink, { writable: () => sink.open }), 5);
    await engine.publish([msg("a")]);
    await settle();
    expect(sink.received).toEqual([]);
    sink.open = true;
    consumer.resume();
    await settle();
    expect(sink.received.map((d) => d.id)).toEqual(["1"]);
  });

  it("saves a nacked message's delivery count and delay when it is nacked", async () => {
    const { engine, clock, writer } = setup();
    await engine.publish([msg("a")]);
    const [delivery] = await engine.receive(pull);
    await engine.nack([delivery!.receipt], 500);
    expect(writer.updates).toEqual([{ seq: 1, deliveries: 1, availableAt: clock.now() + 500 }]);
  });

  it("writes no delivery count for a message leaving for the dead-letter queue", async () => {
    const { engine, clock, writer, deadLettered } = setup({ maxDeliveries: 1, deadLetterQueue: "dlq" });
    await engine.publish([msg("a")]);
    const [delivery] = await engine.receive(pull);
    await engine.nack([delivery!.receipt], 0);
    clock.advance(1000);
    await settle();
    expect(deadLettered).toEqual([{ payloads: ['"a"'], cause: "max_deliveries" }]);
    expect(writer.updateCalls).toBe(0);
  });

  it("delivers a nacked message before newer ones (seq order)", async () => {
    const { engine } = setup();
    await engine.publish([msg(1), msg(2), msg(3)]);
    const [first] = await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: undefined });
    await engine.nack([first!.receipt], 0);
    expect((await engine.receive(pull)).map((d) => d.id)).toEqual(["1", "2", "3"]);
  });

  it("delivers a message whose delay is over before newer ones (seq order)", async () => {
    const { engine, clock } = setup();
    await engine.publish([msg(1, 100), msg(2), msg(3)]);
    clock.advance(100);
    expect((await engine.receive(pull)).map((d) => d.id)).toEqual(["1", "2", "3"]);
  });

  it("bounds a pull page by maxBytes, the bound included, but always gives the first message", async () => {
    const { engine } = setup();
    const bytes = deliveryBytes({ payload: JSON.stringify("x"), headers: null });
    await engine.publish([msg("x"), msg("x"), msg("x")]);
    const page = await engine.receive({ max: 10, waitMs: 0, ackTimeoutMs: undefined, maxBytes: 2 * bytes });
    expect(page.map((d) => d.id)).toEqual(["1", "2"]);
    const tooSmall = await engine.receive({
      max: 10,
      waitMs: 0,
      ackTimeoutMs: undefined,
      maxBytes: bytes - 1,
    });
    expect(tooSmall.map((d) => d.id)).toEqual(["3"]);
  });

  it("dead-letters a message found expired by a receive before any timer ran", async () => {
    const { engine, clock, deadLettered } = setup({ messageTtlMs: 1000, deadLetterQueue: "dlq" });
    await engine.publish([msg("old")]);
    clock.pause(1000);
    expect(await engine.receive(pull)).toEqual([]);
    await settle();
    expect(deadLettered).toEqual([{ payloads: ['"old"'], cause: "expired" }]);
  });

  it("keeps an earlier wake when a later delay is set while it cannot deliver", async () => {
    let mayDeliver = true;
    const { engine, clock } = setup({ ackTimeoutMs: 60_000 }, { mayDeliver: () => mayDeliver });
    await engine.publish([msg("a"), msg("b")]);
    const [a, b] = await engine.receive(pull);
    // No delivery pass (which re-arms the wake from the timeline) runs in between.
    mayDeliver = false;
    await engine.nack([a!.receipt], 100);
    await engine.nack([b!.receipt], 500);
    await settle();
    mayDeliver = true;
    clock.advance(100);
    expect((await engine.receive(pull)).map((d) => d.id)).toEqual(["1"]);
  });

  it("wakes for the earliest of an ack deadline and a TTL", async () => {
    const { engine, clock } = setup({ ackTimeoutMs: 1000, messageTtlMs: 10_000 });
    await engine.publish([msg("a"), msg("b")]);
    await settle();
    await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: undefined });
    clock.advance(1000);
    expect((await engine.receive(pull)).map((d) => [d.id, d.deliveries])).toEqual([
      ["1", 2],
      ["2", 1],
    ]);
  });

  it("sets no timer once closed, even when a dead-letter move fails afterwards", async () => {
    const { engine, clock, moves } = setup({ messageTtlMs: 1000, deadLetterQueue: "dlq" });
    moves.failNext = 1;
    await engine.publish([msg("old")]);
    clock.advance(1000);
    engine.close(new AvisoError("OWNER_UNAVAILABLE"));
    await settle();
    expect(moves.tried).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it("retries a failed dead-letter move a second later", async () => {
    const { engine, clock, moves, deadLettered } = setup({ messageTtlMs: 1000, deadLetterQueue: "dlq" });
    moves.failNext = 1;
    await engine.publish([msg("old")]);
    await settle();
    clock.advance(1000);
    await settle();
    expect(moves.tried).toBe(1);
    clock.advance(999);
    await settle();
    expect(moves.tried).toBe(1);
    clock.advance(1);
    await settle();
    expect(moves.tried).toBe(2);
    expect(deadLettered).toEqual([{ payloads: ['"old"'], cause: "expired" }]);
    expect(engine.stats().depth).toBe(0);
  });
});
