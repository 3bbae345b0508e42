/**
 * ElectLeaders (key 43), v0..v2: PREFERRED (v0, and electionType 0) moves a partition's leadership back
 * to its first replica when that replica is alive and in the ISR; UNCLEAN (1) elects a leader for a
 * leaderless partition, outside the ISR if need be. Null topic partitions means every partition (then
 * partitions needing no election are left out of the answer). Cluster mode: decided by the active
 * controller (`cluster-forward.ts` → `Controller.electLeaders`); the single node decides on its own
 * image (nothing ever needs electing there).
 */
import { apis, type ElectLeadersResponse } from "../../../protocol/generated/index.ts";
import { forwardToController } from "./cluster-forward.ts";
import { singleNodeController } from "./single-node-controller.ts";
import { defineHandler } from "./types.ts";

export const electLeaders = defineHandler(
  apis.ElectLeaders,
  0,
  2,
  async (ctx, req): Promise<ElectLeadersResponse> => {
    // v0 has no election type: always PREFERRED.
    const request = ctx.apiVersion >= 1 ? req : { ...req, electionType: 0 };
    if (ctx.broker.cluster)
      return forwardToController(ctx, apis.ElectLeaders as never, "electLeaders", request);
    const { controller, image } = singleNodeController(ctx.broker);
    return controller.electLeaders(image, request).response;
  },
);
