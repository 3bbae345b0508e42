/**
 * DescribeLogDirs (key 35), v1-v4 (Kafka 4 dropped v0): this broker's one log dir and, per hosted
 * partition, its size in bytes and offsetLag — as in Kafka, the local high watermark minus the local
 * log end offset, floored at 0. A null topic list means every hosted partition; named partitions this
 * broker does not host are left out. v4 adds the volume's total and usable bytes (statfs).
 */
import { statfsSync } from "node:fs";
import { apis, type DescribeLogDirsResponse } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

export const describeLogDirs = defineHandler(
  apis.DescribeLogDirs,
  1,
  4,
  (ctx, req): DescribeLogDirsResponse => {
    const b = ctx.broker;
    const wanted =
      req.topics === null ? null : new Map(req.topics.map((t) => [t.topic, new Set(t.partitions)]));
    const topics: DescribeLogDirsResponse["results"][number]["topics"] = [];
    for (const rt of b.topics.list()) {
      const only = wanted?.get(rt.meta.name);
      if (wanted && !only) continue;
      const partitions = rt.partitions
        .filter((p) => p !== undefined && (!only || only.has(p.index)))
        .map((p) => ({
          partitionIndex: p.index,
          partitionSize: BigInt(p.log.size),
          offsetLag: BigInt(Math.max(0, p.log.highWatermark - p.log.logEndOffset)),
          isFutureKey: false,
        }));
      if (partitions.length) topics.push({ name: rt.meta.name, partitions });
    }
    const logDir = b.settings.dataDir;
    let volume: { totalBytes?: bigint; usableBytes?: bigint } = {};
    if (ctx.apiVersion >= 4) {
      try {
        const fs = statfsSync(logDir, { bigint: true });
        volume = { totalBytes: fs.blocks * fs.bsize, usableBytes: fs.bavail * fs.bsize };
      } catch {
        volume = { totalBytes: -1n, usableBytes: -1n };
      }
    }
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      results: [{ errorCode: 0, logDir, topics, ...volume }],
    };
  },
);
