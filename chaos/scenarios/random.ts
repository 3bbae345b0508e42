// random: a seeded nemesis mixing the other scenarios' faults (process kills, SIGTERM, pause, network
// partitions, latency) for --duration. The schedule is a pure function of the seed: the same seed gives
// the same schedule (the summary lists it under `schedule`), so two runs can be compared.
import type { SeededRandom } from "../../harness/seed.ts";
import type { FaultAction, PlanContext, Scenario } from "../scenario.ts";
import {
  CLUSTER_DEFAULTS,
  needsNodes,
  networkFault,
  processFault,
  SAFE_WORKLOAD,
  SESSION_TIMEOUT_MS,
  timing,
} from "./common.ts";

export const RANDOM_FAULTS = [
  "leader-kill",
  "follower-kill",
  "controller-kill",
  "sigterm",
  "pause",
  "partition-leader-isolated",
  "partition-minority",
  "partition-majority",
  "latency",
] as const;

function randomAction(ctx: PlanContext, rng: SeededRandom, i: number): FaultAction {
  const fault = rng.pick(RANDOM_FAULTS);
  const partition = rng.int(0, ctx.partitions - 1);
  const picks = ctx.nodes.map(() => rng.int(0, ctx.nodes.length - 1));
  const long: [number, number] = [SESSION_TIMEOUT_MS + 2000, SESSION_TIMEOUT_MS + 6000];
  const [delay, hold] = timing(
    rng,
    [1000, 4000],
    fault.startsWith("partition") || fault === "pause" ? long : [2000, 6000],
  );
  const label = `round ${i + 1}`;
  const kind = `random:${fault}`;
  switch (fault) {
    case "leader-kill":
      return processFault(kind, label, "kill", { of: "leader", partition }, delay, hold);
    case "follower-kill":
      return processFault(kind, label, "kill", { of: "follower", partition, pick: picks[0] }, delay, hold);
    case "controller-kill":
      return processFault(kind, label, "kill", { of: "controller" }, delay, hold);
    case "sigterm":
      return processFault(kind, label, "terminate", { of: "leader", partition }, delay, hold);
    case "pause":
      return processFault(kind, label, "pause", { of: "leader", partition }, delay, hold);
    case "partition-leader-isolated":
      return networkFault(kind, { shape: "leader-isolated", partition }, delay, hold);
    case "partition-minority":
      return networkFault(kind, { shape: "minority", picks }, delay, hold);
    case "partition-majority":
      return networkFault(kind, { shape: "majorities-ring", picks }, delay, hold);
    case "latency": {
      const latencyMs = rng.int(20, 100);
      return networkFault(
        kind,
        { shape: "latency", latencyMs, jitterMs: rng.int(5, Math.floor(latencyMs / 2)) },
        delay,
        hold,
      );
    }
  }
}

export const random: Scenario = {
  name: "random",
  description:
    "a seeded nemesis mixing kills, SIGTERM, pauses, partitions and latency for --duration; same seed, same schedule",
  defaults: { ...CLUSTER_DEFAULTS, linkProxies: true },
  workload: SAFE_WORKLOAD,
  expectations: { maxLost: 0, maxDuplicates: 0, maxStallMs: 45_000, recoveryWithinMs: 60_000 },
  schedule(ctx: PlanContext, rng): FaultAction[] {
    const rounds = ctx.rounds ?? Math.max(1, Math.ceil(ctx.durationMs / 8000));
    return Array.from({ length: rounds }, (_, i) => randomAction(ctx, rng, i));
  },
  appliesTo: needsNodes("random", 3, "kill, pause and restart them"),
};
