/** OffsetDelete (key 47) → broker/groups. */
import { apis, type OffsetDeleteResponse } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

export const offsetDelete = defineHandler(
  apis.OffsetDelete,
  0,
  0,
  async (ctx, req): Promise<OffsetDeleteResponse> => {
    const res = await ctx.broker.groups.coordinator.offsetDelete({
      groupId: req.groupId,
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex })),
      })),
    });
    return { throttleTimeMs: 0, errorCode: res.errorCode, topics: res.topics };
  },
  { groupApi: true },
);
