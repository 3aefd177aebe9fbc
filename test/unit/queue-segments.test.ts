import { describe, expect, it } from "vitest";
import type { QueueMessage } from "../../src/broker/types.ts";
import {
  cutRanges,
  decodeSegment,
  maxSegmentSeqs,
  segmentsOf,
} from "../../src/store/mysql/queue-segments.ts";

function message(seq: number, fields: Partial<QueueMessage> = {}): QueueMessage {
  return {
    seq,
    payload: JSON.stringify({ n: seq }),
    headers: null,
    publishedAt: 1_700_000_000_000 + seq,
    availableAt: 1_700_000_000_000 + seq,
    expiresAt: null,
    deliveries: 0,
    ...fields,
  };
}

const bodyOf = (segment: { body: Buffer } | undefined) => segment?.body ?? Buffer.alloc(0);

describe("queue segments: the body", () => {
  it("gives back every field of every message exactly, whatever the payload and headers hold", () => {
    const messages = [
      message(7, { payload: JSON.stringify("plain") }),
      message(8, { payload: JSON.stringify({ text: "naïve café — ☃ 𝄞 😀", nested: [1, "\n\n"] }) }),
      message(9, { headers: JSON.stringify({ "x-trace": "ä😀" }), expiresAt: 1_800_000_000_000 }),
      message(10, { payload: '""', headers: "{}", deliveries: 3, availableAt: 5 }),
      message(11, { payload: JSON.stringify(" \n\n 1 2 3 4 5 6 7 \n") }),
    ];
    const [segment, ...more] = segmentsOf(
      messages.map((m) => ({ queue: "q", message: m })),
      1 << 20,
    );
    expect(more).toEqual([]);
    expect(segment).toMatchObject({ queue: "q", firstSeq: 7, lastSeq: 11, messages: 5 });
    expect(decodeSegment(bodyOf(segment))).toEqual(messages);
  });

  it("refuses a body that is cut short, too long or has no end of its lines, rather than inventing messages", () => {
    const [segment] = segmentsOf([{ queue: "q", message: message(1) }], 1 << 20);
    const body = bodyOf(segment);
    expect(() => decodeSegment(body.subarray(0, body.length - 1))).toThrow(/shorter/);
    expect(() => decodeSegment(Buffer.concat([body, Buffer.from("x")]))).toThrow(/longer/);
    expect(() => decodeSegment(Buffer.from("1 2 3 - 0 5 -"))).toThrow(/end of its message lines/);
    expect(() => decodeSegment(Buffer.from("1 2 3\n\n"))).toThrow(/fields/);
  });
});

describe("queue segments: how a commit's messages are cut", () => {
  it("one segment per queue and run of consecutive seqs, in seq order", () => {
    const inserts = [
      { queue: "a", message: message(2) },
      { queue: "b", message: message(1) },
      { queue: "a", message: message(1) },
      { queue: "a", message: message(3) },
      { queue: "a", message: message(6) },
      { queue: "b", message: message(2) },
    ];
    const segments = segmentsOf(inserts, 1 << 20);
    expect(
      segments.map(({ queue, firstSeq, lastSeq, messages }) => [queue, firstSeq, lastSeq, messages]),
    ).toEqual([
      ["a", 1, 3, 3],
      ["a", 6, 6, 1],
      ["b", 1, 2, 2],
    ]);
    expect(decodeSegment(bodyOf(segments[0])).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it("at most maxSegmentSeqs messages and about maxBytes of body per segment; a larger message stands alone", () => {
    const many = Array.from({ length: maxSegmentSeqs + 10 }, (_, i) => ({
      queue: "q",
      message: message(i + 1),
    }));
    expect(segmentsOf(many, 1 << 30).map((s) => s.messages)).toEqual([maxSegmentSeqs, 10]);

    const big = JSON.stringify("x".repeat(1000));
    const sized = Array.from({ length: 10 }, (_, i) => ({
      queue: "q",
      message: message(i + 1, { payload: big }),
    }));
    const segments = segmentsOf(sized, 3500);
    expect(segments.map((s) => s.messages)).toEqual([3, 3, 3, 1]);
    for (const segment of segments) expect(segment.body.length).toBeLessThanOrEqual(3500);
    expect(segmentsOf([{ queue: "q", message: message(1, { payload: big }) }], 100)).toHaveLength(1);
  });

  it("ack runs are cut to at most maxSegmentSeqs seqs, like segments", () => {
    expect(cutRanges([[1, 3]])).toEqual([[1, 3]]);
    expect(cutRanges([[1, 2 * maxSegmentSeqs + 1]])).toEqual([
      [1, maxSegmentSeqs],
      [maxSegmentSeqs + 1, 2 * maxSegmentSeqs],
      [2 * maxSegmentSeqs + 1, 2 * maxSegmentSeqs + 1],
    ]);
  });
});
