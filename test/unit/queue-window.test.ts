import { describe, expect, it } from "vitest";
import { QueueMemory } from "../../src/broker/queue/queue-memory.ts";
import type { QueueReader } from "../../src/broker/queue/queue-ports.ts";
import { deliveryBytes } from "../../src/broker/queue/queue-ports.ts";
import { QueueWindow, type WindowHost } from "../../src/broker/queue/queue-window.ts";
import type { QueueMessage } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { Gate } from "../helpers/gate.ts";
import { settle } from "../helpers/manual-clock.ts";
import { queueMessage } from "../helpers/queue-message.ts";

/** The room one small test message takes (deliveryBytes). */
const B = 1000;
const MiB = 1024 * 1024;

/** A stored message whose deliveryBytes are exactly `bytes` (at least 258). */
function sized(seq: number, bytes = B, fields: Partial<QueueMessage> = {}): QueueMessage {
  const msg = queueMessage(seq, { payload: JSON.stringify("x".repeat(bytes - 258)), ...fields });
  expect(deliveryBytes(msg)).toBe(bytes);
  return msg;
}

/** One queue's rows in the store; each read sees the rows present when it is called. */
class FakeReader implements QueueReader {
  readonly rows = new Map<number, QueueMessage>();
  readonly calls: Array<{ afterSeq: number; limit: number }> = [];
  failNext = false;
  private readonly gate = new Gate();

  store(...messages: QueueMessage[]): void {
    for (const msg of messages) this.rows.set(msg.seq, msg);
  }
  async read(afterSeq: number, limit: number): Promise<QueueMessage[]> {
    this.calls.push({ afterSeq, limit });
    const page = [...this.rows.values()]
      .filter((row) => row.seq > afterSeq)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit);
    const held = this.gate.pass();
    if (held !== undefined) await held;
    if (this.failNext) {
      this.failNext = false;
      throw new AvisoError("STORE_UNAVAILABLE", "The store is down.");
    }
    return page;
  }
  hold(): void {
    this.gate.shut();
  }
  release(): void {
    this.gate.open();
  }
}

/** The engine's side: keeps what it is given (ignoring a seq it holds) and charges it to the window. */
class FakeHost implements WindowHost {
  window!: QueueWindow;
  /** Every admit call, in order, held seqs included. */
  readonly admits: Array<{ seq: number; returned: boolean; bytes: number }> = [];
  readonly held = new Map<number, number>();
  closed = false;
  changes = 0;

  admit(msg: QueueMessage, returned: boolean, bytes: number): void {
    this.admits.push({ seq: msg.seq, returned, bytes });
    if (this.held.has(msg.seq)) return;
    this.held.set(msg.seq, bytes);
    this.window.added(bytes);
  }
  holds(seq: number): boolean {
    return this.held.has(seq);
  }
  isClosed(): boolean {
    return this.closed;
  }
  changed(): void {
    this.changes += 1;
  }
  /** The message is acked: it leaves memory. */
  remove(seq: number): void {
    const bytes = this.held.get(seq);
    if (bytes === undefined) throw new Error(`seq ${seq} is not held`);
    this.held.delete(seq);
    this.window.removed(bytes);
  }
  /** Every message in memory is acked: the share is empty. */
  removeAll(): void {
    for (const seq of [...this.held.keys()]) this.remove(seq);
  }
  get admitted(): number[] {
    return this.admits.map((call) => call.seq);
  }
}

function queueWindow(
  options: { budget?: number; floor?: number; memory?: QueueMemory | null; reader?: FakeReader | null } = {},
) {
  const memory =
    options.memory === null
      ? undefined
      : (options.memory ?? new QueueMemory(options.budget ?? 3 * B, options.floor ?? 0));
  const reader = options.reader === null ? undefined : (options.reader ?? new FakeReader());
  const host = new FakeHost();
  const window = new QueueWindow(memory, reader, host);
  host.window = window;
  return { memory: memory as QueueMemory, reader: reader as FakeReader, host, window, tail: window.tail };
}

/** Takes each message as committed, and puts it in the store too. */
function commit(setup: ReturnType<typeof queueWindow>, ...messages: QueueMessage[]): void {
  for (const msg of messages) {
    setup.reader?.store(msg);
    setup.window.take(msg, false);
  }
}

const refill = (window: QueueWindow, retries: { count: number } = { count: 0 }) =>
  window.refill(() => {
    retries.count += 1;
  });

/** Refills and lets the read (unless held) be answered. */
async function refilled(window: QueueWindow, retries?: { count: number }): Promise<void> {
  refill(window, retries);
  await settle();
}

describe("QueueWindow", () => {
  describe("taking committed messages", () => {
    it("takes messages into memory while the share has room, the bound included, then pages the rest", () => {
      const setup = queueWindow({ budget: 2 * B });
      commit(setup, sized(1), sized(2), sized(3));
      expect(setup.host.admitted).toEqual([1, 2]);
      expect(setup.tail).toMatchObject({ from: 3, count: 1, bytes: B });
      expect(setup.memory).toMatchObject({
        heldBytes: 2 * B,
        heldMessages: 2,
        pagedBytes: B,
        pagedMessages: 1,
      });
    });

    it("pages every later message while paging, even one that would fit", () => {
      const setup = queueWindow({ budget: 2 * B });
      commit(setup, sized(1), sized(2), sized(3, 2 * B));
      setup.host.remove(1);
      commit(setup, sized(4, 300));
      expect(setup.host.admitted).toEqual([1, 2]);
      expect(setup.tail.count).toBe(2);
    });

    it("always takes its next message while holding nothing, whatever the others hold", () => {
      const memory = new QueueMemory(2 * B, 0);
      memory.held(2 * B, 2); // another queue holds the whole budget
      const setup = queueWindow({ memory });
      commit(setup, sized(1, 5 * B), sized(2, 300));
      expect(setup.host.admitted).toEqual([1]);
      expect(setup.tail.from).toBe(2);
    });

    it("pages nothing without a store to read the tail back from, and charges nothing to the node's memory", () => {
      const memory = new QueueMemory(B, 0);
      const setup = queueWindow({ memory, reader: null });
      for (let seq = 1; seq <= 5; seq += 1) setup.window.take(sized(seq), false);
      expect(setup.host.admitted).toEqual([1, 2, 3, 4, 5]);
      expect(setup.tail.active).toBe(false);
      expect(memory).toMatchObject({ heldBytes: 0, heldMessages: 0 });
    });

    it("pages nothing without a memory budget", () => {
      const setup = queueWindow({ memory: null });
      commit(setup, sized(1), sized(2));
      expect(setup.host.admitted).toEqual([1, 2]);
      expect(setup.tail.active).toBe(false);
    });
  });

  describe("memory it holds", () => {
    it("asks for a delivery pass when a message leaves memory while paging, not otherwise", () => {
      const setup = queueWindow({ budget: 2 * B });
      commit(setup, sized(1), sized(2));
      setup.host.remove(1);
      expect(setup.host.changes).toBe(0);
      commit(setup, sized(3), sized(4));
      expect(setup.tail.active).toBe(true);
      setup.host.remove(2);
      expect(setup.host.changes).toBe(1);
      expect(setup.memory).toMatchObject({ heldBytes: B, heldMessages: 1 });
    });

    it("gives its whole share and its paged tail back at close, once", () => {
      const setup = queueWindow({ budget: 2 * B });
      commit(setup, sized(1), sized(2), sized(3));
      setup.window.close();
      expect(setup.memory).toMatchObject({ heldBytes: 0, heldMessages: 0, pagedBytes: 0, pagedMessages: 0 });
      expect(setup.tail.active).toBe(false);
      setup.window.close();
      expect(setup.memory).toMatchObject({ heldBytes: 0, heldMessages: 0, pagedBytes: 0, pagedMessages: 0 });
    });
  });

  describe("restoring at claim", () => {
    it("needs a reader", async () => {
      const setup = queueWindow({ reader: null });
      await expect(setup.window.restore(3)).rejects.toThrow("Restoring from the store needs a reader.");
    });

    it("reads the oldest stored messages until the share is full, in one first read of 64", async () => {
      const setup = queueWindow({ budget: 4 * B });
      for (let seq = 1; seq <= 10; seq += 1) setup.reader.store(sized(seq));
      await setup.window.restore(10);
      expect(setup.reader.calls).toEqual([{ afterSeq: 0, limit: 64 }]);
      expect(setup.host.admitted).toEqual([1, 2, 3, 4]);
      expect(setup.tail).toMatchObject({ from: 5, count: 6, bytes: 6 * B });
      expect(setup.memory).toMatchObject({ heldMessages: 4, pagedMessages: 6, pagedBytes: 6 * B });
    });

    it("reads on while there is room, then as many as the room holds, at most 500", async () => {
      const setup = queueWindow({ budget: 10_000 * B });
      for (let seq = 1; seq <= 600; seq += 1) setup.reader.store(sized(seq));
      await setup.window.restore(600);
      expect(setup.reader.calls).toEqual([
        { afterSeq: 0, limit: 64 },
        { afterSeq: 64, limit: 500 },
        { afterSeq: 564, limit: 500 },
      ]);
      expect(setup.host.admitted).toHaveLength(600);
      expect(setup.tail.active).toBe(false);
      expect(setup.memory).toMatchObject({ heldMessages: 600, pagedMessages: 0, pagedBytes: 0 });
    });

    it("leaves paging when the store holds fewer messages than counted", async () => {
      const setup = queueWindow({ budget: 100 * B });
      setup.reader.store(sized(1), sized(2), sized(3));
      await setup.window.restore(10);
      expect(setup.reader.calls).toHaveLength(1);
      expect(setup.host.admitted).toEqual([1, 2, 3]);
      expect(setup.tail.active).toBe(false);
      expect(setup.memory).toMatchObject({ pagedMessages: 0, pagedBytes: 0 });
    });

    it("stops reading when a read admits nothing", async () => {
      const setup = queueWindow({ budget: 100 * B });
      setup.tail.appendStarted(4, 4); // keeps a short read from ending paging
      await setup.window.restore(3);
      expect(setup.reader.calls).toHaveLength(1);
      expect(setup.tail).toMatchObject({ active: true, count: 3 });
    });

    it("reads nothing for a queue closed meanwhile", async () => {
      const setup = queueWindow({ budget: 100 * B });
      setup.reader.store(sized(1));
      setup.host.closed = true;
      await setup.window.restore(1);
      expect(setup.reader.calls).toEqual([]);
    });

    it("admits a message delivered before as returned", async () => {
      const setup = queueWindow({ budget: 100 * B });
      setup.reader.store(sized(1, B, { deliveries: 2 }), sized(2), sized(3, B, { deliveries: 1 }));
      await setup.window.restore(3);
      expect(setup.host.admits).toEqual([
        { seq: 1, returned: true, bytes: B },
        { seq: 2, returned: false, bytes: B },
        { seq: 3, returned: true, bytes: B },
      ]);
    });

    it("skips a stored message the queue already holds", async () => {
      const setup = queueWindow({ budget: 3 * B });
      setup.reader.store(sized(1), sized(2), sized(3), sized(4), sized(5));
      setup.host.held.set(2, 0);
      await setup.window.restore(5);
      expect(setup.host.admitted).toEqual([1, 3, 4]);
      expect(setup.tail).toMatchObject({ from: 5, count: 2 });
    });
  });

  describe("reading the paged tail back", () => {
    /** Two messages in memory (the whole share), `paged` more in the store only. */
    function paging(paged: number, options: { budget?: number } = {}) {
      const setup = queueWindow({ budget: options.budget ?? 2 * B });
      for (let seq = 1; seq <= 2 + paged; seq += 1) commit(setup, sized(seq));
      return setup;
    }

    it("reads the next messages once the share has room for the whole tail, and admits them in seq order", async () => {
      const setup = paging(2);
      setup.host.remove(1);
      await refilled(setup.window);
      expect(setup.reader.calls).toEqual([]);
      setup.host.remove(2);
      await refilled(setup.window);
      expect(setup.reader.calls).toEqual([{ afterSeq: 2, limit: 2 }]);
      expect(setup.host.admitted).toEqual([1, 2, 3, 4]);
      expect(setup.tail.active).toBe(false);
      expect(setup.memory).toMatchObject({ heldMessages: 2, pagedMessages: 0, pagedBytes: 0 });
      expect(setup.host.changes).toBe(3);
    });

    it("reads as many as the room holds at the tail's average size", async () => {
      const setup = paging(5, { budget: 3 * B + 500 });
      expect(setup.host.admitted).toEqual([1, 2, 3]);
      setup.host.removeAll();
      await refilled(setup.window);
      expect(setup.reader.calls).toEqual([{ afterSeq: 3, limit: 3 }]);
      expect(setup.host.admitted).toEqual([1, 2, 3, 4, 5, 6]);
      expect(setup.tail).toMatchObject({ active: true, from: 7, count: 1 });
    });

    it("reads one message when the node's memory has no room and the queue holds nothing", async () => {
      const memory = new QueueMemory(2 * B, 0);
      const setup = queueWindow({ memory });
      commit(setup, sized(1), sized(2), sized(3), sized(4));
      memory.held(2 * B, 2); // another queue takes the room
      setup.host.removeAll();
      await refilled(setup.window);
      expect(setup.reader.calls).toEqual([{ afterSeq: 2, limit: 1 }]);
      expect(setup.host.admitted).toEqual([1, 2, 3]);
    });

    it("with the tail's size past 1 MiB, reads once the share has room for 1 MiB, not before", async () => {
      const memory = new QueueMemory(3 * MiB, 0);
      const setup = queueWindow({ memory });
      commit(setup, sized(1, MiB), sized(2, 2 * MiB), sized(3, MiB), sized(4, MiB));
      expect(setup.tail).toMatchObject({ from: 3, bytes: 2 * MiB });
      memory.held(1, 0); // room for 1 MiB less one byte once seq 1 goes
      setup.host.remove(1);
      await refilled(setup.window);
      expect(setup.reader.calls).toEqual([]);
      memory.held(-1, 0);
      await refilled(setup.window);
      expect(setup.host.admitted).toEqual([1, 2, 3]);
    });

    it("takes the first message read even past the room", async () => {
      const memory = new QueueMemory(3 * MiB, 0);
      const setup = queueWindow({ memory });
      commit(setup, sized(1, MiB + B), sized(2, 2 * MiB), sized(3, B), sized(4, 2 * MiB));
      expect(setup.host.admitted).toEqual([1]);
      refill(setup.window); // room: 2 MiB less B, tail bytes past 1 MiB
      await settle();
      expect(setup.host.admitted).toEqual([1, 2]);
      expect(setup.tail).toMatchObject({ from: 3, count: 2 });
    });

    it("stays paged when a message is paged while the read is out", async () => {
      const setup = paging(1);
      setup.reader.hold();
      setup.host.removeAll();
      await refilled(setup.window);
      commit(setup, sized(4));
      setup.reader.release();
      await settle();
      expect(setup.host.admitted).toEqual([1, 2, 3]);
      expect(setup.tail).toMatchObject({ active: true, from: 4, count: 1 });
      setup.host.remove(3);
      await refilled(setup.window);
      expect(setup.host.admitted).toEqual([1, 2, 3, 4]);
      expect(setup.tail.active).toBe(false);
    });

    it("stays paged after a read that returned as many rows as it asked for", async () => {
      const setup = paging(3);
      setup.host.removeAll();
      await refilled(setup.window);
      expect(setup.reader.calls).toEqual([{ afterSeq: 2, limit: 2 }]);
      expect(setup.host.admitted).toEqual([1, 2, 3, 4]);
      expect(setup.tail).toMatchObject({ active: true, from: 5, count: 1 });
    });

    it("admits no seq whose commit is still unanswered, and the commit's answer takes it", async () => {
      const setup = paging(1);
      setup.tail.appendStarted(4, 5);
      setup.reader.store(sized(4), sized(5));
      setup.host.removeAll();
      await refilled(setup.window);
      expect(setup.host.admitted).toEqual([1, 2, 3]);
      setup.tail.appendEnded(4);
      setup.window.take(sized(4), false);
      setup.window.take(sized(5), false);
      expect(setup.host.admitted).toEqual([1, 2, 3, 4]);
      expect(setup.tail).toMatchObject({ from: 5, count: 1 });
    });

    it("reads one at a time", async () => {
      const setup = paging(3);
      setup.reader.hold();
      setup.host.removeAll();
      refill(setup.window);
      await refilled(setup.window);
      expect(setup.reader.calls).toHaveLength(1);
      setup.reader.release();
      await settle();
      expect(setup.host.admitted).toEqual([1, 2, 3, 4]);
      setup.host.removeAll();
      await refilled(setup.window);
      expect(setup.reader.calls).toHaveLength(2);
      expect(setup.host.admitted).toEqual([1, 2, 3, 4, 5]);
    });

    it("calls retry when a read fails, and reads again on the next refill", async () => {
      const setup = paging(2);
      const retries = { count: 0 };
      setup.reader.failNext = true;
      setup.host.removeAll();
      await refilled(setup.window, retries);
      expect(retries.count).toBe(1);
      expect(setup.tail).toMatchObject({ active: true, count: 2 });
      await refilled(setup.window, retries);
      expect(setup.host.admitted).toEqual([1, 2, 3, 4]);
      expect(retries.count).toBe(1);
    });

    it("does nothing with a read that resolves after the queue closed", async () => {
      const setup = paging(2);
      setup.reader.hold();
      setup.host.removeAll();
      await refilled(setup.window);
      const changes = setup.host.changes;
      setup.host.closed = true;
      setup.reader.release();
      await settle();
      expect(setup.host.admitted).toEqual([1, 2]);
      expect(setup.host.changes).toBe(changes);
    });

    it("does nothing with a read that resolves after the window closed", async () => {
      const setup = paging(2);
      setup.reader.hold();
      setup.host.removeAll();
      await refilled(setup.window);
      setup.window.close();
      setup.reader.release();
      await settle();
      expect(setup.host.admitted).toEqual([1, 2]);
      expect(setup.memory).toMatchObject({ heldMessages: 0, pagedMessages: 0 });
    });

    it("reads nothing for a queue that is closed or not paging", async () => {
      const notPaging = queueWindow();
      commit(notPaging, sized(1));
      notPaging.host.remove(1);
      refill(notPaging.window);
      const closed = paging(2);
      closed.host.removeAll();
      closed.host.closed = true;
      refill(closed.window);
      await settle();
      expect(notPaging.reader.calls).toEqual([]);
      expect(closed.reader.calls).toEqual([]);
    });

    it("leaves paging when its tail is empty and no append is in flight", async () => {
      const setup = paging(1);
      setup.host.removeAll();
      setup.tail.unpage(3, B);
      setup.tail.appendStarted(4, 4);
      refill(setup.window);
      expect(setup.tail.active).toBe(true);
      setup.tail.appendEnded(4);
      refill(setup.window);
      expect(setup.tail.active).toBe(false);
      await settle();
      expect(setup.reader.calls).toEqual([]);
    });
  });
});
