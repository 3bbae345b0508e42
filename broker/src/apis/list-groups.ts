/** ListGroups (key 16) → broker/groups. */
import { apis, type ListGroupsResponse } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

export const listGroups = defineHandler(
  apis.ListGroups,
  0,
  5,
  async (ctx, req): Promise<ListGroupsResponse> => {
    const res = await ctx.broker.groups.coordinator.listGroups({
      statesFilter: req.statesFilter ?? [],
      typesFilter: req.typesFilter ?? [],
    });
    return { throttleTimeMs: 0, errorCode: res.errorCode, groups: res.groups };
  },
  { groupApi: true },
);
