/** DeleteGroups (key 42) → broker/groups. */
import { apis, type DeleteGroupsResponse } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

export const deleteGroups = defineHandler(
  apis.DeleteGroups,
  0,
  2,
  async (ctx, req): Promise<DeleteGroupsResponse> => {
    const res = await ctx.broker.groups.coordinator.deleteGroups({ groupsNames: req.groupsNames });
    return { throttleTimeMs: 0, results: res.results };
  },
  { groupApi: true },
);
