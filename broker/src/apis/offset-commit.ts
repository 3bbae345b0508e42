/**
 * OffsetCommit (key 8) → broker/groups. Partitions of topics this broker does not have are answered
 * UNKNOWN_TOPIC_OR_PARTITION here, as Kafka's request handler does before the coordinator sees them.
 */
import { apis, type OffsetCommitResponse } from "../../../protocol/generated/index.ts";
import type { OffsetCommitResponseTopic } from "../../../protocol/generated/offset-commit-response.ts";
import { code } from "./common.ts";
import { defineHandler } from "./types.ts";

export const offsetCommit = defineHandler(
  apis.OffsetCommit,
  2,
  9,
  async (ctx, req): Promise<OffsetCommitResponse> => {
    const known = req.topics.filter((t) => ctx.broker.topics.get(t.name) !== undefined);
    const unknown = req.topics.filter((t) => ctx.broker.topics.get(t.name) === undefined);
    let committed: OffsetCommitResponseTopic[] = [];
    if (known.length > 0 || unknown.length === 0) {
      const groups = ctx.broker.groups;
      const res = await groups.coordinator.offsetCommit(
        {
          groupId: req.groupId,
          generationIdOrMemberEpoch: req.generationIdOrMemberEpoch ?? -1,
          memberId: req.memberId ?? "",
          groupInstanceId: req.groupInstanceId ?? null,
          retentionTimeMs: ctx.apiVersion >= 2 && ctx.apiVersion <= 4 ? (req.retentionTimeMs ?? -1n) : -1n,
          topics: known.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => ({
              partitionIndex: p.partitionIndex,
              committedOffset: p.committedOffset,
              committedLeaderEpoch: p.committedLeaderEpoch ?? -1,
              committedMetadata: p.committedMetadata,
            })),
          })),
        },
        groups.context(ctx),
      );
      committed = res.topics;
    }
    const missing = unknown.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        errorCode: code("UNKNOWN_TOPIC_OR_PARTITION"),
      })),
    }));
    // Keep the request's topic order.
    const byName = new Map([...committed, ...missing].map((t) => [t.name, t]));
    const topics = req.topics
      .map((t) => byName.get(t.name))
      .filter((t): t is OffsetCommitResponseTopic => !!t);
    return { throttleTimeMs: 0, topics };
  },
  { groupApi: true },
);
