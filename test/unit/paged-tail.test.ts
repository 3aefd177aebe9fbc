import { describe, expect, it } from "vitest";
import { PagedTail } from "../../src/broker/queue/paged-tail.ts";
import { QueueMemory } from "../../src/broker/queue/queue-memory.ts";

function pagedTail() {
  const memory = new QueueMemory(1_000_000, 0);
  return { memory, tail: new PagedTail(memory) };
}

describe("PagedTail", () => {
  it("is inactive and holds no seq until a message is paged", () => {
    const { tail } = pagedTail();
    expect(tail.active).toBe(false);
    expect(tail.holds(1)).toBe(false);
    expect(tail.from).toBeNull();
  });

  it("holds every seq from the first paged one on, not those before it", () => {
    const { tail } = pagedTail();
    tail.page(5, 100);
    tail.page(6, 100);
    expect(tail.from).toBe(5);
    expect(tail.active).toBe(true);
    expect([tail.holds(4), tail.holds(5), tail.holds(6), tail.holds(99)]).toEqual([false, true, true, true]);
  });

  it("counts paged messages and their bytes, mirrored into the node's memory, with every page an arrival", () => {
    const { tail, memory } = pagedTail();
    tail.page(1, 100);
    tail.page(2, 300);
    expect(tail).toMatchObject({
      count: 2,
      bytes: 400,
      arrivals: 2,
    });
    expect(memory).toMatchObject({ pagedMessages: 2, pagedBytes: 400, heldMessages: 0, heldBytes: 0 });
    expect(tail.averageBytes()).toBe(200);
  });

  it("moves its start past a message read back and gives its count and bytes back", () => {
    const { tail, memory } = pagedTail();
    tail.page(1, 100);
    tail.page(2, 300);
    tail.unpage(1, 100);
    expect(tail).toMatchObject({
      from: 2,
      count: 1,
      bytes: 300,
    });
    expect(memory).toMatchObject({ pagedMessages: 1, pagedBytes: 300 });
    // Unpaging is not an arrival.
    expect(tail.arrivals).toBe(2);
  });

  it("on leave gives every paged message back and stops holding seqs", () => {
    const { tail, memory } = pagedTail();
    tail.page(1, 100);
    tail.page(2, 300);
    tail.leave();
    expect(tail).toMatchObject({
      active: false,
      count: 0,
      bytes: 0,
    });
    expect(memory).toMatchObject({ pagedMessages: 0, pagedBytes: 0 });
    expect(tail.holds(2)).toBe(false);
    // Paging again starts at the new seq.
    tail.page(7, 50);
    expect(tail.from).toBe(7);
  });

  it("never counts below zero messages or bytes", () => {
    const { tail, memory } = pagedTail();
    tail.page(1, 100);
    tail.unpage(1, 100);
    tail.unpage(2, 100);
    expect(tail).toMatchObject({ count: 0, bytes: 0 });
    expect(memory).toMatchObject({ pagedMessages: 0, pagedBytes: 0 });
  });

  it("has no average size while empty", () => {
    const { tail } = pagedTail();
    expect(tail.averageBytes()).toBeUndefined();
  });

  describe("after a claim", () => {
    it("counts the stored messages from seq 1 with their bytes not known until a read is sampled", () => {
      const { tail, memory } = pagedTail();
      tail.restore(4);
      expect(tail).toMatchObject({
        from: 1,
        count: 4,
        bytes: 0,
      });
      expect(memory).toMatchObject({ pagedMessages: 4, pagedBytes: 0 });
      expect(tail.averageBytes()).toBeUndefined();
      // A claim is not an arrival: a read may still trust its end.
      expect(tail.arrivals).toBe(0);
    });

    it("stays inactive when the store holds nothing", () => {
      const { tail, memory } = pagedTail();
      tail.restore(0);
      expect(tail.active).toBe(false);
      expect(tail.averageBytes()).toBeUndefined();
      tail.page(3, 100);
      // Bytes stay known: a restore of nothing does not make them unknown.
      expect(tail.averageBytes()).toBe(100);
      expect(memory.pagedMessages).toBe(1);
    });

    it("estimates the tail's bytes from the first read's average size, rounded, once", () => {
      const { tail, memory } = pagedTail();
      tail.restore(3);
      tail.sampled([100, 101]);
      // 100.5 × 3 = 301.5
      expect(tail.bytes).toBe(302);
      expect(memory.pagedBytes).toBe(302);
      expect(tail.averageBytes()).toBeCloseTo(302 / 3);
      tail.sampled([1000]);
      expect(tail.bytes).toBe(302);
    });

    it("keeps the bytes unknown when a read returned nothing", () => {
      const { tail } = pagedTail();
      tail.restore(3);
      tail.sampled([]);
      expect(tail.averageBytes()).toBeUndefined();
      expect(tail.bytes).toBe(0);
      tail.sampled([10]);
      expect(tail.bytes).toBe(30);
    });

    it("ignores samples while the bytes are known (messages paged one by one)", () => {
      const { tail } = pagedTail();
      tail.page(1, 100);
      tail.sampled([5000]);
      expect(tail.bytes).toBe(100);
    });

    it("drops the estimate to zero when the last message is read back, and never below zero", () => {
      const { tail, memory } = pagedTail();
      tail.restore(2);
      tail.sampled([100]);
      tail.unpage(1, 50);
      expect(tail).toMatchObject({ count: 1, bytes: 150 });
      tail.unpage(2, 50);
      // The estimate said 200 bytes, only 100 came back: nothing is left.
      expect(tail).toMatchObject({ count: 0, bytes: 0 });
      expect(memory).toMatchObject({ pagedMessages: 0, pagedBytes: 0 });

      tail.restore(2);
      tail.sampled([10]);
      tail.unpage(1, 500);
      expect(tail).toMatchObject({ count: 1, bytes: 0 });
      expect(memory).toMatchObject({ pagedMessages: 1, pagedBytes: 0 });
    });

    it("knows the bytes again after leaving", () => {
      const { tail } = pagedTail();
      tail.restore(3);
      tail.leave();
      tail.page(9, 100);
      expect(tail.averageBytes()).toBe(100);
    });
  });

  describe("appends not yet answered", () => {
    it("tracks a batch from its start until its commit is answered", () => {
      const { tail } = pagedTail();
      expect(tail.appendsInFlight).toBe(false);
      expect(tail.firstUnanswered()).toBe(Number.POSITIVE_INFINITY);
      tail.appendStarted(4, 4);
      expect(tail.appendsInFlight).toBe(true);
      expect(tail.firstUnanswered()).toBe(4);
      tail.appendEnded(4);
      expect(tail.appendsInFlight).toBe(false);
      expect(tail.firstUnanswered()).toBe(Number.POSITIVE_INFINITY);
    });

    it("does not track an empty batch", () => {
      const { tail } = pagedTail();
      tail.appendStarted(4, 3);
      expect(tail.appendsInFlight).toBe(false);
    });

    it("limits reads below the lowest unanswered batch, whatever order they started in", () => {
      const { tail } = pagedTail();
      tail.appendStarted(10, 12);
      tail.appendStarted(5, 6);
      tail.appendStarted(7, 9);
      expect(tail.firstUnanswered()).toBe(5);
      tail.appendEnded(5);
      expect(tail.firstUnanswered()).toBe(7);
    });

    it("forgets only the batch whose commit was answered", () => {
      const { tail } = pagedTail();
      tail.appendStarted(1, 2);
      tail.appendStarted(3, 3);
      tail.appendEnded(99);
      expect(tail.firstUnanswered()).toBe(1);
      tail.appendEnded(1);
      expect(tail.firstUnanswered()).toBe(3);
      tail.appendEnded(99);
      expect(tail.appendsInFlight).toBe(true);
      tail.appendEnded(3);
      expect(tail.appendsInFlight).toBe(false);
    });
  });
});
