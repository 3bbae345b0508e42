/**
 * Batch-level checks and field reads for the log, on top of protocol/records/batch-header.ts.
 * Offsets and timestamps are JS numbers inside the storage layer (exact up to 2^53, far beyond
 * any real offset or millisecond timestamp); only the patched header fields go back as bigint.
 */
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_HEADER_SIZE,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODEC_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  MIN_ENTRY_LENGTH,
  PARTITION_LEADER_EPOCH_OFFSET,
  RECORD_COUNT_OFFSET,
  TIMESTAMP_TYPE_MASK,
  verifyBatchCrc,
} from "../../protocol/records/batch-header.ts";
import type { LogConfig } from "./config.ts";
import { StorageError } from "./errors.ts";

export { BATCH_HEADER_SIZE, LOG_OVERHEAD };

/** Smallest batchLength a v2 batch can declare (header without the 12-byte log overhead). */
export const MIN_V2_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD;

/** Reads a signed int64 as a number (exact for |v| < 2^53). */
export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * 4294967296 + buf.readUInt32BE(pos + 4);
}

export function batchBaseOffset(buf: Buffer, pos: number): number {
  return readInt64(buf, pos + BASE_OFFSET_OFFSET);
}

/** Total size of the entry at `pos` including the log overhead (no bounds check). */
export function batchTotalSize(buf: Buffer, pos: number): number {
  return LOG_OVERHEAD + buf.readInt32BE(pos + BATCH_LENGTH_OFFSET);
}

export function batchLastOffset(buf: Buffer, pos: number): number {
  return readInt64(buf, pos + BASE_OFFSET_OFFSET) + buf.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET);
}

export function batchMaxTimestamp(buf: Buffer, pos: number): number {
  return readInt64(buf, pos + MAX_TIMESTAMP_OFFSET);
}

export function batchLeaderEpoch(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + PARTITION_LEADER_EPOCH_OFFSET);
}

/** One validated batch of an append, positions relative to the appended buffer. */
export interface BatchSpanInfo {
  pos: number;
  size: number;
  /** lastOffsetDelta + 1: how many offsets the batch occupies. */
  offsetCount: number;
}

export interface ValidatedRecords {
  /** The bytes to write: the input, minus a trailing partial batch if there was one. */
  bytes: Buffer;
  batches: BatchSpanInfo[];
  /** Sum of offsetCount. */
  offsetCount: number;
}

export interface ValidateOptions {
  config: Pick<
    LogConfig,
    "maxMessageBytes" | "segmentBytes" | "messageTimestampBeforeMaxMs" | "messageTimestampAfterMaxMs"
  >;
  /** Check CreateTime timestamps against the before/after windows (leader appends only). */
  checkTimestamps: boolean;
  now: number;
  /** The first batch's CRC was verified by the caller (the CRC is the costliest check: not twice). */
  firstCrcVerified?: boolean;
}

/**
 * Validates the structure of every batch in an append without decoding records: lengths, magic 2,
 * CRC, offset-delta/count consistency, size limits and (optionally) CreateTime bounds. Like Kafka, a
 * trailing partial batch is dropped rather than rejected; a declared length that is impossible is
 * corruption.
 */
export function validateBatches(records: Buffer, opts: ValidateOptions): ValidatedRecords {
  const batches: BatchSpanInfo[] = [];
  const { config } = opts;
  let pos = 0;
  let offsetCount = 0;
  while (records.length - pos >= LOG_OVERHEAD) {
    const batchLength = records.readInt32BE(pos + BATCH_LENGTH_OFFSET);
    if (batchLength < MIN_ENTRY_LENGTH) {
      throw new StorageError(
        "CORRUPT_MESSAGE",
        `record batch at byte ${pos} has illegal length ${batchLength}`,
      );
    }
    const size = LOG_OVERHEAD + batchLength;
    if (size > records.length - pos) break;
    const magic = records.readInt8(pos + MAGIC_OFFSET);
    if (magic !== 2) {
      if (magic === 0 || magic === 1) {
        throw new StorageError(
          "INVALID_RECORD",
          `only magic 2 record batches are accepted, got magic ${magic}`,
        );
      }
      throw new StorageError("CORRUPT_MESSAGE", `record batch at byte ${pos} has invalid magic ${magic}`);
    }
    if (batchLength < MIN_V2_BATCH_LENGTH) {
      throw new StorageError("CORRUPT_MESSAGE", `record batch at byte ${pos} is shorter than a v2 header`);
    }
    if (size > config.maxMessageBytes) {
      throw new StorageError(
        "MESSAGE_TOO_LARGE",
        `record batch of ${size} bytes exceeds max.message.bytes ${config.maxMessageBytes}`,
      );
    }
    if (!(pos === 0 && opts.firstCrcVerified) && !verifyBatchCrc(records, pos)) {
      throw new StorageError("CORRUPT_MESSAGE", `record batch at byte ${pos} fails its CRC check`);
    }
    const lastOffsetDelta = records.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET);
    const recordCount = records.readInt32BE(pos + RECORD_COUNT_OFFSET);
    if (lastOffsetDelta < 0) {
      throw new StorageError("INVALID_RECORD", `record batch has invalid lastOffsetDelta ${lastOffsetDelta}`);
    }
    if (recordCount <= 0 || recordCount !== lastOffsetDelta + 1) {
      throw new StorageError(
        "INVALID_RECORD",
        `record batch reports ${recordCount} records but spans ${lastOffsetDelta + 1} offsets`,
      );
    }
    if (opts.checkTimestamps && (records.readInt16BE(pos + ATTRIBUTES_OFFSET) & TIMESTAMP_TYPE_MASK) === 0) {
      checkTimestamp(records, pos, opts);
    }
    batches.push({ pos, size, offsetCount: lastOffsetDelta + 1 });
    offsetCount += lastOffsetDelta + 1;
    pos += size;
  }
  if (pos > config.segmentBytes) {
    throw new StorageError(
      "RECORD_LIST_TOO_LARGE",
      `append of ${pos} bytes is larger than segment.bytes ${config.segmentBytes}`,
    );
  }
  return { bytes: pos === records.length ? records : records.subarray(0, pos), batches, offsetCount };
}

function checkTimestamp(records: Buffer, pos: number, opts: ValidateOptions): void {
  const { messageTimestampBeforeMaxMs: before, messageTimestampAfterMaxMs: after } = opts.config;
  if (before === Number.POSITIVE_INFINITY && after === Number.POSITIVE_INFINITY) return;
  const base = readInt64(records, pos + BASE_TIMESTAMP_OFFSET);
  const max = readInt64(records, pos + MAX_TIMESTAMP_OFFSET);
  if (opts.now - base > before || max - opts.now > after) {
    throw new StorageError(
      "INVALID_TIMESTAMP",
      `record batch timestamps [${base}, ${max}] are outside the accepted window around ${opts.now}`,
    );
  }
}

/** Why a stored batch is not valid, or undefined when it is (used by recovery). */
export function checkStoredBatch(buf: Buffer, pos: number, end: number): string | undefined {
  if (end - pos < LOG_OVERHEAD) return "partial log overhead";
  const batchLength = buf.readInt32BE(pos + BATCH_LENGTH_OFFSET);
  if (batchLength < MIN_V2_BATCH_LENGTH) return `illegal batch length ${batchLength}`;
  if (LOG_OVERHEAD + batchLength > end - pos) return "partial batch";
  if (buf.readInt8(pos + MAGIC_OFFSET) !== 2) return `invalid magic ${buf.readInt8(pos + MAGIC_OFFSET)}`;
  if (buf.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET) < 0) return "negative lastOffsetDelta";
  if (!verifyBatchCrc(buf, pos)) return "CRC mismatch";
  return undefined;
}

// ---- record-level timestamp search (ListOffsets by timestamp) -----------------------------------

/** Decompresses a batch's records section; the broker passes protocol/records/compression.ts here. */
export type Decompressor = (codec: number, data: Buffer) => Buffer;

export interface TimestampHit {
  offset: number;
  timestamp: number;
}

/**
 * The first record in the batch at `pos` whose timestamp is >= `target` and whose offset is >=
 * `minOffset` (undefined when there is none). Walks only the record prefixes (length, attributes, timestampDelta,
 * offsetDelta). A compressed batch needs `decompress`; without it the batch's base offset and max
 * timestamp are returned (a conservative answer: never later than the exact one).
 */
export function firstRecordAtOrAfterTimestamp(
  buf: Buffer,
  pos: number,
  target: number,
  minOffset: number,
  decompress?: Decompressor,
): TimestampHit | undefined {
  const baseOffset = batchBaseOffset(buf, pos);
  const maxTimestamp = batchMaxTimestamp(buf, pos);
  if (maxTimestamp < target) return undefined;
  const attributes = buf.readInt16BE(pos + ATTRIBUTES_OFFSET);
  // LogAppendTime: every record carries the batch's maxTimestamp.
  if (attributes & TIMESTAMP_TYPE_MASK)
    return { offset: Math.max(baseOffset, minOffset), timestamp: maxTimestamp };
  const end = pos + batchTotalSize(buf, pos);
  let data = buf.subarray(pos + BATCH_HEADER_SIZE, end);
  const codec = attributes & COMPRESSION_CODEC_MASK;
  if (codec !== 0) {
    if (!decompress) return { offset: Math.max(baseOffset, minOffset), timestamp: maxTimestamp };
    data = decompress(codec, data);
  }
  const baseTimestamp = readInt64(buf, pos + BASE_TIMESTAMP_OFFSET);
  const count = buf.readInt32BE(pos + RECORD_COUNT_OFFSET);
  const cursor = { pos: 0 };
  for (let i = 0; i < count && cursor.pos < data.length; i++) {
    const length = readVarlong(data, cursor);
    const recordStart = cursor.pos;
    cursor.pos += 1; // attributes
    const timestamp = baseTimestamp + readVarlong(data, cursor);
    const offsetDelta = readVarlong(data, cursor);
    if (timestamp >= target && baseOffset + offsetDelta >= minOffset) {
      return { offset: baseOffset + offsetDelta, timestamp };
    }
    cursor.pos = recordStart + length;
  }
  return undefined;
}

/** Zigzag varint/varlong as a number (exact within 2^53). */
function readVarlong(buf: Buffer, cursor: { pos: number }): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (cursor.pos >= buf.length) throw new StorageError("CORRUPT_MESSAGE", "truncated varint in record");
    const b = buf[cursor.pos++];
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
    scale *= 128;
  }
  throw new StorageError("CORRUPT_MESSAGE", "varint longer than 10 bytes in record");
}
