/**
 * AlterPartitionReassignments (key 45), v0. A replica list starts (or replaces) a partition's
 * reassignment: the new replicas join as `addingReplicas`, copy the log by fetching from the leader as
 * followers, and once all of them are in the ISR the controller completes the move (the replicas become
 * the target, the removed ones stop fetching and delete their copy, leadership moves into the target if
 * needed). A null list cancels an ongoing reassignment. Cluster mode: decided by the active controller
 * (`Controller.alterPartitionReassignments`); the single node decides on its own image (only a
 * reassignment to itself succeeds, as on a one-broker Kafka).
 */
import { type AlterPartitionReassignmentsResponse, apis } from "../../../protocol/generated/index.ts";
import { forwardToController } from "./cluster-forward.ts";
import { singleNodeController } from "./single-node-controller.ts";
import { defineHandler } from "./types.ts";

export const alterPartitionReassignments = defineHandler(
  apis.AlterPartitionReassignments,
  0,
  0,
  async (ctx, req): Promise<AlterPartitionReassignmentsResponse> => {
    if (ctx.broker.cluster)
      return forwardToController(
        ctx,
        apis.AlterPartitionReassignments as never,
        "alterPartitionReassignments",
        req,
      );
    const { controller, image } = singleNodeController(ctx.broker);
    return controller.alterPartitionReassignments(image, req).response;
  },
);
