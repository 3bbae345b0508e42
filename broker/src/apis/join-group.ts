/** JoinGroup (key 11) → broker/groups. */
import { apis, type JoinGroupResponse } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

export const joinGroup = defineHandler(
  apis.JoinGroup,
  0,
  9,
  async (ctx, req): Promise<JoinGroupResponse> => {
    const groups = ctx.broker.groups;
    const res = await groups.coordinator.joinGroup(
      {
        groupId: req.groupId,
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: ctx.apiVersion >= 1 ? req.rebalanceTimeoutMs : undefined,
        memberId: req.memberId,
        groupInstanceId: req.groupInstanceId ?? null,
        protocolType: req.protocolType,
        protocols: req.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
        reason: req.reason ?? null,
      },
      groups.context(ctx),
    );
    // Kafka's JoinGroupResponse: before v7 the protocol name is not nullable and is sent as "".
    if (ctx.apiVersion < 7 && res.protocolName === null) res.protocolName = "";
    return { throttleTimeMs: 0, ...res };
  },
  { groupApi: true },
);
