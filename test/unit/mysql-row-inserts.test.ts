import { describe, expect, it } from "vitest";
import { planCommit } from "../../src/store/commit-plan.ts";
import { powerOfTwoParts, preparedInserts } from "../../src/store/mysql/mysql-row-inserts.ts";
import { queueMessage } from "../helpers/queue-message.ts";

function plannedAppend(count: number, payloadChars = 10) {
  const messages = Array.from({ length: count }, (_, i) =>
    queueMessage(i + 1, { payload: JSON.stringify("x".repeat(payloadChars)) }),
  );
  return planCommit([{ type: "queue.append", queue: "q", epoch: 1, messages, nextSeq: count + 1 }], {
    queues: new Map([["q", 1]]),
    topics: new Map(),
  });
}

describe("prepared row inserts: power-of-two row counts, every row once, in order", () => {
  it("splits a count into its powers of two, largest first", () => {
    expect(powerOfTwoParts(250)).toEqual([128, 64, 32, 16, 8, 2]);
    expect(powerOfTwoParts(1)).toEqual([1]);
    expect(powerOfTwoParts(256)).toEqual([256]);
    expect(powerOfTwoParts(0)).toEqual([]);
  });

  it("sends 600 rows as 256 + 256 + 64 + 16 + 8, every seq once and in order, 8 values a row", () => {
    const inserts = [...preparedInserts(plannedAppend(600))];
    expect(inserts.map((insert) => insert.values.length / 8)).toEqual([256, 256, 64, 16, 8]);
    for (const insert of inserts) {
      expect(insert.sql.match(/\(\?, \?, \?, \?, \?, \?, \?, \?\)/g)?.length).toBe(insert.values.length / 8);
    }
    const seqs = inserts.flatMap((insert) => insert.values.filter((_, i) => i % 8 === 1));
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
  });

  it("keeps one execute's parameters under 4 MiB: 40 rows of 100 KB go in several executes", () => {
    const inserts = [...preparedInserts(plannedAppend(40, 100_000))];
    expect(inserts.length).toBeGreaterThan(1);
    for (const insert of inserts) {
      const bytes = insert.values.reduce<number>((sum, v) => sum + (typeof v === "string" ? v.length : 8), 0);
      expect(bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    }
    expect(inserts.reduce((rows, insert) => rows + insert.values.length / 8, 0)).toBe(40);
  });
});
