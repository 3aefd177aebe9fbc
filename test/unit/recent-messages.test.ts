import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RecentMessages } from "../../src/broker/topic/recent-messages.ts";
import type { TopicMessage } from "../../src/broker/types.ts";

const message = (offset: number, publishedAt = offset * 10): TopicMessage => ({
  offset,
  key: "k",
  payload: String(offset),
  headers: null,
  publishedAt,
});
const range = (from: number, to: number): TopicMessage[] =>
  Array.from({ length: to - from }, (_, i) => message(from + i));
const offsets = (messages: readonly TopicMessage[] | undefined) => messages?.map((m) => m.offset);

describe("RecentMessages", () => {
  it("holds nothing when empty", () => {
    const recent = new RecentMessages(3);
    expect(recent.size).toBe(0);
    expect(recent.firstOffset).toBeUndefined();
    expect(recent.oldest()).toBeUndefined();
    expect(recent.readFrom(0, 10)).toBeUndefined();
    expect(recent.firstPublishedAfter(-1)).toBeUndefined();
  });

  it("keeps only the newest `capacity` messages", () => {
    const recent = new RecentMessages(3);
    recent.append(range(5, 7));
    expect(recent.size).toBe(2);
    expect(recent.firstOffset).toBe(5);
    recent.append(range(7, 10));
    expect(recent.size).toBe(3);
    expect(recent.firstOffset).toBe(7);
    expect(recent.oldest()).toEqual(message(7));
    expect(offsets(recent.readFrom(7, 10))).toEqual([7, 8, 9]);
  });

  it("reads from an offset it holds, at most `limit`, and not from one before its window", () => {
    const recent = new RecentMessages(10);
    recent.append(range(20, 26));
    expect(offsets(recent.readFrom(22, 2))).toEqual([22, 23]);
    expect(offsets(recent.readFrom(24, 100))).toEqual([24, 25]);
    expect(recent.readFrom(26, 5)).toEqual([]);
    expect(recent.readFrom(19, 5)).toBeUndefined();
  });

  it("trims messages before an offset, and nothing for an offset at or before its first", () => {
    const recent = new RecentMessages(10);
    recent.append(range(20, 26));
    recent.trimBefore(20);
    recent.trimBefore(3);
    expect(recent.firstOffset).toBe(20);
    expect(recent.size).toBe(6);
    recent.trimBefore(22);
    expect(recent.firstOffset).toBe(22);
    expect(offsets(recent.readFrom(22, 10))).toEqual([22, 23, 24, 25]);
    recent.trimBefore(100);
    expect(recent.size).toBe(0);
    expect(recent.firstOffset).toBeUndefined();
    recent.append(range(26, 28));
    expect(offsets(recent.readFrom(26, 10))).toEqual([26, 27]);
  });

  it("ignores a trim while empty", () => {
    const recent = new RecentMessages(10);
    recent.trimBefore(5);
    recent.append(range(0, 2));
    expect(recent.firstOffset).toBe(0);
    expect(offsets(recent.readFrom(0, 10))).toEqual([0, 1]);
  });

  it("finds the first message published strictly after a cutoff", () => {
    const recent = new RecentMessages(10);
    recent.append(range(0, 5)); // published at 0, 10, 20, 30, 40
    expect(recent.firstPublishedAfter(20)).toBe(3);
    expect(recent.firstPublishedAfter(19)).toBe(2);
    expect(recent.firstPublishedAfter(-1)).toBe(0);
    expect(recent.firstPublishedAfter(40)).toBeUndefined();
    recent.trimBefore(2);
    expect(recent.firstPublishedAfter(0)).toBe(2);
  });

  it("stays correct across many evictions (past its internal compaction)", () => {
    const recent = new RecentMessages(10);
    for (let offset = 0; offset < 3000; offset += 1) {
      recent.append([message(offset)]);
      expect(recent.firstOffset).toBe(Math.max(0, offset - 9));
    }
    expect(offsets(recent.readFrom(2990, 100))).toEqual(range(2990, 3000).map((m) => m.offset));
    expect(recent.oldest()).toEqual(message(2990));
  });

  it("keeps only the newest messages that fit its byte bound, and always the newest one", () => {
    // Each message below weighs key (1) + payload (2 digits) = 3 bytes.
    const recent = new RecentMessages(100, 9);
    recent.append(range(10, 13));
    expect(recent.bytes).toBe(9);
    expect(recent.firstOffset).toBe(10);
    recent.append(range(13, 15));
    expect(recent.bytes).toBe(9);
    expect(offsets(recent.readFrom(12, 10))).toEqual([12, 13, 14]);
    expect(recent.readFrom(11, 10)).toBeUndefined();
    const big: TopicMessage = { ...message(15), payload: "x".repeat(50), headers: '{"h":1}' };
    recent.append([big]);
    expect(offsets(recent.readFrom(15, 10))).toEqual([15]);
    expect(recent.bytes).toBe(1 + 50 + 7);
    recent.trimBefore(16);
    expect(recent.bytes).toBe(0);
  });

  it("counts the bytes of what it holds across trims and evictions", () => {
    const recent = new RecentMessages(3, 1000);
    recent.append(range(10, 15)); // holds 12, 13, 14
    expect(recent.bytes).toBe(9);
    recent.trimBefore(14);
    expect(recent.bytes).toBe(3);
  });

  it("behaves like a model window over the contiguous log", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("append" as const), count: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant("trim" as const), back: fc.integer({ min: -5, max: 60 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.array(op, { maxLength: 80 }),
        fc.integer({ min: 0, max: 50 }),
        fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
        (capacity, ops, limit, byteBound) => {
          const recent = new RecentMessages(capacity, byteBound ?? Number.POSITIVE_INFINITY);
          const weight = (offset: number) => 1 + String(offset).length;
          let next = 0;
          let first = 0; // model window: [first, next)
          for (const step of ops) {
            if (step.kind === "append") {
              recent.append(range(next, next + step.count));
              next += step.count;
              first = Math.max(first, next - capacity);
              let held = 0;
              for (let offset = next - 1; offset >= first; offset -= 1) {
                held += weight(offset);
                if (byteBound !== undefined && held > byteBound && offset < next - 1) {
                  first = offset + 1;
                  break;
                }
              }
            } else {
              const before = next - step.back;
              recent.trimBefore(before);
              first = Math.min(next, Math.max(first, before));
            }
            expect(recent.size).toBe(next - first);
            let bytes = 0;
            for (let offset = first; offset < next; offset += 1) bytes += weight(offset);
            expect(recent.bytes).toBe(bytes);
            expect(recent.firstOffset).toBe(first < next ? first : undefined);
            for (const from of [first - 1, first, Math.floor((first + next) / 2), next]) {
              const read = recent.readFrom(from, limit);
              if (first >= next || from < first) expect(read).toBeUndefined();
              else
                expect(offsets(read)).toEqual(range(from, Math.min(next, from + limit)).map((m) => m.offset));
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
