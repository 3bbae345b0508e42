/**
 * OffsetForLeaderEpoch (key 23): the end offset of a leader epoch on this partition's leader, as
 * Kafka's LeaderEpochFileCache.endOffsetFor answers it. Followers use it to find where their log
 * diverges from the leader's (KIP-101/279); consumers use it to detect log truncation (KIP-320).
 *
 * Kafka's leader records its current epoch at its log end offset when it becomes leader; here the log's
 * epoch cache only learns an epoch from the first batch appended in it, so the current epoch, while it
 * has no batch yet, is treated as starting at the log end offset. A single node leads at epoch 0.
 */
import { apis, type OffsetForLeaderEpochResponse } from "../../../protocol/generated/index.ts";
import type {
  EpochEndOffset,
  OffsetForLeaderTopicResult,
} from "../../../protocol/generated/offset-for-leader-epoch-response.ts";
import type { PartitionLog } from "../../storage/partition-log.ts";
import { checkLeaderEpoch, code } from "./common.ts";
import { defineHandler } from "./types.ts";

/** (epoch, end offset) for `requested` on a leader at `current`; (-1, -1) when undefined. */
export function leaderEpochEndOffset(
  log: Pick<PartitionLog, "latestEpoch" | "logEndOffset" | "endOffsetForEpoch">,
  current: number,
  requested: number,
): { epoch: number; endOffset: number } {
  const latest = log.latestEpoch;
  if (requested < 0 || requested > current) return { epoch: -1, endOffset: -1 };
  if (requested === current || requested === latest) return { epoch: requested, endOffset: log.logEndOffset };
  if (requested > latest) {
    // between the last epoch with batches and the current one: it ends where the current one starts
    return { epoch: latest >= 0 ? latest : requested, endOffset: log.logEndOffset };
  }
  return log.endOffsetForEpoch(requested);
}

export const offsetForLeaderEpoch = defineHandler(
  apis.OffsetForLeaderEpoch,
  2,
  4,
  (ctx, req): OffsetForLeaderEpochResponse => {
    const topics: OffsetForLeaderTopicResult[] = req.topics.map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p): EpochEndOffset => {
        const r: EpochEndOffset = { errorCode: 0, partition: p.partition, leaderEpoch: -1, endOffset: -1n };
        const part = ctx.broker.topics.partition(t.topic, p.partition);
        if (!part) {
          r.errorCode = code("UNKNOWN_TOPIC_OR_PARTITION");
          return r;
        }
        const lead = ctx.broker.partitionLeadership(t.topic, p.partition);
        const epochError = checkLeaderEpoch(p.currentLeaderEpoch, lead.leaderEpoch) || lead.errorCode;
        if (epochError !== 0) {
          r.errorCode = epochError;
          return r;
        }
        const found = leaderEpochEndOffset(part.log, lead.leaderEpoch, p.leaderEpoch);
        r.leaderEpoch = found.epoch;
        r.endOffset = BigInt(found.endOffset);
        return r;
      }),
    }));
    return { throttleTimeMs: 0, topics };
  },
);
