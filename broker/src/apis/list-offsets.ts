/**
 * ListOffsets (key 2), v1..v8: EARLIEST (-2), LATEST (-1), MAX_TIMESTAMP (-3, v7+), EARLIEST_LOCAL
 * (-4, v8+: the same as earliest without tiered storage) and by timestamp. Results never pass the
 * last fetchable offset (the high watermark, which is also the LSO here).
 */
import { apis, type ListOffsetsResponse } from "../../../protocol/generated/index.ts";
import type {
  ListOffsetsPartitionResponse,
  ListOffsetsTopicResponse,
} from "../../../protocol/generated/list-offsets-response.ts";
import { checkLeaderEpoch, code, errorCodeOf } from "./common.ts";
import { defineHandler } from "./types.ts";

const LATEST = -1n;
const EARLIEST = -2n;
const MAX_TIMESTAMP = -3n;
const EARLIEST_LOCAL = -4n;

export const listOffsets = defineHandler(
  apis.ListOffsets,
  1,
  8,
  async (ctx, req): Promise<ListOffsetsResponse> => {
    const v = ctx.apiVersion;
    const seen = new Map<string, number>();
    for (const t of req.topics)
      for (const p of t.partitions) {
        const k = `${t.name}\u0000${p.partitionIndex}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
    const topics: ListOffsetsTopicResponse[] = [];
    for (const t of req.topics) {
      const partitions: ListOffsetsPartitionResponse[] = [];
      for (const p of t.partitions) {
        const r: ListOffsetsPartitionResponse = {
          partitionIndex: p.partitionIndex,
          errorCode: 0,
          timestamp: -1n,
          offset: -1n,
        };
        if (v >= 4) r.leaderEpoch = -1;
        partitions.push(r);
        if (seen.get(`${t.name}\u0000${p.partitionIndex}`)! > 1) {
          r.errorCode = code("INVALID_REQUEST");
          continue;
        }
        const part = ctx.broker.topics.partition(t.name, p.partitionIndex);
        if (!part) {
          r.errorCode = code("UNKNOWN_TOPIC_OR_PARTITION");
          continue;
        }
        const lead = ctx.broker.partitionLeadership(t.name, p.partitionIndex);
        const epochError = checkLeaderEpoch(p.currentLeaderEpoch, lead.leaderEpoch) || lead.errorCode;
        if (epochError !== 0) {
          r.errorCode = epochError;
          continue;
        }
        const log = part.log;
        const lastFetchable = log.highWatermark;
        const ts = p.timestamp;
        try {
          if (ts === LATEST) {
            r.offset = BigInt(lastFetchable);
            if (v >= 4) r.leaderEpoch = lead.leaderEpoch;
          } else if (ts === EARLIEST || (ts === EARLIEST_LOCAL && v >= 8)) {
            r.offset = BigInt(log.logStartOffset);
            if (v >= 4) r.leaderEpoch = lead.leaderEpoch;
          } else if (ts === MAX_TIMESTAMP && v >= 7) {
            const hit = await log.offsetOfMaxTimestamp();
            if (hit && hit.offset < lastFetchable) {
              r.offset = BigInt(hit.offset);
              r.timestamp = BigInt(hit.timestamp);
              if (v >= 4) r.leaderEpoch = lead.leaderEpoch;
            }
          } else if (ts >= 0n) {
            const hit = await log.offsetForTimestamp(Number(ts));
            if (hit && hit.offset < lastFetchable) {
              r.offset = BigInt(hit.offset);
              r.timestamp = BigInt(hit.timestamp);
              if (v >= 4) r.leaderEpoch = lead.leaderEpoch;
            }
          }
        } catch (e) {
          r.errorCode = errorCodeOf(ctx, e, "list offsets");
        }
      }
      topics.push({ name: t.name, partitions });
    }
    return { throttleTimeMs: 0, topics };
  },
);
