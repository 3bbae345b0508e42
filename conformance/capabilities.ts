// Capabilities of a target: probed from what the broker advertises in ApiVersions, or declared from
// how the run was set up. A test that needs an absent capability is reported "not supported" (vitest
// skip with the reason as its note, Allure status skipped with the reason), never as passed.
import { ApiKey, getApi } from "../protocol/generated/index.ts";
import type { RunInfo } from "./config.ts";
import type { VersionRange } from "./raw/kafka.ts";

export type Capability =
  | "idempotence"
  | "transactions"
  | "deleteRecords"
  | "createPartitions"
  | "describeConfigs"
  | "alterConfigs"
  | "incrementalAlterConfigs"
  | "listGroups"
  | "describeGroups"
  | "deleteGroups"
  | "offsetDelete"
  | "describeCluster"
  /** Declared: the run can restart nodes (local targets with a control server). */
  | "nodeControl"
  /** Declared: the cluster has at least two brokers (replication, ISR). */
  | "multiBroker";

/** The APIs (key, minimum version) a probed capability needs. */
const API_NEEDS: Partial<Record<Capability, [number, number][]>> = {
  idempotence: [[ApiKey.InitProducerId, 0]],
  transactions: [
    [ApiKey.InitProducerId, 0],
    [ApiKey.AddPartitionsToTxn, 0],
    [ApiKey.AddOffsetsToTxn, 0],
    [ApiKey.EndTxn, 0],
    [ApiKey.TxnOffsetCommit, 0],
  ],
  deleteRecords: [[ApiKey.DeleteRecords, 0]],
  createPartitions: [[ApiKey.CreatePartitions, 0]],
  describeConfigs: [[ApiKey.DescribeConfigs, 0]],
  alterConfigs: [[ApiKey.AlterConfigs, 0]],
  incrementalAlterConfigs: [[ApiKey.IncrementalAlterConfigs, 0]],
  listGroups: [[ApiKey.ListGroups, 0]],
  describeGroups: [[ApiKey.DescribeGroups, 0]],
  deleteGroups: [[ApiKey.DeleteGroups, 0]],
  offsetDelete: [[ApiKey.OffsetDelete, 0]],
  describeCluster: [[ApiKey.DescribeCluster, 0]],
};

/** Why the capability is missing, or undefined when the target has it. */
export function missingCapability(
  cap: Capability,
  run: RunInfo,
  ranges: Map<number, VersionRange>,
): string | undefined {
  if (cap === "nodeControl") {
    if (run.target === "external") {
      return "not applicable on an external target: Gauntlet cannot restart its nodes";
    }
    return run.controlUrl ? undefined : "this run has no control server to restart nodes";
  }
  if (cap === "multiBroker") {
    return run.nodes >= 2 ? undefined : `needs at least 2 brokers; the target runs ${run.nodes}`;
  }
  const missing = (API_NEEDS[cap] ?? [])
    .filter(([key, min]) => {
      const r = ranges.get(key);
      return !r || r.max < min;
    })
    .map(([key]) => getApi(key)?.name ?? String(key));
  return missing.length
    ? `the broker does not advertise ${missing.join(", ")} in ApiVersions (capability "${cap}")`
    : undefined;
}
