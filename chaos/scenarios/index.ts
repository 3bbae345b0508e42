// Every chaos scenario, by name. Add a new scenario module here to make it runnable and listed.
import type { Scenario } from "../scenario.ts";
import { leaderKill } from "./leader-kill.ts";

export const SCENARIOS: readonly Scenario[] = [leaderKill];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
