/**
 * Cluster mode: metadata-changing requests (CreateTopics, DeleteTopics, CreatePartitions,
 * IncrementalAlterConfigs, ElectLeaders, AlterPartitionReassignments, and ListPartitionReassignments,
 * which Kafka also forwards) go to the active controller (the Raft leader), from any node. The answer
 * comes back once this node has applied the resulting records, so a Metadata request to the same node
 * right after sees the change. No controller within the bound → NOT_CONTROLLER on every resource (the
 * client refreshes metadata and retries, as with Kafka).
 */
import { ERROR_CODES } from "../../../protocol/error-codes.ts";
import type { ApiDefinition } from "../../../protocol/generated/index.ts";
import { type ControllerOps, NotControllerError } from "../cluster/metadata-node.ts";
import { buildErrorResponse } from "./error-response.ts";
import type { RequestContext } from "./types.ts";

type ForwardedOp =
  | "createTopics"
  | "deleteTopics"
  | "createPartitions"
  | "incrementalAlterConfigs"
  | "electLeaders"
  | "alterPartitionReassignments"
  | "listPartitionReassignments";

export async function forwardToController<Res>(
  ctx: RequestContext,
  api: ApiDefinition<unknown, unknown>,
  op: ForwardedOp,
  request: ControllerOps[ForwardedOp],
): Promise<Res> {
  const cluster = ctx.broker.cluster!;
  try {
    const timeout = Math.min(Math.max((request as { timeoutMs?: number }).timeoutMs ?? 30_000, 1000), 30_000);
    return (await cluster.call(op, request as never, timeout)) as Res;
  } catch (e) {
    if (!(e instanceof NotControllerError)) throw e;
    ctx.log.warn({ op, err: e.message }, "no active controller for a forwarded request");
    return buildErrorResponse(api, request, ctx.apiVersion, ERROR_CODES.NOT_CONTROLLER, e.message) as Res;
  }
}
