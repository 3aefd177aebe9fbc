import { describe, expect, it } from "vitest";
import { packOps, textBytesFor, unpackOps } from "../../src/store/commit-wire.ts";
import type { WriteOp } from "../../src/store/store.ts";

/** Every op type, with the texts and numbers that are easy to get wrong. */
const ops: WriteOp[] = [
  {
    type: "queue.append",
    queue: "q-é",
    epoch: 3,
    messages: [
      {
        seq: 7,
        payload: '{"a":"ünï 𝄞 code"}',
        headers: '{"h":"v"}',
        publishedAt: 1_700_000_000_123,
        availableAt: 1_700_000_000_500,
        expiresAt: null,
        deliveries: 0,
      },
      {
        seq: 8,
        payload: '""',
        headers: null,
        publishedAt: 1_700_000_000_124,
        availableAt: 1_700_000_000_124,
        expiresAt: 1_700_000_060_124,
        deliveries: 2,
      },
    ],
    nextSeq: 9,
    idempotency: [{ kind: "queue", resource: "q-é", key: "k", result: '"7"', expiresAt: 5 }],
    cursor: { topic: "t", nextOffset: 4 },
  },
  { type: "queue.remove", queue: "q-é", epoch: 3, seqs: [7, 8] },
  { type: "queue.update", queue: "q", epoch: 1, changes: [{ seq: 1, deliveries: 1, availableAt: 9 }] },
  { type: "queue.append", queue: "empty", epoch: 1, messages: [], nextSeq: 1 },
  {
    type: "topic.append",
    topic: "t",
    epoch: 2,
    messages: [
      { offset: 4, key: "", payload: "null", headers: null, publishedAt: 10 },
      { offset: 5, key: "a.b.ç", payload: '[1,"≠"]', headers: '{"x":"😀"}', publishedAt: 11 },
    ],
    nextOffset: 6,
    idempotency: [],
  },
  { type: "topic.trim", topic: "t", epoch: 2, beforeOffset: 3 },
];

describe("commit wire: ops packed for the commit thread", () => {
  it("unpacks to the ops it packed, every type and field", () => {
    const packed = packOps(ops, new ArrayBuffer(textBytesFor(ops)));
    expect(unpackOps(structuredClone(packed))).toEqual(ops);
  });

  it("clones only resource names, each once, and the extras of the ops that have them", () => {
    const packed = packOps(ops, new ArrayBuffer(textBytesFor(ops)));
    expect(packed.names).toEqual(["q-é", "q", "empty", "t"]);
    expect(packed.extras.map(([i]) => i)).toEqual([0, 4]);
    const cloned = JSON.stringify([packed.names, packed.extras]);
    expect(cloned).not.toContain("ünï");
    expect(cloned).not.toContain("😀");
  });

  it("refuses numbers that name no op type instead of guessing", () => {
    const packed = packOps(
      [{ type: "topic.trim", topic: "t", epoch: 1, beforeOffset: 2 }],
      new ArrayBuffer(0),
    );
    packed.numbers[0] = 9;
    expect(() => unpackOps(packed)).toThrow(/unknown op type/);
  });

  it("bounds the text at 3 bytes per UTF-16 unit, enough for any text", () => {
    const worst: WriteOp[] = [
      {
        type: "topic.append",
        topic: "t",
        epoch: 1,
        messages: [{ offset: 0, key: "€€", payload: '"\uffff\u0800"', headers: '{"€":"€"}', publishedAt: 1 }],
        nextOffset: 1,
      },
    ];
    const bound = textBytesFor(worst);
    expect(bound).toBe((2 + 4 + 9) * 3);
    expect(unpackOps(packOps(worst, new ArrayBuffer(bound)))).toEqual(worst);
  });

  it("measures a large batch's texts exactly instead of reserving 3 bytes per unit", () => {
    const payload = `"${"x".repeat(1_500_000)}é€"`;
    const large: WriteOp[] = [
      {
        type: "queue.append",
        queue: "q",
        epoch: 1,
        messages: [
          { seq: 1, payload, headers: null, publishedAt: 1, availableAt: 1, expiresAt: null, deliveries: 0 },
        ],
        nextSeq: 2,
      },
    ];
    const bytes = textBytesFor(large);
    expect(bytes).toBe(1_500_000 + 2 + 2 + 3);
    expect(unpackOps(packOps(large, new ArrayBuffer(bytes)))).toEqual(large);
  });

  it("refuses to pack into a buffer too small for the texts instead of cutting one short", () => {
    expect(() => packOps(ops, new ArrayBuffer(textBytesFor(ops) / 3 - 1))).toThrow(/too small/);
  });

  it("reuses a larger buffer left from an earlier batch: stale bytes past the texts are never read", () => {
    const text = new ArrayBuffer(4096);
    new Uint8Array(text).fill(0x41);
    const packed = packOps(ops, text);
    expect(packed.text).toBe(text);
    expect(unpackOps(packed)).toEqual(ops);
  });
});
