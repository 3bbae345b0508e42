/** SyncGroup (key 14) → broker/groups. */
import { apis, type SyncGroupResponse } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

export const syncGroup = defineHandler(
  apis.SyncGroup,
  0,
  5,
  async (ctx, req): Promise<SyncGroupResponse> => {
    const groups = ctx.broker.groups;
    const res = await groups.coordinator.syncGroup(
      {
        groupId: req.groupId,
        generationId: req.generationId,
        memberId: req.memberId,
        groupInstanceId: req.groupInstanceId ?? null,
        protocolType: ctx.apiVersion >= 5 ? (req.protocolType ?? null) : undefined,
        protocolName: ctx.apiVersion >= 5 ? (req.protocolName ?? null) : undefined,
        assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment })),
      },
      groups.context(ctx),
    );
    return { throttleTimeMs: 0, ...res };
  },
  { groupApi: true },
);
