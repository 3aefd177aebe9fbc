import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Fifo } from "../../src/broker/fifo.ts";
import { MinHeap } from "../../src/broker/min-heap.ts";

// The two containers under the queue engine, checked against plain arrays as models over
// random operation sequences long enough to make the FIFO compact its dead prefix (past 1024).

type FifoOp = { kind: "push"; count: number } | { kind: "shift"; count: number } | { kind: "clear" };

const fifoOps = fc.array(
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({ kind: fc.constant("push" as const), count: fc.integer({ min: 1, max: 900 }) }),
    },
    {
      weight: 5,
      arbitrary: fc.record({ kind: fc.constant("shift" as const), count: fc.integer({ min: 1, max: 900 }) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const) }) },
  ),
  { maxLength: 30 },
);

describe("Fifo", () => {
  it("behaves as an array queue: size, peek and shift agree after any pushes, shifts and clears", () => {
    fc.assert(
      fc.property(fifoOps, (ops: FifoOp[]) => {
        const fifo = new Fifo<number>();
        let model: number[] = [];
        let next = 0;
        for (const op of ops) {
          if (op.kind === "clear") {
            fifo.clear();
            model = [];
          } else if (op.kind === "push") {
            for (let i = 0; i < op.count; i++) {
              fifo.push(next);
              model.push(next++);
            }
          } else {
            const shifted: Array<number | undefined> = [];
            for (let i = 0; i < op.count; i++) shifted.push(fifo.shift());
            expect(shifted).toEqual(Array.from({ length: op.count }, () => model.shift()));
          }
          expect(fifo.size).toBe(model.length);
          expect(fifo.peek()).toBe(model[0]);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("keeps order across the compaction of a long dead prefix", () => {
    const fifo = new Fifo<number>();
    for (let i = 0; i < 5000; i++) fifo.push(i);
    for (let i = 0; i < 3000; i++) expect(fifo.shift()).toBe(i);
    expect(fifo.size).toBe(2000);
    for (let i = 5000; i < 6000; i++) fifo.push(i);
    const rest: number[] = [];
    for (let item = fifo.shift(); item !== undefined; item = fifo.shift()) rest.push(item);
    expect(rest).toEqual(Array.from({ length: 3000 }, (_, i) => 3000 + i));
    expect(fifo.shift()).toBeUndefined();
    expect(fifo.size).toBe(0);
  });
});

describe("MinHeap", () => {
  it("pops every pushed item in priority order, whatever the push order and interleaving", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -50, max: 50 }), fc.constant("pop" as const)), {
          maxLength: 200,
        }),
        (ops) => {
          const heap = new MinHeap<{ priority: number }>((item) => item.priority);
          const model: number[] = [];
          for (const op of ops) {
            if (op === "pop") {
              model.sort((a, b) => a - b);
              expect(heap.pop()?.priority).toBe(model.shift());
            } else {
              heap.push({ priority: op });
              model.push(op);
            }
            expect(heap.size).toBe(model.length);
            expect(heap.peek()?.priority).toBe(model.length === 0 ? undefined : Math.min(...model));
          }
          model.sort((a, b) => a - b);
          const drained: number[] = [];
          for (let item = heap.pop(); item !== undefined; item = heap.pop()) drained.push(item.priority);
          expect(drained).toEqual(model);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("is empty after clear", () => {
    const heap = new MinHeap<number>((n) => n);
    for (const n of [5, 3, 9, 1]) heap.push(n);
    heap.clear();
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
    heap.push(4);
    expect(heap.pop()).toBe(4);
  });
});
