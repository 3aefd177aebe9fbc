import { describe, expect, it } from "vitest";
import { seqRanges } from "../../src/store/commit-plan.ts";

describe("seqRanges: acked seqs as inclusive runs, for range deletes", () => {
  it("joins consecutive seqs into runs and keeps lone seqs as runs of one", () => {
    expect(seqRanges([1, 2, 3, 7, 9, 10])).toEqual([
      [1, 3],
      [7, 7],
      [9, 10],
    ]);
  });

  it("sorts and drops repeats first: acks arrive out of order and twice", () => {
    expect(seqRanges([10, 4, 5, 4, 11, 6, 12, 1])).toEqual([
      [1, 1],
      [4, 6],
      [10, 12],
    ]);
  });

  it("answers nothing for nothing, and does not change its input", () => {
    expect(seqRanges([])).toEqual([]);
    const seqs = [3, 1, 2];
    expect(seqRanges(seqs)).toEqual([[1, 3]]);
    expect(seqs).toEqual([3, 1, 2]);
  });
});
