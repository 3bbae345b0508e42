// rolling-restart: SIGTERM and restart every node in turn under load, as an operator upgrading the
// cluster would (the next node only once every partition is fully in sync again).
import type { FaultAction, PlanContext, Scenario } from "../scenario.ts";
import { CLUSTER_DEFAULTS, needsNodes, processFault, SAFE_WORKLOAD } from "./common.ts";

export const rollingRestart: Scenario = {
  name: "rolling-restart",
  description: "SIGTERM and restart every node in turn under load (a rolling upgrade); nothing lost",
  defaults: CLUSTER_DEFAULTS,
  workload: SAFE_WORKLOAD,
  // Clean shutdowns move leadership first: stalls stay short (same bound as sigterm-leadership-transfer, doubled for slack on restarts).
  expectations: { maxLost: 0, maxDuplicates: 0, maxStallMs: 10_000, recoveryWithinMs: 60_000 },
  schedule(ctx: PlanContext, rng): FaultAction[] {
    // The order starts at a seeded node and goes round; --rounds N restarts N nodes (wrapping around).
    const order = [...ctx.nodes].sort((a, b) => a - b);
    const first = rng.int(0, order.length - 1);
    const count = ctx.rounds ?? order.length;
    return Array.from({ length: count }, (_, i) => {
      const node = order[(first + i) % order.length];
      return processFault("rolling-restart", `step ${i + 1}`, "terminate", { of: "node", node }, 2000, 1000);
    });
  },
  appliesTo: needsNodes("rolling-restart", 3),
};
