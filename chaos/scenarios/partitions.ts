// Network partitions through the Toxiproxy fault plane, with node-to-node traffic routed through
// per-link proxies (kafka target's peerAddress). Partitions are silent drops (see harness/faults).
//   partition-leader-isolated  the leader of a partition cut off from its peers and its clients
//   partition-minority         a minority of nodes cut off from the majority; clients reach everyone
//   partition-majority         a majorities ring: every node sees a majority, no two the same one
import type { FaultAction, PlanContext, Scenario } from "../scenario.ts";
import {
  CLUSTER_DEFAULTS,
  type NetworkShape,
  needsLinks,
  networkFault,
  roundCount,
  SAFE_WORKLOAD,
  SESSION_TIMEOUT_MS,
  timing,
} from "./common.ts";

const PARTITION_DEFAULTS = { ...CLUSTER_DEFAULTS, linkProxies: true };
/** Held past the broker session timeout, so the cut-off node is fenced and leadership moves. */
const HOLD: [number, number] = [SESSION_TIMEOUT_MS + 2000, SESSION_TIMEOUT_MS + 8000];
const DELAY: [number, number] = [2000, 5000];

function partitionScenario(
  name: string,
  description: string,
  shape: (ctx: PlanContext, rng: Parameters<Scenario["schedule"]>[1]) => NetworkShape,
): Scenario {
  return {
    name,
    description,
    defaults: PARTITION_DEFAULTS,
    workload: SAFE_WORKLOAD,
    // A partition leader cut off mid-request: its clients time out (5 s) and retry elsewhere once the
    // node is fenced (6 s session) and a new leader elected; bounded well inside the delivery timeout.
    expectations: { maxLost: 0, maxDuplicates: 0, maxStallMs: 30_000, recoveryWithinMs: 60_000 },
    schedule(ctx, rng): FaultAction[] {
      return Array.from({ length: roundCount(ctx, 12_000) }, () => {
        const s = shape(ctx, rng);
        const [delay, hold] = timing(rng, DELAY, HOLD);
        return networkFault(name, s, delay, hold);
      });
    },
    appliesTo: needsLinks(name),
  };
}

const picks = (ctx: PlanContext, rng: Parameters<Scenario["schedule"]>[1]) =>
  ctx.nodes.map(() => rng.int(0, ctx.nodes.length - 1));

export const partitionLeaderIsolated = partitionScenario(
  "partition-leader-isolated",
  "isolate a partition leader from its peers and clients past the session timeout, heal; nothing lost",
  (ctx, rng) => ({ shape: "leader-isolated", partition: rng.int(0, ctx.partitions - 1) }),
);

export const partitionMinority = partitionScenario(
  "partition-minority",
  "cut a minority of nodes off from the majority (clients still reach all) past the session timeout, heal",
  (ctx, rng) => ({ shape: "minority", picks: picks(ctx, rng) }),
);

export const partitionMajority = partitionScenario(
  "partition-majority",
  "majorities ring (3 nodes: one link cut, a bridge): every node sees a majority, no two the same; heal",
  (ctx, rng) => ({ shape: "majorities-ring", picks: picks(ctx, rng) }),
);
