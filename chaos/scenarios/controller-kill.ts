// controller-kill: SIGKILL the active KRaft controller (the metadata quorum leader per DescribeQuorum,
// else DescribeCluster's controller) under load, restart it, repeat. The remaining voters elect a new
// controller; on combined nodes the node's partition leaderships fail over too.
import type { FaultAction, PlanContext, Scenario } from "../scenario.ts";
import { CLUSTER_DEFAULTS, needsNodes, processFault, roundCount, SAFE_WORKLOAD, timing } from "./common.ts";

export const controllerKill: Scenario = {
  name: "controller-kill",
  description:
    "SIGKILL the active metadata-quorum controller (DescribeQuorum) under load, restart it, repeat",
  defaults: CLUSTER_DEFAULTS,
  workload: SAFE_WORKLOAD,
  expectations: { maxLost: 0, maxDuplicates: 0, maxStallMs: 45_000, recoveryWithinMs: 60_000 },
  schedule(ctx: PlanContext, rng): FaultAction[] {
    return Array.from({ length: roundCount(ctx, 9000) }, (_, i) => {
      const [delay, hold] = timing(rng, [2000, 5000], [2000, 6000]);
      return processFault("controller-kill", `round ${i + 1}`, "kill", { of: "controller" }, delay, hold);
    });
  },
  appliesTo: needsNodes("controller-kill", 3),
};
