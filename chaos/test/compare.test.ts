// `npm run chaos:compare`: two runs of random with seed 7 for 5 minutes plan the same schedule; a
// different seed, or a schedule changed in one fault, is reported as different.
import { describe, expect, test } from "vitest";
import { SeededRandom } from "../../harness/seed.ts";
import { compareSchedules } from "../compare.ts";
import { plannedSchedule } from "../runner.ts";
import { findScenario } from "../scenarios/index.ts";

const random = findScenario("random")!;
const ctx = {
  target: "reference" as const,
  nodes: [1, 2, 3],
  durationMs: 300_000,
  topic: "t",
  partitions: 3,
};
const run = (seed: number, ran: string[] = []) => ({
  scenario: "random",
  target: "reference" as const,
  seed,
  schedule: plannedSchedule(random.schedule(ctx, new SeededRandom(seed).fork("schedule"))),
  faults: ran.map((kind) => ({ kind, description: kind, heal: "", start: "", end: "" })),
});

describe("compareSchedules", () => {
  test("seed 7, 5 minutes, twice: the same schedule, however many faults ran", () => {
    const a = run(7, ["random:x", "random:y"]);
    const b = run(7, ["random:x", "random:y", "random:z"]);
    expect(a.schedule.length).toBe(38); // ceil(300 s / 8 s)
    const c = compareSchedules(a, b);
    expect(c).toMatchObject({ same: true, differences: [], planned: [38, 38], ran: [2, 3], ranAlike: 2 });
  });

  test("a different seed differs", () => {
    const c = compareSchedules(run(7), run(8));
    expect(c.same).toBe(false);
    expect(c.differences.join(" ")).toMatch(/seeds differ: 7 vs 8/);
  });

  test("one changed fault is named", () => {
    const a = run(7);
    const b = run(7);
    b.schedule[5] = { ...b.schedule[5], holdMs: b.schedule[5].holdMs + 1 };
    const c = compareSchedules(a, b);
    expect(c.same).toBe(false);
    expect(c.differences).toEqual([expect.stringMatching(/^fault 6 differs/)]);
  });
});
