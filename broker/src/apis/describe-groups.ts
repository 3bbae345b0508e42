/** DescribeGroups (key 15) → broker/groups. */
import { apis, type DescribeGroupsResponse } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

export const describeGroups = defineHandler(
  apis.DescribeGroups,
  0,
  5,
  async (ctx, req): Promise<DescribeGroupsResponse> => {
    const res = await ctx.broker.groups.coordinator.describeGroups({
      groups: req.groups,
      includeAuthorizedOperations: req.includeAuthorizedOperations ?? false,
    });
    return { throttleTimeMs: 0, groups: res.groups };
  },
  { groupApi: true },
);
