import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LOG_OVERHEAD } from "../../protocol/records/batch-header.ts";
import { decodeRecords, decompress } from "../../protocol/records/index.ts";
import type { LogConfig } from "../storage/config.ts";
import { StorageError } from "../storage/errors.ts";
import { type AppendOptions, PartitionLog } from "../storage/partition-log.ts";
import { makeBatch, seededRandom, simpleBatch, tempDirs, walkBatches } from "./storage-helpers.ts";

const temp = tempDirs();
const logs: PartitionLog[] = [];
afterEach(async () => {
  await Promise.allSettled(logs.splice(0).map((l) => l.close()));
  await temp.cleanup();
});

const NOW = 1_700_000_000_000;
const leader = (epoch = 0, now = NOW): AppendOptions => ({
  leaderEpoch: epoch,
  timestampType: "CreateTime",
  now,
});

async function openLog(config: Partial<LogConfig> = {}, clock?: () => number): Promise<PartitionLog> {
  const dir = await temp.make();
  const log = await PartitionLog.open({ dir, config: { flushPolicy: "none", ...config }, clock, decompress });
  logs.push(log);
  return log;
}

async function expectStorageError(p: Promise<unknown>, kafkaError: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  expect((err as StorageError).kafkaError).toBe(kafkaError);
}

/** Reads everything from `from` to the log end offset the way a consumer would. */
async function readAll(log: PartitionLog, from = log.logStartOffset, maxBytes = 1 << 20) {
  const batches = [];
  let offset = from;
  while (offset < log.logEndOffset) {
    const { records } = await log.read(offset, maxBytes);
    const walked = walkBatches(records);
    expect(walked.length).toBeGreaterThan(0);
    batches.push(...walked);
    offset = walked[walked.length - 1].lastOffset + 1;
  }
  return batches;
}

describe("append and read", () => {
  it("assigns contiguous offsets by patching headers, keeps the CRC valid and the records untouched", async () => {
    const log = await openLog();
    const inputs = [simpleBatch(3), simpleBatch(1), simpleBatch(5)];
    const originals = inputs.map((b) => Buffer.from(b));
    const results = [];
    for (const b of inputs) results.push(await log.append(b, leader(7)));
    expect(results.map((r) => [r.baseOffset, r.lastOffset])).toEqual([
      [0, 2],
      [3, 3],
      [4, 8],
    ]);
    expect(results[0].logAppendTime).toBe(-1);
    expect(log.logEndOffset).toBe(9);

    const { records, logEndOffset } = await log.read(0, 1 << 20);
    expect(logEndOffset).toBe(9);
    const walked = walkBatches(records);
    expect(walked.map((b) => b.baseOffset)).toEqual([0, 3, 4]);
    for (const [i, b] of walked.entries()) {
      expect(b.crcValid).toBe(true);
      expect(b.leaderEpoch).toBe(7);
      // Everything from the attributes on is byte-identical to what the producer sent.
      expect(records.subarray(b.position + 21, b.position + b.size)).toEqual(originals[i].subarray(21));
    }
  });

  it("stores batches the codec decodes with the assigned offsets (compressed ones too)", async () => {
    const log = await openLog();
    await log.append(simpleBatch(2), leader());
    const values = ["a", "b", "c"].map((v) => ({ value: Buffer.from(v), timestamp: NOW }));
    await log.append(makeBatch(values, { compression: "lz4" }), leader(2));
    await log.append(makeBatch(values, { compression: "gzip" }), leader(2));
    const decoded = decodeRecords((await log.read(0, 1 << 20)).records);
    expect(decoded.map((r) => Number(r.offset))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(decoded.slice(2).map((r) => r.value?.toString())).toEqual(["a", "b", "c", "a", "b", "c"]);
    expect(decoded[7].partitionLeaderEpoch).toBe(2);
  });

  it("finds timestamps inside compressed batches with the injected decompressor", async () => {
    const log = await openLog();
    const records = [10, 20, 30, 40].map((ts) => ({ value: Buffer.from("x"), timestamp: ts }));
    await log.append(makeBatch(records, { compression: "zstd" }), leader());
    expect(await log.offsetForTimestamp(25)).toEqual({ offset: 2, timestamp: 30 });
    expect(await log.offsetForTimestamp(5)).toEqual({ offset: 0, timestamp: 10 });
    expect(await log.offsetOfMaxTimestamp()).toEqual({ offset: 3, timestamp: 40 });
  });

  it("appends several batches in one buffer", async () => {
    const log = await openLog();
    const r = await log.append(Buffer.concat([simpleBatch(2), simpleBatch(3), simpleBatch(1)]), leader());
    expect([r.baseOffset, r.lastOffset]).toEqual([0, 5]);
    const walked = walkBatches((await log.read(0, 1 << 20)).records);
    expect(walked.map((b) => [b.baseOffset, b.lastOffset])).toEqual([
      [0, 1],
      [2, 4],
      [5, 5],
    ]);
  });

  it("applies LogAppendTime: max timestamp and type bit rewritten, CRC recomputed", async () => {
    const log = await openLog();
    const r = await log.append(simpleBatch(2, 10, 1000), {
      leaderEpoch: 1,
      timestampType: "LogAppendTime",
      now: 123_456,
    });
    expect(r.logAppendTime).toBe(123_456);
    const [b] = walkBatches((await log.read(0, 1000)).records);
    expect(b.maxTimestamp).toBe(123_456);
    expect(b.attributes & 0x08).toBe(0x08);
    expect(b.crcValid).toBe(true);
  });

  it("rejects corrupt, oversized and malformed batches with Kafka error names", async () => {
    const log = await openLog({ maxMessageBytes: 500 });
    const badCrc = simpleBatch(2);
    badCrc[badCrc.length - 1] ^= 0xff;
    await expectStorageError(log.append(badCrc, leader()), "CORRUPT_MESSAGE");

    const magic1 = simpleBatch(1);
    magic1.writeInt8(1, 16);
    await expectStorageError(log.append(magic1, leader()), "INVALID_RECORD");

    await expectStorageError(log.append(simpleBatch(10, 100), leader()), "MESSAGE_TOO_LARGE");

    const tooShort = simpleBatch(1);
    tooShort.writeInt32BE(20, 8);
    await expectStorageError(log.append(tooShort, leader()), "CORRUPT_MESSAGE");

    const badCount = makeBatch([{ value: Buffer.from("a") }, { value: Buffer.from("b") }]);
    badCount.writeInt32BE(5, 57);
    const { writeBatchCrc } = await import("../../protocol/records/batch-header.ts");
    writeBatchCrc(badCount, 0);
    await expectStorageError(log.append(badCount, leader()), "INVALID_RECORD");

    expect(log.logEndOffset).toBe(0);
    // A trailing partial batch is dropped, as Kafka does.
    const whole = simpleBatch(2);
    const r = await log.append(Buffer.concat([whole, simpleBatch(3).subarray(0, 30)]), leader());
    expect([r.baseOffset, r.lastOffset]).toEqual([0, 1]);
    expect(log.size).toBe(whole.length);
  });

  it("rejects an append larger than segment.bytes with RECORD_LIST_TOO_LARGE", async () => {
    const log = await openLog({ segmentBytes: 300, maxMessageBytes: 10_000 });
    await expectStorageError(log.append(simpleBatch(20, 50), leader()), "RECORD_LIST_TOO_LARGE");
  });

  it("enforces the CreateTime window when configured", async () => {
    const log = await openLog({ messageTimestampAfterMaxMs: 1000, messageTimestampBeforeMaxMs: 5000 });
    await expectStorageError(log.append(simpleBatch(1, 5, NOW + 5000), leader(0, NOW)), "INVALID_TIMESTAMP");
    await expectStorageError(log.append(simpleBatch(1, 5, NOW - 6000), leader(0, NOW)), "INVALID_TIMESTAMP");
    await log.append(simpleBatch(1, 5, NOW - 100), leader(0, NOW));
    // LogAppendTime topics ignore the producer's timestamps.
    await log.append(simpleBatch(1, 5, 1), { leaderEpoch: 0, timestampType: "LogAppendTime", now: NOW });
  });

  it("answers OFFSET_OUT_OF_RANGE outside [logStartOffset, logEndOffset] and empty at the end", async () => {
    const log = await openLog();
    await log.append(simpleBatch(3), leader());
    await expectStorageError(log.read(4, 100), "OFFSET_OUT_OF_RANGE");
    await expectStorageError(log.read(-1, 100), "OFFSET_OUT_OF_RANGE");
    expect((await log.read(3, 100)).records.length).toBe(0);
  });

  it("returns whole batches within maxBytes, at least one (KIP-74), and stops at maxOffset", async () => {
    const log = await openLog();
    const sizes = [];
    for (let i = 0; i < 5; i++) {
      const b = simpleBatch(2, 50);
      sizes.push(b.length);
      await log.append(b, leader());
    }
    // Smaller than one batch: the first batch still comes back whole.
    let walked = walkBatches((await log.read(0, 10)).records);
    expect(walked.map((b) => b.baseOffset)).toEqual([0]);
    // Without minOneMessage nothing fits.
    expect((await log.read(0, 10, { minOneMessage: false })).records.length).toBe(0);
    // Room for two and a half batches: two.
    walked = walkBatches((await log.read(0, sizes[0] * 2 + 10)).records);
    expect(walked.map((b) => b.baseOffset)).toEqual([0, 2]);
    // A fetch offset inside a batch returns that whole batch.
    walked = walkBatches((await log.read(3, 1 << 20)).records);
    expect(walked[0].baseOffset).toBe(2);
    // maxOffset (e.g. the high watermark) excludes batches reaching it.
    walked = walkBatches((await log.read(0, 1 << 20, { maxOffset: 6 })).records);
    expect(walked.map((b) => b.baseOffset)).toEqual([0, 2, 4]);
    expect((await log.read(6, 1 << 20, { maxOffset: 6 })).records.length).toBe(0);
  });
});

describe("segments and indexes", () => {
  it("rolls at segment.bytes and reads across segments", async () => {
    const log = await openLog({ segmentBytes: 1000, indexIntervalBytes: 100 });
    let expected = 0;
    for (let i = 0; i < 60; i++) {
      const r = await log.append(simpleBatch(1 + (i % 4), 30), leader());
      expect(r.baseOffset).toBe(expected);
      expected = r.lastOffset + 1;
    }
    expect(log.segmentCount).toBeGreaterThan(3);
    const infos = log.segmentInfos();
    for (const s of infos) expect(s.size).toBeLessThanOrEqual(1000);
    for (let i = 1; i < infos.length; i++) expect(infos[i].baseOffset).toBe(infos[i - 1].nextOffset);
    const files = (await readdir(log.dir)).filter((f) => f.endsWith(".log")).sort();
    expect(files[0]).toBe("00000000000000000000.log");
    expect(files.length).toBe(infos.length);
    expect(files[1]).toBe(`${String(infos[1].baseOffset).padStart(20, "0")}.log`);

    const batches = await readAll(log, 0, 300);
    let next = 0;
    for (const b of batches) {
      expect(b.baseOffset).toBe(next);
      expect(b.crcValid).toBe(true);
      next = b.lastOffset + 1;
    }
    expect(next).toBe(log.logEndOffset);
  });

  it("finds the batch holding any offset through the sparse index (seeded random lookups)", async () => {
    const log = await openLog({ segmentBytes: 20_000, indexIntervalBytes: 256 });
    const rand = seededRandom(42);
    const spans: Array<[number, number]> = [];
    for (let i = 0; i < 400; i++) {
      const r = await log.append(
        simpleBatch(1 + Math.floor(rand() * 5), 10 + Math.floor(rand() * 60)),
        leader(),
      );
      spans.push([r.baseOffset, r.lastOffset]);
    }
    await log.close();
    // The index really is sparse: roughly one entry per 256 bytes of log.
    const indexFiles = (await readdir(log.dir)).filter((f) => f.endsWith(".index"));
    let indexBytes = 0;
    for (const f of indexFiles) indexBytes += (await stat(join(log.dir, f))).size;
    expect(indexBytes / 8).toBeGreaterThan(log.size / 256 / 2);
    expect(indexBytes / 8).toBeLessThan(log.size / 256 + indexFiles.length);

    const reopened = await PartitionLog.open({ dir: log.dir, config: { flushPolicy: "none" } });
    logs.push(reopened);
    for (let i = 0; i < 300; i++) {
      const offset = Math.floor(rand() * reopened.logEndOffset);
      const walked = walkBatches((await reopened.read(offset, 1)).records);
      expect(walked.length).toBe(1);
      const [base, last] = spans.find(([b, l]) => b <= offset && offset <= l)!;
      expect([walked[0].baseOffset, walked[0].lastOffset]).toEqual([base, last]);
    }
  });

  it("looks up offsets by timestamp (time index, then record-level scan)", async () => {
    const log = await openLog({ segmentBytes: 4000, indexIntervalBytes: 200 });
    const rand = seededRandom(7);
    const stamped: Array<{ offset: number; ts: number }> = [];
    let clock = 10_000;
    for (let i = 0; i < 150; i++) {
      const n = 1 + Math.floor(rand() * 4);
      const records = Array.from({ length: n }, () => {
        // Mostly increasing, sometimes a little out of order, like real producers.
        clock += Math.floor(rand() * 50) - 8;
        return { value: Buffer.alloc(20, 1), timestamp: clock };
      });
      const r = await log.append(makeBatch(records), leader());
      for (const [j, rec] of records.entries()) stamped.push({ offset: r.baseOffset + j, ts: rec.timestamp });
    }
    expect(log.segmentCount).toBeGreaterThan(2);
    const expectedFor = (target: number) => stamped.find((s) => s.ts >= target);
    for (let i = 0; i < 200; i++) {
      const target = 9_000 + Math.floor(rand() * (clock - 8_000));
      const hit = await log.offsetForTimestamp(target);
      const want = expectedFor(target);
      if (want === undefined) expect(hit).toBeUndefined();
      else expect(hit).toEqual({ offset: want.offset, timestamp: want.ts });
    }
    expect(await log.offsetForTimestamp(clock + 1000)).toBeUndefined();
    const maxTs = Math.max(...stamped.map((s) => s.ts));
    expect(await log.offsetOfMaxTimestamp()).toEqual({
      offset: stamped.find((s) => s.ts === maxTs)!.offset,
      timestamp: maxTs,
    });
  });

  it("rolls on segment.ms measured from the first batch's timestamp", async () => {
    const log = await openLog({ segmentMs: 1000 });
    await log.append(simpleBatch(1, 5, NOW), leader());
    await log.append(simpleBatch(1, 5, NOW + 500), leader());
    expect(log.segmentCount).toBe(1);
    await log.append(simpleBatch(1, 5, NOW + 1500), leader());
    expect(log.segmentCount).toBe(2);
    expect(log.segmentInfos()[1].baseOffset).toBe(2);
  });
});

describe("retention, deleteRecords, truncation", () => {
  async function filledLog(config: Partial<LogConfig>, batches: number, tsOf: (i: number) => number) {
    const log = await openLog({ segmentBytes: 600, ...config });
    for (let i = 0; i < batches; i++) await log.append(simpleBatch(2, 40, tsOf(i)), leader());
    log.setHighWatermark(log.logEndOffset);
    return log;
  }

  it("deletes segments older than retention.ms, never the active one unless it is rolled", async () => {
    const log = await filledLog({ retentionMs: 10_000 }, 30, (i) => NOW + i * 1000);
    const before = log.segmentInfos();
    expect(before.length).toBeGreaterThan(3);
    // At NOW + 20s segments whose largest timestamp is before NOW + 10s are expired.
    const deleted = await log.deleteOldSegments(NOW + 20_000);
    const expired = before.filter((s) => NOW + 20_000 - s.maxTimestamp > 10_000).length;
    expect(deleted).toBe(expired);
    expect(log.logStartOffset).toBe(before[expired].baseOffset);
    await expectStorageError(log.read(0, 100), "OFFSET_OUT_OF_RANGE");
    expect(walkBatches((await log.read(log.logStartOffset, 100)).records)[0].baseOffset).toBe(
      log.logStartOffset,
    );

    // Everything expired: the active segment is rolled, then deleted; an empty one remains.
    const end = log.logEndOffset;
    await log.deleteOldSegments(NOW + 1_000_000);
    expect(log.segmentCount).toBe(1);
    expect(log.logStartOffset).toBe(end);
    expect(log.logEndOffset).toBe(end);
    const r = await log.append(simpleBatch(1), leader());
    expect(r.baseOffset).toBe(end);
  });

  it("keeps segments above the high watermark", async () => {
    const log = await filledLog({ retentionMs: 0 }, 20, () => NOW);
    log.setHighWatermark(0);
    expect(await log.deleteOldSegments(NOW + 1_000_000)).toBe(0);
    const second = log.segmentInfos()[1].baseOffset;
    log.setHighWatermark(second);
    expect(await log.deleteOldSegments(NOW + 1_000_000)).toBe(1);
  });

  it("deletes the oldest segments while the log exceeds retention.bytes", async () => {
    const log = await filledLog({ retentionMs: -1, retentionBytes: 1500 }, 40, () => NOW);
    await log.deleteOldSegments(NOW);
    expect(log.size).toBeLessThanOrEqual(1500 + 600);
    const infos = log.segmentInfos();
    // Deleting one more segment would have brought the log under the limit.
    expect(log.size - infos[0].size).toBeLessThan(1500);
    expect(log.logStartOffset).toBe(infos[0].baseOffset);
    // Runtime config change: a larger limit deletes nothing more.
    log.updateConfig({ retentionBytes: 1_000_000 });
    expect(await log.deleteOldSegments(NOW)).toBe(0);
  });

  it("deleteRecordsBefore moves the log start offset and drops whole segments below it", async () => {
    const log = await filledLog({}, 30, () => NOW);
    const infos = log.segmentInfos();
    await expectStorageError(log.deleteRecordsBefore(log.logEndOffset + 1), "OFFSET_OUT_OF_RANGE");
    const target = infos[2].baseOffset + 1;
    expect(await log.deleteRecordsBefore(target)).toBe(target);
    expect(log.logStartOffset).toBe(target);
    expect(log.segmentInfos()[0].baseOffset).toBe(infos[2].baseOffset);
    await expectStorageError(log.read(target - 1, 100), "OFFSET_OUT_OF_RANGE");
    // The segment holding the new start stays; the read returns the batch holding it.
    const [b] = walkBatches((await log.read(target, 1)).records);
    expect(b.baseOffset).toBeLessThanOrEqual(target);
    expect(b.lastOffset).toBeGreaterThanOrEqual(target);
    // Going backwards is a no-op.
    expect(await log.deleteRecordsBefore(1)).toBe(target);
  });

  it("truncateTo cuts at batch boundaries, drops later segments and lets appends continue", async () => {
    const log = await filledLog({}, 30, () => NOW);
    const infos = log.segmentInfos();
    // Truncate into the middle of a batch (batches hold 2 offsets: 0-1, 2-3, ...).
    const target = infos[1].baseOffset + 3;
    await log.truncateTo(target);
    expect(log.logEndOffset).toBe(target - 1);
    expect(log.segmentCount).toBe(2);
    expect(log.highWatermark).toBe(target - 1);
    const r = await log.append(simpleBatch(1), leader());
    expect(r.baseOffset).toBe(target - 1);
    const all = await readAll(log, 0);
    expect(all[all.length - 1].lastOffset).toBe(target - 1);
    // Truncating to a segment's base empties that segment but keeps it as the active one.
    await log.truncateTo(infos[1].baseOffset);
    expect(log.segmentCount).toBe(2);
    expect(log.logEndOffset).toBe(infos[1].baseOffset);
    // Truncating below the start restarts the log.
    await log.deleteRecordsBefore(4);
    await log.truncateTo(2);
    expect([log.logStartOffset, log.logEndOffset, log.segmentCount]).toEqual([2, 2, 1]);
    expect((await log.append(simpleBatch(1), leader())).baseOffset).toBe(2);
  });

  it("truncateFullyAndStartAt empties the log at a new offset", async () => {
    const log = await filledLog({}, 10, () => NOW);
    await log.truncateFullyAndStartAt(1000);
    expect([log.logStartOffset, log.logEndOffset, log.highWatermark]).toEqual([1000, 1000, 1000]);
    expect(log.epochStartOffsets()).toEqual([]);
    expect((await log.append(simpleBatch(2), leader(3))).baseOffset).toBe(1000);
  });
});

describe("leader epochs", () => {
  it("records epoch start offsets and answers OffsetForLeaderEpoch", async () => {
    const log = await openLog();
    await log.append(simpleBatch(2), leader(0)); // 0-1
    await log.append(simpleBatch(2), leader(0)); // 2-3
    await log.append(simpleBatch(3), leader(1)); // 4-6
    await log.append(simpleBatch(1), leader(3)); // 7
    await log.append(simpleBatch(1), leader(3)); // 8
    expect(log.epochStartOffsets()).toEqual([
      { epoch: 0, startOffset: 0 },
      { epoch: 1, startOffset: 4 },
      { epoch: 3, startOffset: 7 },
    ]);
    expect(log.latestEpoch).toBe(3);
    expect(log.endOffsetForEpoch(0)).toEqual({ epoch: 0, endOffset: 4 });
    expect(log.endOffsetForEpoch(1)).toEqual({ epoch: 1, endOffset: 7 });
    expect(log.endOffsetForEpoch(2)).toEqual({ epoch: 1, endOffset: 7 });
    expect(log.endOffsetForEpoch(3)).toEqual({ epoch: 3, endOffset: 9 });
    expect(log.endOffsetForEpoch(4)).toEqual({ epoch: -1, endOffset: -1 });

    await log.truncateTo(7);
    expect(log.latestEpoch).toBe(1);
    expect(log.endOffsetForEpoch(1)).toEqual({ epoch: 1, endOffset: 7 });
  });

  it("follower appends keep the leader's offsets and epochs", async () => {
    const leaderLog = await openLog();
    await leaderLog.append(simpleBatch(2), leader(0));
    await leaderLog.append(simpleBatch(2), leader(2));
    const follower = await openLog();
    const { records } = await leaderLog.read(0, 1 << 20);
    const r = await follower.appendAsFollower(Buffer.from(records));
    expect([r.baseOffset, r.lastOffset]).toEqual([0, 3]);
    expect(follower.epochStartOffsets()).toEqual(leaderLog.epochStartOffsets());
    expect((await follower.read(0, 1 << 20)).records).toEqual(records);
    // Batches must not go backwards.
    await expectStorageError(follower.appendAsFollower(Buffer.from(records)), "OFFSET_OUT_OF_RANGE");
  });
});

it("LOG_OVERHEAD matches the stored framing", () => {
  const b = simpleBatch(1);
  expect(b.readInt32BE(8) + LOG_OVERHEAD).toBe(b.length);
});
