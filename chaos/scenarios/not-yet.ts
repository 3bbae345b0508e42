// Scenarios that are registered (so `--list` shows them and a run says why it cannot run) but not
// implemented yet. They always report "not applicable" with the reason, never "passed".
import { type Applicability, notApplicable, type Scenario } from "../scenario.ts";
import { CLUSTER_DEFAULTS, SAFE_WORKLOAD } from "./common.ts";

function registeredOnly(name: string, description: string, reason: string): Scenario {
  const why: Applicability = notApplicable(reason);
  return {
    name,
    description: `${description} (not implemented yet: ${reason})`,
    defaults: CLUSTER_DEFAULTS,
    workload: SAFE_WORKLOAD,
    expectations: { maxLost: 0, maxDuplicates: 0 },
    schedule: () => [],
    appliesTo: () => why,
  };
}

export const snapshotBootstrap = registeredOnly(
  "snapshot-bootstrap",
  "wipe a node (or add a 4th) and let it bootstrap from a metadata snapshot under load",
  "needs a 4th node joined at run time, and the kafka target cannot add nodes with per-link routing yet",
);

export const multiDc = registeredOnly(
  "multi-dc",
  "nodes in racks/datacenters with cross-DC latency, rack-aware consumers, then a DC cut",
  "needs rack placement and client.rack consumers wired through the runner (racks option, datacenters() latency)",
);
