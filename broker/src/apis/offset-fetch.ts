/** OffsetFetch (key 9) → broker/groups; v1-7 (one group) are mapped onto the v8+ multi-group shape. */
import { apis, type OffsetFetchResponse } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

export const offsetFetch = defineHandler(
  apis.OffsetFetch,
  1,
  9,
  async (ctx, req): Promise<OffsetFetchResponse> => {
    const v = ctx.apiVersion;
    const coordinator = ctx.broker.groups.coordinator;
    if (v >= 8) {
      const res = await coordinator.offsetFetch({
        groups: (req.groups ?? []).map((g) => ({ groupId: g.groupId, topics: g.topics })),
        requireStable: req.requireStable ?? false,
      });
      return { throttleTimeMs: 0, groups: res.groups };
    }
    const res = await coordinator.offsetFetch({
      groups: [{ groupId: req.groupId ?? "", topics: req.topics ?? null }],
      requireStable: req.requireStable ?? false,
    });
    const g = res.groups[0]!;
    return {
      throttleTimeMs: 0,
      errorCode: g.errorCode,
      topics: g.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          committedOffset: p.committedOffset,
          committedLeaderEpoch: p.committedLeaderEpoch,
          metadata: p.metadata,
          // Before v2 there was no top-level error: a group error is reported on every partition.
          errorCode: v < 2 && g.errorCode !== 0 ? g.errorCode : p.errorCode,
        })),
      })),
    };
  },
  { groupApi: true },
);
