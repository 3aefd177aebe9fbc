import { describe, expect, it } from "vitest";
import { QueueEngine } from "../../src/broker/queue/queue-engine.ts";
import { QueueMemory } from "../../src/broker/queue/queue-memory.ts";
import type { Delivery, QueueReader, QueueWriter } from "../../src/broker/queue/queue-ports.ts";
import { deliveryBytes } from "../../src/broker/queue/queue-ports.ts";
import type { QueueDefinition, QueueMessage } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { Gate } from "../helpers/gate.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { queueDefinition } from "../helpers/queue-definition.ts";

/** One queue's rows as a store holds them: the writer puts them in, the reader reads them back in seq order. */
class FakeQueueStore implements QueueWriter, QueueReader {
  readonly rows = new Map<number, QueueMessage>();
  reads = 0;
  failNextRead = false;
  /** Shut: appends land in the store at once but their commit is answered only when it opens. */
  private readonly appendGate = new Gate();
  /** Shut: reads see the store when called but answer only when it opens. */
  private readonly readGate = new Gate();

  async append(messages: QueueMessage[]): Promise<void> {
    for (const msg of messages) this.rows.set(msg.seq, { ...msg });
    const held = this.appendGate.pass();
    if (held !== undefined) await held;
  }
  async remove(seqs: number[]): Promise<void> {
    for (const seq of seqs) this.rows.delete(seq);
  }
  async update(changes: Array<{ seq: number; deliveries: number; availableAt: number }>): Promise<void> {
    for (const change of changes) {
      const row = this.rows.get(change.seq);
      if (row !== undefined)
        Object.assign(row, { deliveries: change.deliveries, availableAt: change.availableAt });
    }
  }
  async read(afterSeq: number, limit: number): Promise<QueueMessage[]> {
    this.reads += 1;
    if (this.failNextRead) {
      this.failNextRead = false;
      throw new AvisoError("STORE_UNAVAILABLE", "The store is down.");
    }
    const page = [...this.rows.values()]
      .filter((row) => row.seq > afterSeq)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit)
      .map((row) => ({ ...row }));
    const held = this.readGate.pass();
    if (held !== undefined) await held;
    return page;
  }

  holdAppends(): void {
    this.appendGate.shut();
  }
  releaseAppends(): void {
    this.appendGate.open();
  }
  holdReads(): void {
    this.readGate.shut();
  }
  get readsWaiting(): number {
    return this.readGate.waitingCount;
  }
  releaseReads(): void {
    this.readGate.open();
  }
}

/** 1,000 bytes of payload: every message takes the same room. */
const payloadOf = (n: number) => JSON.stringify(`${n}`.padEnd(998, "."));
const MESSAGE_BYTES = deliveryBytes({ payload: payloadOf(1), headers: null });
const msg = (n: number, delayMs = 0) => ({ payload: payloadOf(n), headers: null, delayMs });
const numberOf = (delivery: Delivery) => Number.parseInt(JSON.parse(delivery.payload) as string, 10);

/** A queue whose share of memory holds `window` messages (no floor unless given). */
function setup(
  options: {
    window?: number;
    floorMessages?: number;
    definition?: Partial<QueueDefinition>;
    memory?: QueueMemory;
  } = {},
) {
  const clock = new ManualClock();
  const store = new FakeQueueStore();
  const memory =
    options.memory ??
    new QueueMemory((options.window ?? 10) * MESSAGE_BYTES, (options.floorMessages ?? 0) * MESSAGE_BYTES);
  const deadLettered: number[] = [];
  let dropped = 0;
  const engine = new QueueEngine(
    queueDefinition(options.definition),
    { nextSeq: 1 },
    {
      clock,
      writer: store,
      reader: store,
      memory,
      epoch: 1,
      idempotencyWindowMs: 60_000,
      deadLetter: async (messages) => {
        deadLettered.push(...messages.map((m) => Number.parseInt(JSON.parse(m.payload) as string, 10)));
      },
      onDropped: (count) => {
        dropped += count;
      },
    },
  );
  return { clock, store, memory, engine, deadLettered, dropped: () => dropped };
}

async function publishEach(engine: QueueEngine, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n += 1) await engine.publish([msg(n)]);
}

/** Pulls and acks one message at a time until the queue is empty (bounded), returning their numbers. */
async function drain(engine: QueueEngine, most: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < most; i += 1) {
    const [delivery] = await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: undefined });
    if (delivery === undefined) {
      await settle();
      if (engine.stats().depth === 0) break;
      continue;
    }
    seen.push(numberOf(delivery));
    await engine.ack([delivery.receipt]);
    await settle();
  }
  return seen;
}

/** Pulls what is in memory and acks it in one go (frees the whole window at once). */
async function takeWindow(engine: QueueEngine): Promise<number[]> {
  const got = await engine.receive({ max: 100, waitMs: 0, ackTimeoutMs: undefined });
  await engine.ack(got.map((delivery) => delivery.receipt));
  await settle();
  return got.map(numberOf);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("QueueEngine paging", () => {
  it("keeps messages past its share in the store only, counted in depth", async () => {
    const { engine, memory, store } = setup({ window: 10 });
    await publishEach(engine, 1, 30);
    expect(engine.stats()).toMatchObject({ depth: 30, ready: 10, paged: 20 });
    expect(memory).toMatchObject({ heldMessages: 10, pagedMessages: 20, pagedBytes: 20 * MESSAGE_BYTES });
    expect(memory.heldBytes).toBeLessThanOrEqual(memory.budgetBytes);
    expect(store.rows.size).toBe(30);
  });

  it("reads the paged tail back in seq order and delivers every message once", async () => {
    const { engine, memory } = setup({ window: 10 });
    await publishEach(engine, 1, 35);
    expect(await drain(engine, 200)).toEqual(range(1, 35));
    expect(engine.stats()).toMatchObject({ depth: 0, paged: 0 });
    expect(memory).toMatchObject({ heldBytes: 0, heldMessages: 0, pagedBytes: 0, pagedMessages: 0 });
    // Out of paged mode: the next publish is in memory at once.
    await engine.publish([msg(36)]);
    expect(engine.stats()).toMatchObject({ ready: 1, paged: 0 });
  });

  it("admits a message once when a read of the tail sees a commit not yet answered", async () => {
    const { engine, store } = setup({ window: 10 });
    await publishEach(engine, 1, 15);
    store.holdAppends();
    const late = engine.publish([msg(16), msg(17), msg(18)]);
    await settle();
    expect(store.rows.has(18)).toBe(true);
    // Frees the window: the read sees 11..18, but 16..18 belong to the unanswered commit.
    expect(await takeWindow(engine)).toEqual(range(1, 10));
    expect(store.reads).toBe(1);
    expect(engine.stats()).toMatchObject({ ready: 5, paged: 0 });
    expect(await takeWindow(engine)).toEqual(range(11, 15));
    store.releaseAppends();
    expect(await late).toEqual(["16", "17", "18"]);
    expect(await drain(engine, 50)).toEqual([16, 17, 18]);
    expect(engine.stats()).toMatchObject({ depth: 0, paged: 0 });
  });

  it("admits a message once when its commit is answered while a read that saw it is in flight", async () => {
    const { engine, store, memory } = setup({ window: 4 });
    await publishEach(engine, 1, 6);
    store.holdAppends();
    const late = engine.publish([msg(7), msg(8)]);
    await settle();
    store.holdReads();
    expect(await takeWindow(engine)).toEqual([1, 2, 3, 4]);
    expect(store.readsWaiting).toBe(1);
    store.releaseAppends();
    await late;
    expect(engine.stats().paged).toBe(4);
    store.releaseReads();
    await settle();
    expect(await drain(engine, 50)).toEqual([5, 6, 7, 8]);
    expect(memory).toMatchObject({ heldMessages: 0, pagedMessages: 0, pagedBytes: 0 });
  });

  it("retries a failed read of the tail later, changing nothing meanwhile", async () => {
    const { engine, store, clock } = setup({ window: 3 });
    await publishEach(engine, 1, 6);
    store.failNextRead = true;
    expect(await takeWindow(engine)).toEqual([1, 2, 3]);
    expect(engine.stats()).toMatchObject({ depth: 3, ready: 0, paged: 3 });
    clock.advance(1000);
    await settle();
    expect(await takeWindow(engine)).toEqual([4, 5, 6]);
    expect(store.reads).toBe(2);
  });

  it("retries a failed read of the tail a second later, not sooner", async () => {
    const { engine, store, clock } = setup({ window: 3, definition: { ackTimeoutMs: 60_000 } });
    await publishEach(engine, 1, 6);
    store.failNextRead = true;
    expect(await takeWindow(engine)).toEqual([1, 2, 3]);
    expect(store.reads).toBe(1);
    clock.advance(999);
    await settle();
    expect(store.reads).toBe(1);
    clock.advance(1);
    await settle();
    expect(store.reads).toBe(2);
    expect(engine.stats()).toMatchObject({ ready: 3, paged: 0 });
  });

  it("takes no memory for a publish whose commit is answered after close", async () => {
    const { engine, store, memory } = setup({ window: 10 });
    store.holdAppends();
    const late = engine.publish([msg(1)]);
    await settle();
    engine.close(new AvisoError("OWNER_UNAVAILABLE", "Ownership moved."));
    store.releaseAppends();
    expect(await late).toEqual(["1"]);
    expect(memory).toMatchObject({ heldBytes: 0, heldMessages: 0, pagedBytes: 0, pagedMessages: 0 });
  });

  it("gives a message's memory back once when its dead-letter move ends after close", async () => {
    const { engine, clock, memory, deadLettered } = setup({
      window: 10,
      definition: { messageTtlMs: 1000, deadLetterQueue: "dlq", deadLetterQueueId: "dlq-id" },
    });
    await publishEach(engine, 1, 2);
    clock.advance(1000); // both expire: their move to the dead-letter queue starts
    engine.close(new AvisoError("OWNER_UNAVAILABLE", "Ownership moved."));
    await settle();
    expect(deadLettered).toEqual([1, 2]);
    expect(memory).toMatchObject({ heldBytes: 0, heldMessages: 0 });
  });

  it("counts paged messages against maxLength", async () => {
    const { engine } = setup({ window: 10, definition: { maxLength: 15 } });
    await publishEach(engine, 1, 15);
    expect(engine.stats()).toMatchObject({ depth: 15, paged: 5 });
    expect(engine.room()).toBe(0);
    await expect(engine.publish([msg(16)])).rejects.toMatchObject({ reason: "QUEUE_FULL" });
  });

  it("expires paged messages when they reach the head", async () => {
    const { engine, clock, dropped } = setup({ window: 5, definition: { messageTtlMs: 1000 } });
    await publishEach(engine, 1, 20);
    expect(engine.stats()).toMatchObject({ depth: 20, paged: 15 });
    clock.advance(1000);
    for (let i = 0; i < 20 && engine.stats().depth > 0; i += 1) {
      await settle();
      clock.advance(1);
    }
    expect(dropped()).toBe(20);
    expect(engine.stats()).toMatchObject({ depth: 0, paged: 0 });
    expect(await engine.receive({ max: 10, waitMs: 0, ackTimeoutMs: undefined })).toEqual([]);
  });

  it("keeps a paged delayed message's availableAt", async () => {
    const { engine, clock } = setup({ window: 2 });
    await engine.publish([msg(1), msg(2), msg(3, 5000)]);
    expect(engine.stats().paged).toBe(1);
    expect(await drain(engine, 10)).toEqual([1, 2]);
    expect(engine.stats()).toMatchObject({ delayed: 1, paged: 0 });
    clock.advance(4999);
    expect(await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: undefined })).toEqual([]);
    clock.advance(1);
    expect((await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: undefined })).map(numberOf)).toEqual([3]);
  });

  it("does nothing with a read of the tail that resolves after close", async () => {
    const { engine, store, memory } = setup({ window: 4 });
    await publishEach(engine, 1, 10);
    store.holdReads();
    await drain(engine, 4);
    expect(store.readsWaiting).toBe(1);
    engine.close(new AvisoError("OWNER_UNAVAILABLE", "Ownership moved."));
    expect(memory).toMatchObject({ heldBytes: 0, heldMessages: 0, pagedBytes: 0, pagedMessages: 0 });
    store.releaseReads();
    await settle();
    expect(memory).toMatchObject({ heldBytes: 0, heldMessages: 0, pagedBytes: 0, pagedMessages: 0 });
    expect(store.rows.size).toBe(6);
  });

  it("dead-letters a message read back from the tail at maxDeliveries", async () => {
    const { engine, deadLettered } = setup({
      window: 3,
      definition: { maxDeliveries: 1, deadLetterQueue: "dlq", deadLetterQueueId: "dlq-id" },
    });
    await publishEach(engine, 1, 8);
    for (let i = 0; i < 30 && deadLettered.length < 8; i += 1) {
      const got = await engine.receive({ max: 10, waitMs: 0, ackTimeoutMs: undefined });
      if (got.length > 0)
        await engine.nack(
          got.map((delivery) => delivery.receipt),
          0,
        );
      await settle();
    }
    expect(deadLettered).toEqual(range(1, 8));
    expect(engine.stats()).toMatchObject({ depth: 0, paged: 0 });
  });

  it("at claim reads only its share and counts the rest, keeping delivery counts", async () => {
    const first = setup({ window: 100 });
    await publishEach(first.engine, 1, 12);
    await first.engine.receive({ max: 2, waitMs: 0, ackTimeoutMs: undefined });
    await settle();
    first.clock.advance(300); // the lazy save of delivery counts
    await settle();
    const next = setup({ window: 5 });
    for (const [seq, row] of first.store.rows) next.store.rows.set(seq, { ...row });
    const engine = new QueueEngine(
      queueDefinition(),
      { nextSeq: 13 },
      {
        clock: next.clock,
        writer: next.store,
        reader: next.store,
        memory: next.memory,
        epoch: 2,
        idempotencyWindowMs: 60_000,
        deadLetter: async () => {},
      },
    );
    await engine.restoreFromStore(12);
    expect(engine.stats()).toMatchObject({ depth: 12, ready: 5, paged: 7 });
    expect(next.memory.heldMessages).toBe(5);
    const [redelivered] = await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: undefined });
    expect(redelivered?.deliveries).toBe(2);
    await engine.ack([redelivered!.receipt]);
    expect(await drain(engine, 50)).toEqual(range(2, 12));
  });

  it("lets a small queue stay in memory while another pages (the floor)", async () => {
    const memory = new QueueMemory(10 * MESSAGE_BYTES, 3 * MESSAGE_BYTES);
    const big = setup({ memory, definition: { name: "big" } });
    const small = setup({ memory, definition: { name: "small" } });
    await publishEach(big.engine, 1, 40);
    expect(big.engine.stats().paged).toBeGreaterThan(0);
    await publishEach(small.engine, 1, 3);
    expect(small.engine.stats()).toMatchObject({ ready: 3, paged: 0 });
    expect(memory.heldBytes).toBeLessThanOrEqual(memory.budgetBytes + memory.floorBytes);
    expect(await drain(small.engine, 10)).toEqual([1, 2, 3]);
  });
});
