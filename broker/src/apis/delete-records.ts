/** DeleteRecords (key 21): advance the log start offset; -1 means "up to the high watermark". */

import type { DeleteRecordsTopicResult } from "../../../protocol/generated/delete-records-response.ts";
import { apis, type DeleteRecordsResponse } from "../../../protocol/generated/index.ts";
import { code, errorCodeOf } from "./common.ts";
import { defineHandler } from "./types.ts";

export const deleteRecords = defineHandler(
  apis.DeleteRecords,
  0,
  2,
  async (ctx, req): Promise<DeleteRecordsResponse> => {
    const topics: DeleteRecordsTopicResult[] = [];
    for (const t of req.topics) {
      const result: DeleteRecordsTopicResult = { name: t.name, partitions: [] };
      topics.push(result);
      for (const p of t.partitions) {
        const r = { partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: 0 };
        result.partitions.push(r);
        const part = ctx.broker.topics.partition(t.name, p.partitionIndex);
        if (!part) {
          r.errorCode = code("UNKNOWN_TOPIC_OR_PARTITION");
          continue;
        }
        const log = part.log;
        const target = p.offset === -1n ? log.highWatermark : Number(p.offset);
        if (p.offset < -1n || target > log.highWatermark) {
          r.errorCode = code("OFFSET_OUT_OF_RANGE");
          continue;
        }
        try {
          const low = await part.mutex.run(() => log.deleteRecordsBefore(target));
          r.lowWatermark = BigInt(low);
          // Idempotent-producer entries whose batches are all gone are forgotten (as Kafka does).
          part.producers.evictBelow(low);
          ctx.broker.topics.updateGauges(part);
        } catch (e) {
          r.errorCode = errorCodeOf(ctx, e, "delete records");
        }
      }
    }
    return { throttleTimeMs: 0, topics };
  },
);
