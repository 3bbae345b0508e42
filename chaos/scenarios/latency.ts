// latency: latency with jitter on every client-broker and broker-broker link, held for a while, then
// healed, repeatedly. Nothing may fail: slower is not broken. The impact is the summary's latency per
// phase (steady vs inject) and per fault window.
import type { FaultAction, PlanContext, Scenario } from "../scenario.ts";
import { CLUSTER_DEFAULTS, needsLinks, networkFault, roundCount, SAFE_WORKLOAD, timing } from "./common.ts";

export const latency: Scenario = {
  name: "latency",
  description:
    "latency with jitter on client-broker and broker-broker links; no errors, impact reported per phase",
  defaults: { ...CLUSTER_DEFAULTS, linkProxies: true },
  workload: SAFE_WORKLOAD,
  // Tens of ms per hop stay far below the 5 s request timeout: no send may fail or time out.
  expectations: {
    maxLost: 0,
    maxDuplicates: 0,
    maxFailedSends: 0,
    maxIndeterminateSends: 0,
    maxStallMs: 5000,
    recoveryWithinMs: 60_000,
  },
  schedule(ctx: PlanContext, rng): FaultAction[] {
    return Array.from({ length: roundCount(ctx, 10_000) }, () => {
      const latencyMs = rng.int(20, 100);
      const jitterMs = rng.int(5, Math.floor(latencyMs / 2));
      const [delay, hold] = timing(rng, [2000, 4000], [6000, 12_000]);
      return networkFault("latency", { shape: "latency", latencyMs, jitterMs }, delay, hold);
    });
  },
  appliesTo: needsLinks("latency"),
};
