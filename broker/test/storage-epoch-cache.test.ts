import { describe, expect, it } from "vitest";
import { LeaderEpochCache } from "../storage/leader-epoch-cache.ts";

describe("LeaderEpochCache", () => {
  it("ignores repeats and drops conflicting entries on assign", () => {
    const c = new LeaderEpochCache();
    c.assign(1, 0);
    c.assign(1, 5);
    c.assign(2, 10);
    c.assign(4, 20);
    expect(c.all).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 10 },
      { epoch: 4, startOffset: 20 },
    ]);
    // A new epoch starting before existing ones replaces them.
    c.assign(5, 15);
    expect(c.all).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 10 },
      { epoch: 5, startOffset: 15 },
    ]);
  });

  it("truncates from the end and from the start", () => {
    const c = new LeaderEpochCache([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 10 },
      { epoch: 3, startOffset: 20 },
    ]);
    c.truncateFromStart(12);
    expect(c.all).toEqual([
      { epoch: 2, startOffset: 12 },
      { epoch: 3, startOffset: 20 },
    ]);
    c.truncateFromEnd(20);
    expect(c.all).toEqual([{ epoch: 2, startOffset: 12 }]);
  });

  it("answers OffsetForLeaderEpoch like Kafka", () => {
    const c = new LeaderEpochCache([
      { epoch: 2, startOffset: 5 },
      { epoch: 4, startOffset: 9 },
    ]);
    expect(c.endOffsetFor(4, 12)).toEqual({ epoch: 4, endOffset: 12 });
    expect(c.endOffsetFor(3, 12)).toEqual({ epoch: 2, endOffset: 9 });
    expect(c.endOffsetFor(1, 12)).toEqual({ epoch: 1, endOffset: 5 });
    expect(c.endOffsetFor(7, 12)).toEqual({ epoch: -1, endOffset: -1 });
    expect(c.endOffsetFor(-1, 12)).toEqual({ epoch: -1, endOffset: -1 });
    expect(new LeaderEpochCache().endOffsetFor(0, 3)).toEqual({ epoch: -1, endOffset: -1 });
    expect(c.epochForOffset(8)).toBe(2);
    expect(c.epochForOffset(4)).toBe(-1);
  });

  it("round-trips Kafka's checkpoint text format", () => {
    const c = new LeaderEpochCache([
      { epoch: 0, startOffset: 0 },
      { epoch: 3, startOffset: 42 },
    ]);
    expect(c.serialize()).toBe("0\n2\n0 0\n3 42\n");
    expect(LeaderEpochCache.parse(c.serialize(), "x").all).toEqual(c.all);
    expect(() => LeaderEpochCache.parse("0\n3\n0 0\n", "x")).toThrow(/entry count/);
    expect(() => LeaderEpochCache.parse("1\n0\n", "x")).toThrow(/version/);
  });
});
