// pause: SIGSTOP the leader of a partition past the broker session timeout, then SIGCONT it. The paused
// node is fenced and a new leader elected from the ISR; when it wakes up it still believes it leads,
// but with acks=all and min.insync.replicas=2 it cannot acknowledge a write on its own: the checker's
// lost and inconsistent-offset counts (both required 0) prove the stale leader accepted nothing.
import type { FaultAction, PlanContext, Scenario } from "../scenario.ts";
import {
  CLUSTER_DEFAULTS,
  needsNodes,
  processFault,
  roundCount,
  SAFE_WORKLOAD,
  SESSION_TIMEOUT_MS,
  timing,
} from "./common.ts";

export const pause: Scenario = {
  name: "pause",
  description:
    "SIGSTOP a partition leader past the session timeout, SIGCONT; the stale leader acknowledges nothing",
  defaults: CLUSTER_DEFAULTS,
  workload: SAFE_WORKLOAD,
  expectations: { maxLost: 0, maxDuplicates: 0, maxStallMs: 45_000, recoveryWithinMs: 60_000 },
  schedule(ctx: PlanContext, rng): FaultAction[] {
    return Array.from({ length: roundCount(ctx, 14_000) }, (_, i) => {
      const partition = rng.int(0, ctx.partitions - 1);
      const [delay, hold] = timing(rng, [2000, 4000], [SESSION_TIMEOUT_MS + 2000, SESSION_TIMEOUT_MS + 6000]);
      return processFault("pause", `round ${i + 1}`, "pause", { of: "leader", partition }, delay, hold);
    });
  },
  appliesTo: needsNodes("pause", 3, "pause and resume them"),
};
