// `npm run chaos:compare -- <summary-a.json> <summary-b.json>`: do two chaos runs have the same fault
// schedule? The schedule is planned from the seed before anything runs, so two runs with the same
// scenario, seed and settings must list the same one; how many of its faults ran within --duration
// may differ by timing (reported, not judged). Exit 0 when the schedules match, 1 when not, 2 on bad input.
import { readFileSync } from "node:fs";
import type { ChaosSummary } from "./runner.ts";

type Comparable = Pick<ChaosSummary, "scenario" | "target" | "seed" | "schedule" | "faults">;

export interface ScheduleComparison {
  same: boolean;
  /** One sentence per difference (empty when the schedules match). */
  differences: string[];
  planned: [number, number];
  ran: [number, number];
  /** How many faults ran with the same kind, in the same order, in both runs. */
  ranAlike: number;
}

export function compareSchedules(a: Comparable, b: Comparable): ScheduleComparison {
  const differences: string[] = [];
  if (a.scenario !== b.scenario) differences.push(`scenarios differ: ${a.scenario} vs ${b.scenario}`);
  if (a.seed !== b.seed) differences.push(`seeds differ: ${a.seed} vs ${b.seed}`);
  if (a.schedule.length !== b.schedule.length)
    differences.push(`planned ${a.schedule.length} vs ${b.schedule.length} faults`);
  const n = Math.min(a.schedule.length, b.schedule.length);
  for (let i = 0; i < n; i++) {
    const x = JSON.stringify(a.schedule[i]);
    const y = JSON.stringify(b.schedule[i]);
    if (x !== y) {
      differences.push(`fault ${i + 1} differs: ${a.schedule[i].plan} vs ${b.schedule[i].plan}`);
      break;
    }
  }
  let ranAlike = 0;
  while (
    ranAlike < Math.min(a.faults.length, b.faults.length) &&
    a.faults[ranAlike].kind === b.faults[ranAlike].kind
  )
    ranAlike++;
  return {
    same: differences.length === 0,
    differences,
    planned: [a.schedule.length, b.schedule.length],
    ran: [a.faults.length, b.faults.length],
    ranAlike,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = process.argv.slice(2);
  if (files.length !== 2) {
    console.error("usage: npm run chaos:compare -- <summary-a.json> <summary-b.json>");
    process.exit(2);
  }
  let summaries: Comparable[];
  try {
    summaries = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as Comparable);
  } catch (err) {
    console.error(`chaos:compare: cannot read a summary: ${(err as Error).message}`);
    process.exit(2);
  }
  if (summaries.some((s) => !Array.isArray(s.schedule) || !Array.isArray(s.faults))) {
    console.error("chaos:compare: both files must be chaos summaries (reports/summary/chaos-*.json)");
    process.exit(2);
  }
  const c = compareSchedules(summaries[0], summaries[1]);
  console.log(
    `chaos:compare: ${c.same ? "same fault schedule" : "DIFFERENT fault schedules"} (planned ${c.planned.join(" / ")}; ran ${c.ran.join(" / ")}, the first ${c.ranAlike} alike)`,
  );
  for (const d of c.differences) console.log(`  ${d}`);
  process.exit(c.same ? 0 : 1);
}
