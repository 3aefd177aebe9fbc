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

function plannedTopicAppend(count: number, payloadChars = 10) {
  const messages = Array.from({ length: count }, (_, i) => ({
    offset: i,
    key: "k",
    payload: JSON.stringify("x".repeat(payloadChars)),
    headers: null,
    publishedAt: 1,
  }));
  return planCommit(
    [{ type: "topic.append", topic: "t", epoch: 1, messages, nextOffset: count, idempotency: [] }],
    {
      queues: new Map(),
      topics: new Map([["t", 1]]),
    },
  );
}

/** Bytes of an execute's parameters, strings counted by length. */
const parameterBytes = (values: unknown[]) =>
  values.reduce<number>(
    (sum, v) => sum + (typeof v === "string" ? v.length : Buffer.isBuffer(v) ? v.length : 8),
    0,
  );

describe("prepared row inserts: power-of-two row counts, every row once, in order", () => {
  it("splits a count into its powers of two, largest first", () => {
    expect(powerOfTwoParts(250)).toEqual([128, 64, 32, 16, 8, 2]);
    expect(powerOfTwoParts(1)).toEqual([1]);
    expect(powerOfTwoParts(256)).toEqual([256]);
    expect(powerOfTwoParts(0)).toEqual([]);
  });

  it("sends 600 topic rows as 256 + 256 + 64 + 16 + 8, every offset once and in order, 6 values a row", () => {
    const inserts = [...preparedInserts(plannedTopicAppend(600))];
    expect(inserts.map((insert) => insert.values.length / 6)).toEqual([256, 256, 64, 16, 8]);
    for (const insert of inserts) {
      expect(insert.sql).toMatch(/^INSERT INTO topic_messages /);
      expect(insert.sql.match(/\(\?, \?, \?, \?, \?, \?\)/g)?.length).toBe(insert.values.length / 6);
    }
    const offsets = inserts.flatMap((insert) => insert.values.filter((_, i) => i % 6 === 1));
    expect(offsets).toEqual(Array.from({ length: 600 }, (_, i) => i));
  });

  it("keeps one execute's parameters under 4 MiB: 40 topic rows of 100 KB go in several executes", () => {
    const inserts = [...preparedInserts(plannedTopicAppend(40, 100_000))];
    expect(inserts.length).toBeGreaterThan(1);
    for (const insert of inserts) expect(parameterBytes(insert.values)).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(inserts.reduce((rows, insert) => rows + insert.values.length / 6, 0)).toBe(40);
  });
});

describe("prepared segment inserts: a queue's messages as segments", () => {
  it("sends 600 messages of one queue as one segment row of 5 values", () => {
    const inserts = [...preparedInserts(plannedAppend(600))];
    expect(inserts).toHaveLength(1);
    expect(inserts[0]?.sql).toMatch(/^INSERT INTO queue_segments .* VALUES \(\?, \?, \?, \?, \?\)$/);
    expect(inserts[0]?.values.slice(0, 4)).toEqual(["q", 1, 600, 600]);
  });

  it("keeps one execute's parameters under 4 MiB: 50 messages of 100 KB go in several segments, every seq once", () => {
    const inserts = [...preparedInserts(plannedAppend(50, 100_000))];
    expect(inserts.length).toBeGreaterThan(1);
    for (const insert of inserts) expect(parameterBytes(insert.values)).toBeLessThanOrEqual(4 * 1024 * 1024);
    const spans = inserts.flatMap((insert) => {
      const rows: number[][] = [];
      for (let i = 0; i < insert.values.length; i += 5)
        rows.push([Number(insert.values[i + 1]), Number(insert.values[i + 2])]);
      return rows;
    });
    expect(spans[0]?.[0]).toBe(1);
    expect(spans[spans.length - 1]?.[1]).toBe(50);
    for (let i = 1; i < spans.length; i++) expect(spans[i]?.[0]).toBe((spans[i - 1]?.[1] ?? 0) + 1);
  });
});
