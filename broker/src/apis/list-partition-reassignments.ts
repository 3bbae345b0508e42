/**
 * ListPartitionReassignments (key 46), v0: the ongoing reassignments (replicas, adding, removing) of the
 * named partitions, or of every partition with a null topic list; unknown topics and partitions that
 * are not being reassigned are left out. Cluster mode: answered by the active controller on its
 * committed image (Kafka forwards it too); the single node never has one.
 */
import { apis, type ListPartitionReassignmentsResponse } from "../../../protocol/generated/index.ts";
import { forwardToController } from "./cluster-forward.ts";
import { singleNodeController } from "./single-node-controller.ts";
import { defineHandler } from "./types.ts";

export const listPartitionReassignments = defineHandler(
  apis.ListPartitionReassignments,
  0,
  0,
  async (ctx, req): Promise<ListPartitionReassignmentsResponse> => {
    if (ctx.broker.cluster)
      return forwardToController(
        ctx,
        apis.ListPartitionReassignments as never,
        "listPartitionReassignments",
        req,
      );
    const { controller, image } = singleNodeController(ctx.broker);
    return controller.listPartitionReassignments(image, req);
  },
);
