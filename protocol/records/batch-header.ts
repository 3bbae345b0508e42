/**
 * Fixed-layout accessors for the RecordBatch v2 header, working in place on a Buffer.
 *
 * The broker stores batches exactly as the producer sent them and only patches header fields
 * (base offset, leader epoch, LogAppendTime), so everything here reads and writes at fixed
 * positions and allocates nothing beyond the returned header object.
 *
 * Layout (byte offsets from the start of the batch):
 *   0 baseOffset int64 | 8 batchLength int32 | 12 partitionLeaderEpoch int32 | 16 magic int8
 *   17 crc uint32 | 21 attributes int16 | 23 lastOffsetDelta int32 | 27 baseTimestamp int64
 *   35 maxTimestamp int64 | 43 producerId int64 | 51 producerEpoch int16 | 53 baseSequence int32
 *   57 recordCount int32 | 61 records...
 * batchLength counts the bytes after the batchLength field; the CRC-32C covers attributes..end.
 */
import { crc32c } from "@node-rs/crc32";
import { ProtocolError } from "../wire/errors.ts";

/** Size of the v2 header including baseOffset and batchLength. */
export const BATCH_HEADER_SIZE = 61;
/** baseOffset (8) + batchLength (4): the part of every log entry (any magic) outside batchLength. */
export const LOG_OVERHEAD = 12;
/**
 * Smallest legal value of the length field of a log entry: a magic 0 message with null key and
 * value (crc 4 + magic 1 + attributes 1 + key length 4 + value length 4). Kafka rejects anything
 * smaller as corrupt before looking at the magic byte.
 */
export const MIN_ENTRY_LENGTH = 14;

export const BASE_OFFSET_OFFSET = 0;
export const BATCH_LENGTH_OFFSET = 8;
export const PARTITION_LEADER_EPOCH_OFFSET = 12;
export const MAGIC_OFFSET = 16;
export const CRC_OFFSET = 17;
export const ATTRIBUTES_OFFSET = 21;
export const LAST_OFFSET_DELTA_OFFSET = 23;
export const BASE_TIMESTAMP_OFFSET = 27;
export const MAX_TIMESTAMP_OFFSET = 35;
export const PRODUCER_ID_OFFSET = 43;
export const PRODUCER_EPOCH_OFFSET = 51;
export const BASE_SEQUENCE_OFFSET = 53;
export const RECORD_COUNT_OFFSET = 57;

/** Attribute bits of a v2 batch (and, for the codec bits, of legacy messages). */
export const COMPRESSION_CODEC_MASK = 0x07;
export const TIMESTAMP_TYPE_MASK = 0x08;
export const TRANSACTIONAL_FLAG_MASK = 0x10;
export const CONTROL_FLAG_MASK = 0x20;
/** Set by the log cleaner on batches whose delete horizon is in baseTimestamp (KIP-534). */
export const DELETE_HORIZON_FLAG_MASK = 0x40;

export interface BatchHeader {
  baseOffset: bigint;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

function ensureHeader(buf: Buffer, offset: number): void {
  if (offset < 0 || offset + BATCH_HEADER_SIZE > buf.length) {
    throw new ProtocolError(
      "TRUNCATED",
      `record batch header needs ${BATCH_HEADER_SIZE} bytes, ${Math.max(0, buf.length - offset)} available`,
      { offset },
    );
  }
}

function ensureWholeBatch(buf: Buffer, offset: number): number {
  ensureHeader(buf, offset);
  const end = offset + LOG_OVERHEAD + buf.readInt32BE(offset + BATCH_LENGTH_OFFSET);
  if (end > buf.length || end < offset + BATCH_HEADER_SIZE) {
    throw new ProtocolError(
      "TRUNCATED",
      `record batch declares ${end - offset} bytes, ${buf.length - offset} available`,
      { offset },
    );
  }
  return end;
}

/** Reads the 61-byte header at `offset` without touching the records. */
export function readBatchHeader(buf: Buffer, offset = 0): BatchHeader {
  ensureHeader(buf, offset);
  return {
    baseOffset: buf.readBigInt64BE(offset + BASE_OFFSET_OFFSET),
    batchLength: buf.readInt32BE(offset + BATCH_LENGTH_OFFSET),
    partitionLeaderEpoch: buf.readInt32BE(offset + PARTITION_LEADER_EPOCH_OFFSET),
    magic: buf.readInt8(offset + MAGIC_OFFSET),
    crc: buf.readUInt32BE(offset + CRC_OFFSET),
    attributes: buf.readInt16BE(offset + ATTRIBUTES_OFFSET),
    lastOffsetDelta: buf.readInt32BE(offset + LAST_OFFSET_DELTA_OFFSET),
    baseTimestamp: buf.readBigInt64BE(offset + BASE_TIMESTAMP_OFFSET),
    maxTimestamp: buf.readBigInt64BE(offset + MAX_TIMESTAMP_OFFSET),
    producerId: buf.readBigInt64BE(offset + PRODUCER_ID_OFFSET),
    producerEpoch: buf.readInt16BE(offset + PRODUCER_EPOCH_OFFSET),
    baseSequence: buf.readInt32BE(offset + BASE_SEQUENCE_OFFSET),
    recordCount: buf.readInt32BE(offset + RECORD_COUNT_OFFSET),
  };
}

/** Magic byte of the log entry at `offset`; valid for every magic because the position is shared. */
export function readMagic(buf: Buffer, offset = 0): number {
  if (offset + MAGIC_OFFSET >= buf.length) {
    throw new ProtocolError("TRUNCATED", "log entry too short to hold a magic byte", { offset });
  }
  return buf.readInt8(offset + MAGIC_OFFSET);
}

export function readBaseOffset(buf: Buffer, offset = 0): bigint {
  ensureHeader(buf, offset);
  return buf.readBigInt64BE(offset + BASE_OFFSET_OFFSET);
}

/** Absolute offset of the batch's last record, straight from the buffer (v2 only). */
export function readLastOffset(buf: Buffer, offset = 0): bigint {
  ensureHeader(buf, offset);
  return (
    buf.readBigInt64BE(offset + BASE_OFFSET_OFFSET) +
    BigInt(buf.readInt32BE(offset + LAST_OFFSET_DELTA_OFFSET))
  );
}

/** Absolute offset of the batch's last record. */
export function lastOffset(header: Pick<BatchHeader, "baseOffset" | "lastOffsetDelta">): bigint {
  return header.baseOffset + BigInt(header.lastOffsetDelta);
}

/** Offset the next batch would start at. */
export function nextOffset(header: Pick<BatchHeader, "baseOffset" | "lastOffsetDelta">): bigint {
  return header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
}

/** Total bytes of the batch including the 12-byte log overhead. */
export function batchSize(header: Pick<BatchHeader, "batchLength">): number {
  return LOG_OVERHEAD + header.batchLength;
}

/** Not covered by the CRC: the leader assigns offsets on append without re-checksumming. */
export function setBaseOffset(buf: Buffer, offset: number, value: bigint): void {
  ensureHeader(buf, offset);
  buf.writeBigInt64BE(value, offset + BASE_OFFSET_OFFSET);
}

/** Not covered by the CRC: the leader stamps its epoch on append. */
export function setPartitionLeaderEpoch(buf: Buffer, offset: number, epoch: number): void {
  ensureHeader(buf, offset);
  buf.writeInt32BE(epoch, offset + PARTITION_LEADER_EPOCH_OFFSET);
}

/**
 * Sets maxTimestamp and the timestamp-type bit, then recomputes the CRC (both fields are covered by
 * it). This is how a broker applies LogAppendTime: the per-record deltas stay as the producer wrote
 * them and readers substitute maxTimestamp for every record. Skips the CRC pass when nothing changes.
 */
export function setMaxTimestampAndTimestampType(
  buf: Buffer,
  offset: number,
  timestamp: bigint,
  logAppendTime: boolean,
): void {
  ensureWholeBatch(buf, offset);
  const attributes = buf.readInt16BE(offset + ATTRIBUTES_OFFSET);
  const newAttributes = logAppendTime ? attributes | TIMESTAMP_TYPE_MASK : attributes & ~TIMESTAMP_TYPE_MASK;
  if (newAttributes === attributes && buf.readBigInt64BE(offset + MAX_TIMESTAMP_OFFSET) === timestamp) return;
  buf.writeInt16BE(newAttributes, offset + ATTRIBUTES_OFFSET);
  buf.writeBigInt64BE(timestamp, offset + MAX_TIMESTAMP_OFFSET);
  buf.writeUInt32BE(computeBatchCrc(buf, offset), offset + CRC_OFFSET);
}

/** CRC-32C over attributes..end of the batch at `offset`, as an unsigned 32-bit number. */
export function computeBatchCrc(buf: Buffer, offset = 0): number {
  const end = ensureWholeBatch(buf, offset);
  return crc32c(buf.subarray(offset + ATTRIBUTES_OFFSET, end)) >>> 0;
}

export function verifyBatchCrc(buf: Buffer, offset = 0): boolean {
  return computeBatchCrc(buf, offset) === buf.readUInt32BE(offset + CRC_OFFSET);
}

/** Writes the freshly computed CRC into the header (after building or editing a batch). */
export function writeBatchCrc(buf: Buffer, offset = 0): void {
  buf.writeUInt32BE(computeBatchCrc(buf, offset), offset + CRC_OFFSET);
}

export function compressionCodec(attributes: number): number {
  return attributes & COMPRESSION_CODEC_MASK;
}

/** 0 = CreateTime, 1 = LogAppendTime. */
export function timestampType(attributes: number): 0 | 1 {
  return attributes & TIMESTAMP_TYPE_MASK ? 1 : 0;
}

export function isLogAppendTime(attributes: number): boolean {
  return (attributes & TIMESTAMP_TYPE_MASK) !== 0;
}

export function isTransactional(attributes: number): boolean {
  return (attributes & TRANSACTIONAL_FLAG_MASK) !== 0;
}

export function isControl(attributes: number): boolean {
  return (attributes & CONTROL_FLAG_MASK) !== 0;
}

export function hasDeleteHorizon(attributes: number): boolean {
  return (attributes & DELETE_HORIZON_FLAG_MASK) !== 0;
}

/** Builds a v2 attributes value from its parts. */
export function makeAttributes(parts: {
  compression?: number;
  logAppendTime?: boolean;
  transactional?: boolean;
  control?: boolean;
}): number {
  let attributes = (parts.compression ?? 0) & COMPRESSION_CODEC_MASK;
  if (parts.logAppendTime) attributes |= TIMESTAMP_TYPE_MASK;
  if (parts.transactional) attributes |= TRANSACTIONAL_FLAG_MASK;
  if (parts.control) attributes |= CONTROL_FLAG_MASK;
  return attributes;
}

export interface BatchSpan {
  /** Where the log entry starts (its baseOffset / offset field). */
  offset: number;
  /** Total bytes including the 12-byte log overhead. */
  length: number;
}

/**
 * Splits a records field into its log entries (v2 batches or legacy messages: both start with an
 * int64 offset and an int32 length). Like Kafka's ByteBufferLogInputStream, a trailing partial
 * entry ends the iteration silently (fetch responses may cut the last batch short), while a length
 * below the minimum legal entry is corruption. Does not inspect magic or CRC.
 */
export function splitBatches(recordsBytes: Buffer, maxEntryLength = 0x7fffffff): BatchSpan[] {
  const spans: BatchSpan[] = [];
  let pos = 0;
  while (recordsBytes.length - pos >= LOG_OVERHEAD) {
    const entryLength = recordsBytes.readInt32BE(pos + BATCH_LENGTH_OFFSET);
    if (entryLength < MIN_ENTRY_LENGTH) {
      throw new ProtocolError(
        "CORRUPT_RECORD",
        `log entry length ${entryLength} is below the minimum ${MIN_ENTRY_LENGTH}`,
        { offset: pos + BATCH_LENGTH_OFFSET },
      );
    }
    if (entryLength > maxEntryLength) {
      throw new ProtocolError(
        "CORRUPT_RECORD",
        `log entry length ${entryLength} exceeds the limit ${maxEntryLength}`,
        { offset: pos + BATCH_LENGTH_OFFSET },
      );
    }
    const total = LOG_OVERHEAD + entryLength;
    if (total > recordsBytes.length - pos) break;
    spans.push({ offset: pos, length: total });
    pos += total;
  }
  return spans;
}
