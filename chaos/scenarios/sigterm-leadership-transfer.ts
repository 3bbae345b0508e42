// sigterm-leadership-transfer: SIGTERM the leader of a partition under load. A clean shutdown moves the
// node's leaderships to in-sync followers before it exits (controlled shutdown), so producers should
// barely notice: the longest stall without an acknowledged send is bounded tightly, unlike a SIGKILL.
import type { FaultAction, PlanContext, Scenario } from "../scenario.ts";
import { CLUSTER_DEFAULTS, needsNodes, processFault, roundCount, SAFE_WORKLOAD, timing } from "./common.ts";

/**
 * Longest allowed produce stall. Measured on Apache Kafka 4.3.1 (3 local nodes, busy 2-core machine):
 * see chaos/README.md for the runs; a controlled shutdown hands leadership over before the node exits,
 * so a stall is a metadata refresh plus a retry, not a session timeout (6 s) plus an election.
 */
export const SIGTERM_MAX_STALL_MS = 5000;

export const sigtermLeadershipTransfer: Scenario = {
  name: "sigterm-leadership-transfer",
  description: `SIGTERM a partition leader: leaderships move before it exits; longest produce stall < ${SIGTERM_MAX_STALL_MS / 1000} s`,
  defaults: CLUSTER_DEFAULTS,
  workload: SAFE_WORKLOAD,
  expectations: { maxLost: 0, maxDuplicates: 0, maxStallMs: SIGTERM_MAX_STALL_MS, recoveryWithinMs: 60_000 },
  schedule(ctx: PlanContext, rng): FaultAction[] {
    return Array.from({ length: roundCount(ctx, 9000) }, (_, i) => {
      const partition = rng.int(0, ctx.partitions - 1);
      const [delay, hold] = timing(rng, [2000, 5000], [2000, 5000]);
      return processFault("sigterm", `round ${i + 1}`, "terminate", { of: "leader", partition }, delay, hold);
    });
  },
  appliesTo: needsNodes("sigterm-leadership-transfer", 3),
};
