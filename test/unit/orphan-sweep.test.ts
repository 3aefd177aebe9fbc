import { describe, expect, it } from "vitest";
import {
  orphanDeletes,
  orphans,
  sweepEverySeqs,
  sweepReads,
  sweepTargets,
  sweepWindowSeqs,
} from "../../src/store/mysql/orphan-sweep.ts";
import { maxSegmentSeqs } from "../../src/store/mysql/queue-segments.ts";
import { queueMessage } from "../helpers/queue-message.ts";

describe("orphan sweep: which commits sweep", () => {
  it("a removal of a seq at a multiple of sweepEverySeqs, per queue the highest; appends and other seqs never", () => {
    const targets = sweepTargets([
      {
        type: "queue.remove",
        queue: "a",
        epoch: 1,
        seqs: [sweepEverySeqs + 1, 3 * sweepEverySeqs, sweepEverySeqs],
      },
      { type: "queue.remove", queue: "b", epoch: 1, seqs: [sweepEverySeqs - 1, 2 * sweepEverySeqs + 1] },
      {
        type: "queue.append",
        queue: "c",
        epoch: 1,
        messages: [queueMessage(sweepEverySeqs)],
        nextSeq: sweepEverySeqs + 1,
      },
      { type: "queue.remove", queue: "a", epoch: 1, seqs: [2 * sweepEverySeqs] },
    ]);
    expect([...targets]).toEqual([["a", 3 * sweepEverySeqs]]);
  });

  it("reads acks, states, then segments, the segments reaching a span beyond every row read", () => {
    const at = 40 * sweepEverySeqs;
    const reach = maxSegmentSeqs - 1;
    expect(sweepReads("q", at)).toEqual([
      `SELECT first_seq, last_seq FROM queue_acks WHERE queue = 'q' AND first_seq BETWEEN ${at - sweepWindowSeqs - reach} AND ${at + reach}`,
      `SELECT seq FROM queue_message_state WHERE queue = 'q' AND seq BETWEEN ${at - sweepWindowSeqs} AND ${at + reach}`,
      `SELECT first_seq, last_seq FROM queue_segments WHERE queue = 'q' AND first_seq BETWEEN ${at - sweepWindowSeqs - 2 * reach} AND ${at + 2 * reach} ORDER BY first_seq`,
    ]);
  });
});

describe("orphan sweep: what no segment overlaps", () => {
  const segments = [
    [100, 199],
    [300, 1323],
    [2000, 2000],
  ] as const;

  it("an ack row is kept while any segment overlaps it, at either end or across two", () => {
    const acks = [
      [50, 99], // before the first
      [50, 100], // touches the first
      [150, 350], // across two
      [200, 299], // in the gap
      [1323, 1999], // the second's last seq
      [1324, 1999], // the gap before the third
      [2000, 2000],
      [2001, 3000], // above all
    ] as const;
    expect(orphans(acks, [], segments).ackFirsts).toEqual([50, 200, 1324, 2001]);
  });

  it("a state row is kept inside a segment, wherever in it", () => {
    expect(orphans([], [99, 100, 199, 200, 300, 1000, 1323, 1324, 2000, 2001], segments).stateSeqs).toEqual([
      99, 200, 1324, 2001,
    ]);
  });

  it("with no segment everything is an orphan, with no rows nothing is", () => {
    expect(orphans([[1, 5]], [3], [])).toEqual({ ackFirsts: [1], stateSeqs: [3] });
    expect(orphans([], [], segments)).toEqual({ ackFirsts: [], stateSeqs: [] });
  });

  it("deletes by primary key, at most 500 keys a statement, none when there is nothing", () => {
    const keys = Array.from({ length: 1001 }, (_, i) => i + 1);
    const deletes = orphanDeletes("q", { ackFirsts: keys, stateSeqs: [7] });
    expect(deletes.map((sql) => sql.split(" IN ")[0])).toEqual([
      "DELETE FROM queue_acks WHERE queue = 'q' AND first_seq",
      "DELETE FROM queue_acks WHERE queue = 'q' AND first_seq",
      "DELETE FROM queue_acks WHERE queue = 'q' AND first_seq",
      "DELETE FROM queue_message_state WHERE queue = 'q' AND seq",
    ]);
    expect(deletes[2]).toBe("DELETE FROM queue_acks WHERE queue = 'q' AND first_seq IN (1001)");
    expect(orphanDeletes("q", { ackFirsts: [], stateSeqs: [] })).toEqual([]);
  });
});
