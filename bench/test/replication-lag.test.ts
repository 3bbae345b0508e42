import { describe, expect, test } from "vitest";
import { type LagSample, type PartitionReplicas, replicationLag } from "../replication-lag.ts";

const partitions: PartitionReplicas[] = [
  { key: "t/0", leader: 1, replicas: [1, 2, 3] },
  { key: "t/1", leader: 2, replicas: [2, 3, 1] },
];

/** A round where partition 0's leader holds `l0` bytes and its followers f0; partition 1 is even. */
function sample(atMs: number, l0: number, f0: [number, number], p1 = atMs * 10): LagSample {
  return {
    atMs,
    spreadMs: 2,
    sizes: new Map([
      [
        1,
        new Map([
          ["t/0", l0],
          ["t/1", p1],
        ]),
      ],
      [
        2,
        new Map([
          ["t/0", f0[0]],
          ["t/1", p1],
        ]),
      ],
      [
        3,
        new Map([
          ["t/0", f0[1]],
          ["t/1", p1],
        ]),
      ],
    ]),
  };
}

describe("replicationLag", () => {
  test("takes the slowest follower of the worst partition, in bytes and at the partition's write rate", () => {
    // partition 0 grows 100 bytes/ms over 0..1000 ms; one follower is 500 bytes (5 ms) behind at 500 ms
    const figures = replicationLag(
      [
        sample(0, 0, [0, 0]),
        sample(500, 50_000, [50_000, 49_500]),
        sample(1000, 100_000, [100_000, 100_000]),
      ],
      partitions,
    );
    expect(figures.samples).toBe(3);
    expect(figures.failedSamples).toBe(0);
    expect(figures.bytes.max).toBe(500);
    expect(figures.ms.max).toBe(5);
    expect(figures.ms.p50).toBe(0);
    expect(figures.readSpreadMsMedian).toBe(2);
  });

  test("a follower ahead of the leader's answer (read skew) is no negative lag", () => {
    const figures = replicationLag(
      [sample(0, 0, [0, 0]), sample(1000, 100_000, [100_200, 100_000])],
      partitions,
    );
    expect(figures.bytes.max).toBe(0);
    expect(figures.ms.max).toBe(0);
  });

  test("rounds missing a leader's answer count as failed; no growth gives no time figure", () => {
    const missing: LagSample = { atMs: 500, spreadMs: 1000, sizes: new Map() };
    const figures = replicationLag(
      [sample(0, 1000, [0, 1000], 0), missing, sample(1000, 1000, [0, 1000], 0)],
      partitions,
    );
    expect(figures.samples).toBe(2);
    expect(figures.failedSamples).toBe(1);
    expect(figures.bytes.max).toBe(1000);
    expect(figures.ms.max).toBe(0); // partition 0 never grew: its rate, and so its time lag, are unknown
  });

  test("no samples at all gives zeros, not NaN", () => {
    const figures = replicationLag([], partitions);
    expect(figures).toMatchObject({ samples: 0, bytes: { max: 0 }, ms: { p99: 0 } });
  });
});
