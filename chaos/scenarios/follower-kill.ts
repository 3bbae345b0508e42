// follower-kill: SIGKILL a follower of a partition under load, restart it, repeat. The leader keeps
// min.insync.replicas (2 of 3) without it, so writes continue; the follower catches up after restart.
import type { FaultAction, PlanContext, Scenario } from "../scenario.ts";
import { CLUSTER_DEFAULTS, needsNodes, processFault, roundCount, SAFE_WORKLOAD, timing } from "./common.ts";

export const followerKill: Scenario = {
  name: "follower-kill",
  description:
    "SIGKILL a follower of a partition under load, restart it, repeat; writes continue, nothing lost",
  defaults: CLUSTER_DEFAULTS,
  workload: SAFE_WORKLOAD,
  // A follower of one partition usually leads another (3 partitions over 3 nodes), so its partitions
  // fail over like a leader kill: measured 5.7 s on Kafka (6 s session timeout); 20 s leaves room.
  expectations: { maxLost: 0, maxDuplicates: 0, maxStallMs: 20_000, recoveryWithinMs: 60_000 },
  schedule(ctx: PlanContext, rng): FaultAction[] {
    return Array.from({ length: roundCount(ctx, 9000) }, (_, i) => {
      const partition = rng.int(0, ctx.partitions - 1);
      const pick = rng.int(0, 1);
      const [delay, hold] = timing(rng, [2000, 5000], [2000, 6000]);
      return processFault(
        "follower-kill",
        `round ${i + 1}`,
        "kill",
        { of: "follower", partition, pick },
        delay,
        hold,
      );
    });
  },
  appliesTo: needsNodes("follower-kill", 3),
};
