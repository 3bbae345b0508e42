// Every chaos scenario, by name. Add a new scenario module here to make it runnable and listed.
import type { Scenario } from "../scenario.ts";
import { controllerKill } from "./controller-kill.ts";
import { followerKill } from "./follower-kill.ts";
import { latency } from "./latency.ts";
import { leaderKill } from "./leader-kill.ts";
import { multiDc } from "./multi-dc.ts";
import { partitionLeaderIsolated, partitionMajority, partitionMinority } from "./partitions.ts";
import { pause } from "./pause.ts";
import { random } from "./random.ts";
import { rollingRestart } from "./rolling-restart.ts";
import { sigtermLeadershipTransfer } from "./sigterm-leadership-transfer.ts";
import { snapshotBootstrap } from "./snapshot-bootstrap.ts";

export const SCENARIOS: readonly Scenario[] = [
  leaderKill,
  followerKill,
  controllerKill,
  sigtermLeadershipTransfer,
  partitionLeaderIsolated,
  partitionMinority,
  partitionMajority,
  latency,
  pause,
  rollingRestart,
  random,
  snapshotBootstrap,
  multiDc,
];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
