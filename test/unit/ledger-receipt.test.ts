import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatReceipt, parseMessageId, parseReceipt, queueTagOf } from "../../src/broker/queue/receipt.ts";
import { QueueCharges, StoredBytes, storedBytesOf } from "../../src/broker/queue/stored-bytes.ts";

// The two small pieces under the queue engine the mutation run found thinly pinned:
// the per-user byte ledger (maxStoredBytesPerUser) and the receipt format.

describe("StoredBytes", () => {
  it("admits a publisher up to exactly the limit, and not one byte more, all or none", () => {
    const ledger = new StoredBytes(100);
    ledger.reserve(new Map([["alice", 60]]));
    ledger.reserve(new Map([["alice", 40]]));
    expect(ledger.heldBy("alice")).toBe(100);
    let refused: unknown;
    try {
      ledger.reserve(
        new Map([
          ["bob", 10],
          ["alice", 1],
        ]),
      );
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({
      reason: "STORED_BYTES_EXCEEDED",
      details: { quota: "maxStoredBytesPerUser", limit: 100 },
    });
    expect((refused as Error).message).toContain("100 bytes");
    // None: bob's share of the refused batch was not kept either.
    expect(ledger.heldBy("bob")).toBe(0);
    expect(ledger.heldBy("alice")).toBe(100);
  });

  it("releases down to zero and forgets the publisher, never below", () => {
    const ledger = new StoredBytes(100);
    ledger.reserve(new Map([["alice", 30]]));
    ledger.release("alice", 10);
    expect(ledger.heldBy("alice")).toBe(20);
    ledger.release("alice", 20);
    expect(ledger.heldBy("alice")).toBe(0);
    ledger.release("alice", 5);
    expect(ledger.heldBy("alice")).toBe(0);
    ledger.reserve(new Map([["alice", 100]]));
    expect(ledger.heldBy("alice")).toBe(100);
  });

  it("charges a message its UTF-8 payload plus headers", () => {
    expect(storedBytesOf({ payload: '"é"', headers: null })).toBe(4);
    expect(storedBytesOf({ payload: "1", headers: '{"a":"b"}' })).toBe(10);
  });
});

describe("QueueCharges", () => {
  it("holds each admitted message's charge until it leaves, and gives back a cancelled batch", () => {
    const ledger = new StoredBytes(1000);
    const queue = new QueueCharges(ledger);
    const charges = queue.reserve([
      { publisher: "alice", payload: "12345", headers: null },
      { payload: "xx", headers: null },
      { publisher: "alice", payload: "123", headers: '{"k":"v"}' },
    ]);
    expect(charges).toEqual([{ publisher: "alice", bytes: 5 }, undefined, { publisher: "alice", bytes: 12 }]);
    expect(ledger.heldBy("alice")).toBe(17);
    queue.hold(1, charges[0]);
    queue.hold(2, charges[1]);
    queue.hold(3, charges[2]);
    queue.release(1);
    expect(ledger.heldBy("alice")).toBe(12);
    queue.release(1);
    queue.release(2);
    expect(ledger.heldBy("alice")).toBe(12);
    queue.releaseAll();
    expect(ledger.heldBy("alice")).toBe(0);

    const refused = queue.reserve([{ publisher: "bob", payload: "abc", headers: null }]);
    queue.cancel(refused);
    expect(ledger.heldBy("bob")).toBe(0);
  });

  it("charges nothing without a ledger", () => {
    const queue = new QueueCharges(undefined);
    expect(queue.reserve([{ publisher: "alice", payload: "1", headers: null }])).toEqual([]);
    queue.hold(1, undefined);
    queue.release(1);
    queue.releaseAll();
  });
});

describe("receipts", () => {
  it("round-trip every part, and differ by queue", () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 40 }),
        (epoch, seq, leaseId, queue) => {
          const queueTag = queueTagOf(queue);
          expect(parseReceipt(formatReceipt({ epoch, seq, leaseId, queueTag }))).toEqual({
            epoch,
            seq,
            leaseId,
            queueTag,
          });
        },
      ),
    );
    expect(queueTagOf("orders")).not.toBe(queueTagOf("order"));
    expect(queueTagOf("ab")).not.toBe(queueTagOf("ba"));
    expect(queueTagOf("")).toBe(0x811c9dc5);
  });

  it("refuses anything Aviso could not have issued", () => {
    for (const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "1.2.3.4x!",
      "!1.2.3.4",
      "1.2.3.4 ",
      "A.2.3.4",
      `${"z".repeat(14)}.1.1.1`,
      `1.${"z".repeat(14)}.1.1`,
      `1.1.${"z".repeat(14)}.1`,
      `1.1.1.${"z".repeat(8)}`,
      // Thirteen base-36 digits pass the shape but not the safe-integer check.
      `${"z".repeat(13)}.1.1.1`,
      `1.${"z".repeat(13)}.1.1`,
      `1.1.${"z".repeat(13)}.1`,
    ])
      expect(parseReceipt(bad), bad).toBeUndefined();
    expect(parseReceipt(`${"1".repeat(10)}.1.1.1`)).toBeDefined();
    expect(parseReceipt("a.b.c.zzzzzzz")).toEqual({ epoch: 10, seq: 11, leaseId: 12, queueTag: 36 ** 7 - 1 });
  });

  it("reads a public message id only as a positive decimal", () => {
    expect(parseMessageId("1")).toBe(1);
    expect(parseMessageId("9007199254740991")).toBe(9007199254740991);
    for (const bad of ["0", "01", "-1", "1.5", "x1", "1x", " 1", "1 ", "9999999999999999", ""])
      expect(parseMessageId(bad), bad).toBeUndefined();
  });
});
