/** Heartbeat (key 12) → broker/groups. */
import { apis, type HeartbeatResponse } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

export const heartbeat = defineHandler(
  apis.Heartbeat,
  0,
  4,
  async (ctx, req): Promise<HeartbeatResponse> => {
    const res = await ctx.broker.groups.coordinator.heartbeat({
      groupId: req.groupId,
      generationId: req.generationId,
      memberId: req.memberId,
      groupInstanceId: req.groupInstanceId ?? null,
    });
    return { throttleTimeMs: 0, ...res };
  },
  { groupApi: true },
);
