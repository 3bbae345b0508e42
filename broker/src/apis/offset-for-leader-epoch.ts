/**
 * OffsetForLeaderEpoch (key 23): the end offset of a leader epoch. This node has led every partition
 * at epoch 0 from the start (Kafka records the epoch's start offset when a replica becomes leader),
 * so epoch 0 ends at the log end offset and any later epoch is unknown (-1, -1).
 */
import { apis, type OffsetForLeaderEpochResponse } from "../../../protocol/generated/index.ts";
import type {
  EpochEndOffset,
  OffsetForLeaderTopicResult,
} from "../../../protocol/generated/offset-for-leader-epoch-response.ts";
import { LEADER_EPOCH } from "../state/topics.ts";
import { checkLeaderEpoch, code } from "./common.ts";
import { defineHandler } from "./types.ts";

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
        const epochError = checkLeaderEpoch(p.currentLeaderEpoch, LEADER_EPOCH);
        if (epochError !== 0) {
          r.errorCode = epochError;
          return r;
        }
        if (p.leaderEpoch === LEADER_EPOCH) {
          r.leaderEpoch = LEADER_EPOCH;
          r.endOffset = BigInt(part.log.logEndOffset);
        } else if (p.leaderEpoch < LEADER_EPOCH && p.leaderEpoch >= 0) {
          const found = part.log.endOffsetForEpoch(p.leaderEpoch);
          r.leaderEpoch = found.epoch;
          r.endOffset = BigInt(found.endOffset);
        }
        return r;
      }),
    }));
    return { throttleTimeMs: 0, topics };
  },
);
