// The runner's pure parts: the check step (mutation: an acknowledged value removed from the drain must
// fail the run), durations, and the leader-kill scenario's schedule and applicability.
import { describe, expect, test } from "vitest";
import type { HistoryEvent } from "../../harness/history/types.ts";
import { SeededRandom } from "../../harness/seed.ts";
import { simulateHistory } from "../../harness/test/support/simulated-history.ts";
import { judge } from "../runner.ts";
import { formatDuration, parseDuration } from "../scenario.ts";
import { leaderKill } from "../scenarios/leader-kill.ts";

const strict = { maxLost: 0, maxDuplicates: 0 };

/** A copy of the history with `value` taken out of the final drain's records. */
function withoutFromDrain(events: HistoryEvent[], value: string): HistoryEvent[] {
  return events.map((e) =>
    e.f === "drain" && e.type === "ok" ? { ...e, values: e.values!.filter((r) => r.value !== value) } : e,
  );
}

describe("the check step", () => {
  const { events } = simulateHistory({ seed: 42, steps: 1500 });

  test("a clean recorded history passes", () => {
    const j = judge(events, strict, { recoveryMs: 1000 });
    expect(j.reasons).toEqual([]);
    expect(j.verdict).toBe("passed");
    expect(j.report.counts.acknowledged).toBeGreaterThan(0);
  });

  test("removing one acknowledged value from the drain fails the run as lost", () => {
    const drain = events.find((e) => e.f === "drain" && e.type === "ok")!;
    const ends = new Map(drain.endOffsets!.map((o) => [o.partition, o.offset]));
    const acked = events.find(
      (e) => e.f === "send" && e.type === "ok" && e.offset! < (ends.get(e.partition!) ?? 0),
    )!;
    expect(drain.values!.some((r) => r.value === acked.value)).toBe(true);

    const j = judge(withoutFromDrain(events, acked.value!), strict, { recoveryMs: 1000 });
    expect(j.verdict).toBe("failed");
    expect(j.report.counts.lost).toBe(1);
    expect(j.report.anomalies.lost.items[0].value).toBe(acked.value);
    expect(j.reasons[0]).toMatch(/^lost: 1 /);
  });

  test("a recovery that never came, or a failed fault schedule, fails an otherwise clean history", () => {
    expect(judge(events, strict, { recoveryMs: null }).verdict).toBe("failed");
    const j = judge(events, strict, { errors: ["fault schedule: node 2 did not restart"] });
    expect(j.verdict).toBe("failed");
    expect(j.reasons).toEqual(["fault schedule: node 2 did not restart"]);
  });

  test("maxStallMs is enforced through the checker's availability measure", () => {
    const j = judge(events, { ...strict, maxStallMs: 0.001 });
    expect(j.verdict).toBe("failed");
    expect(j.reasons.some((r) => r.startsWith("availability:"))).toBe(true);
  });
});

describe("durations", () => {
  test.each([
    ["60s", 60_000],
    ["5m", 300_000],
    ["1m30s", 90_000],
    ["1500ms", 1500],
    ["2h", 7_200_000],
    ["0.5s", 500],
  ])("%s = %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(["", "60", "5x", "-5s", "0s", "s", "5 m", "1m 30s"])(
    "%j is refused with one sentence",
    (text) => {
      expect(() => parseDuration(text)).toThrow(/^Invalid duration .*: expected a positive duration/);
    },
  );

  test("formatting", () => {
    expect(formatDuration(500)).toBe("500ms");
    expect(formatDuration(4400)).toBe("4.4s");
    expect(formatDuration(90_000)).toBe("1m30s");
  });
});

describe("leader-kill", () => {
  const plan = { target: "kafka" as const, nodes: [1, 2, 3], durationMs: 60_000, topic: "t", partitions: 3 };

  test("the schedule is a function of the seed", () => {
    const shape = (seed: number, rounds?: number) =>
      leaderKill
        .schedule({ ...plan, rounds }, new SeededRandom(seed))
        .map((a) => [a.kind, a.delayMs, a.holdMs]);
    expect(shape(7)).toEqual(shape(7));
    expect(shape(7)).not.toEqual(shape(8));
    expect(shape(7, 2)).toHaveLength(2);
    expect(shape(7).length).toBeGreaterThanOrEqual(3);
  });

  test("applies to 3+ started nodes only", () => {
    expect(leaderKill.appliesTo({ name: "kafka", nodes: 3 })).toEqual({ applicable: true });
    const one = leaderKill.appliesTo({ name: "kafka", nodes: 1 });
    expect(one.applicable).toBe(false);
    const external = leaderKill.appliesTo({ name: "external", nodes: 3 });
    expect(external).toMatchObject({ applicable: false, reason: expect.stringMatching(/cannot kill/) });
  });
});
