/**
 * Test helpers for the storage tests: a RecordBatch v2 builder (over the protocol codec), a batch
 * walker, a seeded PRNG and temp directories. Not a test file itself.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BATCH_HEADER_SIZE,
  LOG_OVERHEAD,
  readBatchHeader,
  verifyBatchCrc,
} from "../../protocol/records/batch-header.ts";
import type { CompressionName } from "../../protocol/records/compression.ts";
import { encodeRecordBatch } from "../../protocol/records/record-batch.ts";

export interface TestRecord {
  key?: Buffer | null;
  value: Buffer | null;
  /** Absolute timestamp; defaults to the batch's base timestamp. */
  timestamp?: number;
}

export interface BatchOptions {
  baseOffset?: number;
  leaderEpoch?: number;
  /** Timestamp of records that do not set their own. */
  baseTimestamp?: number;
  producerId?: number;
  compression?: CompressionName;
}

/** Builds a valid v2 batch (CRC computed) with the protocol codec. */
export function makeBatch(records: TestRecord[], opts: BatchOptions = {}): Buffer {
  const baseTimestamp = opts.baseTimestamp ?? 1_700_000_000_000;
  return encodeRecordBatch({
    baseOffset: BigInt(opts.baseOffset ?? 0),
    partitionLeaderEpoch: opts.leaderEpoch ?? -1,
    producerId: BigInt(opts.producerId ?? -1),
    compression: opts.compression,
    records: records.map((r) => ({
      key: r.key ?? null,
      value: r.value,
      timestamp: r.timestamp ?? baseTimestamp,
    })),
  });
}

/** A batch of `count` records with values of `valueSize` bytes, all at `timestamp`. */
export function simpleBatch(
  count: number,
  valueSize = 20,
  timestamp = 1_700_000_000_000,
  fill = 0x61,
): Buffer {
  return makeBatch(
    Array.from({ length: count }, () => ({ value: Buffer.alloc(valueSize, fill) })),
    { baseTimestamp: timestamp },
  );
}

export interface WalkedBatch {
  position: number;
  size: number;
  baseOffset: number;
  lastOffset: number;
  leaderEpoch: number;
  maxTimestamp: number;
  attributes: number;
  crcValid: boolean;
  records: Buffer;
}

/** Splits stored bytes into batches (all must be whole). */
export function walkBatches(buf: Buffer): WalkedBatch[] {
  const out: WalkedBatch[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const h = readBatchHeader(buf, pos);
    const size = LOG_OVERHEAD + h.batchLength;
    if (pos + size > buf.length) throw new Error(`partial batch at ${pos}`);
    out.push({
      position: pos,
      size,
      baseOffset: Number(h.baseOffset),
      lastOffset: Number(h.baseOffset) + h.lastOffsetDelta,
      leaderEpoch: h.partitionLeaderEpoch,
      maxTimestamp: Number(h.maxTimestamp),
      attributes: h.attributes,
      crcValid: verifyBatchCrc(buf, pos),
      records: buf.subarray(pos + BATCH_HEADER_SIZE, pos + size),
    });
    pos += size;
  }
  return out;
}

/** mulberry32: small deterministic PRNG for seeded randomized tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Temp directories created by a test file, removed by `cleanup()` (call it in afterEach). */
export function tempDirs(): { make: (prefix?: string) => Promise<string>; cleanup: () => Promise<void> } {
  const dirs: string[] = [];
  return {
    make: async (prefix = "gauntlet-storage-") => {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    cleanup: async () => {
      await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}
