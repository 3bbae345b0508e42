/** LeaveGroup (key 13) → broker/groups; v0-2 (one member id) are mapped onto the v3+ batch shape. */
import { apis, type LeaveGroupResponse } from "../../../protocol/generated/index.ts";
import { leaveGroupV0ErrorCode } from "../../groups/index.ts";
import { defineHandler } from "./types.ts";

export const leaveGroup = defineHandler(
  apis.LeaveGroup,
  0,
  5,
  async (ctx, req): Promise<LeaveGroupResponse> => {
    const v = ctx.apiVersion;
    const members =
      v >= 3
        ? (req.members ?? []).map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId,
            reason: m.reason ?? null,
          }))
        : [{ memberId: req.memberId ?? "" }];
    const res = await ctx.broker.groups.coordinator.leaveGroup({ groupId: req.groupId, members });
    if (v < 3) return { throttleTimeMs: 0, errorCode: leaveGroupV0ErrorCode(res) };
    return { throttleTimeMs: 0, errorCode: res.errorCode, members: res.members };
  },
  { groupApi: true },
);
