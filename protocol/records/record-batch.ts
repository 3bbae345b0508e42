/**
 * RecordBatch v2 (magic 2) encoding and decoding.
 *
 * Record layout (all varints zigzag-encoded): length, attributes int8, timestampDelta varlong,
 * offsetDelta varint, key (varint length, -1 = null), value (likewise), header count, then per
 * header a key (varint length + UTF-8) and a value (varint length, -1 = null). With compression,
 * everything after the 61-byte header is one compressed stream of these records.
 */
import { ProtocolError } from "../wire/errors.ts";
import { Reader } from "../wire/reader.ts";
import { Writer } from "../wire/writer.ts";
import {
  BATCH_HEADER_SIZE,
  type BatchHeader,
  CRC_OFFSET,
  compressionCodec,
  computeBatchCrc,
  isControl,
  isTransactional,
  LOG_OVERHEAD,
  makeAttributes,
  readBatchHeader,
  timestampType,
} from "./batch-header.ts";
import {
  Compression,
  type CompressionName,
  compress,
  compressionFromName,
  DEFAULT_MAX_DECOMPRESSED_SIZE,
  decompress,
} from "./compression.ts";
import { decodeControlRecord, encodeControlKey, encodeEndTxnMarkerValue } from "./control.ts";
import type { ControlRecord, DecodeOptions, RecordHeader } from "./types.ts";

export const RECORD_BATCH_MAGIC = 2;
/** The smallest encoded record: length, attributes, deltas, null key/value lengths, header count. */
const MIN_RECORD_SIZE = 7;

export type Bytes = Buffer | string | null;

export interface RecordHeaderInput {
  key: string;
  value: Buffer | string | null;
}

export interface RecordInput {
  key: Bytes;
  value: Bytes;
  headers?: RecordHeaderInput[];
  timestamp: bigint | number;
  /** Defaults to the record's index in the batch. */
  offsetDelta?: number;
}

export interface EncodeRecordBatchOptions {
  baseOffset?: bigint;
  /** -1 (unset) as producers write it; the leader stamps its epoch on append. */
  partitionLeaderEpoch?: number;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
  isControl?: boolean;
  compression?: CompressionName | Compression;
  /** 0 / "create" = CreateTime (default), 1 / "log-append" = LogAppendTime. */
  timestampType?: 0 | 1 | "create" | "log-append";
  /** Defaults to the largest record timestamp (-1 for an empty batch). */
  maxTimestamp?: bigint;
  /** Defaults to the last record's offsetDelta (0 for an empty batch). */
  lastOffsetDelta?: number;
  records: RecordInput[];
}

export interface DecodedRecord {
  offset: bigint;
  offsetDelta: number;
  /** Effective timestamp: maxTimestamp for LogAppendTime batches, base + delta otherwise. */
  timestamp: bigint;
  timestampDelta: bigint;
  /** Record-level attributes (unused by Kafka so far, always 0 from real clients). */
  attributes: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface DecodedRecordBatch {
  header: BatchHeader;
  compression: Compression;
  timestampType: 0 | 1;
  isTransactional: boolean;
  isControl: boolean;
  /** Bytes the batch occupies in the records field, including the 12-byte log overhead. */
  sizeInBytes: number;
  records: DecodedRecord[];
  /** For control batches: the decoded control record. */
  control?: ControlRecord;
}

function toBuffer(b: Buffer | string | null): Buffer | null {
  if (b === null || b === undefined) return null;
  return typeof b === "string" ? Buffer.from(b, "utf8") : b;
}

function sizeOfUvarint(v: number): number {
  let size = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

function sizeOfVarint(v: number): number {
  return sizeOfUvarint(((v << 1) ^ (v >> 31)) >>> 0);
}

function sizeOfVarlong(v: bigint): number {
  let u = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  let size = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    size++;
  }
  return size;
}

function sizeOfVarBytes(b: Buffer | null): number {
  return b === null ? 1 : sizeOfVarint(b.length) + b.length;
}

interface PreparedRecord {
  offsetDelta: number;
  timestampDelta: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: Buffer; value: Buffer | null }[];
  bodySize: number;
}

function prepareRecord(record: RecordInput, index: number, baseTimestamp: bigint): PreparedRecord {
  const key = toBuffer(record.key);
  const value = toBuffer(record.value);
  const headers = (record.headers ?? []).map((h) => ({
    key: Buffer.from(h.key, "utf8"),
    value: toBuffer(h.value),
  }));
  const offsetDelta = record.offsetDelta ?? index;
  const timestampDelta = BigInt(record.timestamp) - baseTimestamp;
  let bodySize =
    1 + // attributes
    sizeOfVarlong(timestampDelta) +
    sizeOfVarint(offsetDelta) +
    sizeOfVarBytes(key) +
    sizeOfVarBytes(value) +
    sizeOfVarint(headers.length);
  for (const h of headers) bodySize += sizeOfVarBytes(h.key) + sizeOfVarBytes(h.value);
  return { offsetDelta, timestampDelta, key, value, headers, bodySize };
}

function writeVarBytes(w: Writer, b: Buffer | null): void {
  if (b === null) w.varint(-1);
  else w.varint(b.length).raw(b);
}

function writeRecord(w: Writer, r: PreparedRecord): void {
  w.varint(r.bodySize).int8(0).varlong(r.timestampDelta).varint(r.offsetDelta);
  writeVarBytes(w, r.key);
  writeVarBytes(w, r.value);
  w.varint(r.headers.length);
  for (const h of r.headers) {
    writeVarBytes(w, h.key);
    writeVarBytes(w, h.value);
  }
}

function resolveCompression(c: CompressionName | Compression | undefined): Compression {
  if (c === undefined) return Compression.None;
  return typeof c === "string" ? compressionFromName(c) : c;
}

/**
 * Encodes one v2 batch. The base timestamp is the first record's timestamp (as the Java producer
 * does), so deltas may be negative when timestamps are not ordered.
 */
export function encodeRecordBatch(opts: EncodeRecordBatchOptions): Buffer {
  const compression = resolveCompression(opts.compression);
  const records = opts.records;
  const baseTimestamp = records.length > 0 ? BigInt(records[0]!.timestamp) : -1n;
  let maxTimestamp = opts.maxTimestamp;
  if (maxTimestamp === undefined) {
    maxTimestamp = -1n;
    for (const r of records) if (BigInt(r.timestamp) > maxTimestamp) maxTimestamp = BigInt(r.timestamp);
  }
  const prepared = records.map((r, i) => prepareRecord(r, i, baseTimestamp));
  let rawSize = 0;
  for (const r of prepared) rawSize += sizeOfVarint(r.bodySize) + r.bodySize;
  const body = new Writer(Math.max(16, rawSize));
  for (const r of prepared) writeRecord(body, r);
  const payload = compress(compression, body.finish());

  const lastOffsetDelta = opts.lastOffsetDelta ?? prepared.at(-1)?.offsetDelta ?? 0;
  const logAppendTime = opts.timestampType === 1 || opts.timestampType === "log-append";
  const attributes = makeAttributes({
    compression,
    logAppendTime,
    transactional: opts.transactional ?? false,
    control: opts.isControl ?? false,
  });

  const out = Buffer.allocUnsafe(BATCH_HEADER_SIZE + payload.length);
  out.writeBigInt64BE(opts.baseOffset ?? 0n, 0);
  out.writeInt32BE(BATCH_HEADER_SIZE - LOG_OVERHEAD + payload.length, 8);
  out.writeInt32BE(opts.partitionLeaderEpoch ?? -1, 12);
  out.writeInt8(RECORD_BATCH_MAGIC, 16);
  out.writeUInt32BE(0, CRC_OFFSET);
  out.writeInt16BE(attributes, 21);
  out.writeInt32BE(lastOffsetDelta, 23);
  out.writeBigInt64BE(baseTimestamp, 27);
  out.writeBigInt64BE(maxTimestamp, 35);
  out.writeBigInt64BE(opts.producerId ?? -1n, 43);
  out.writeInt16BE(opts.producerEpoch ?? -1, 51);
  out.writeInt32BE(opts.baseSequence ?? -1, 53);
  out.writeInt32BE(records.length, 57);
  payload.copy(out, BATCH_HEADER_SIZE);
  out.writeUInt32BE(computeBatchCrc(out, 0), CRC_OFFSET);
  return out;
}

export interface EndTxnMarkerOptions {
  commit: boolean;
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  timestamp: bigint | number;
  baseOffset?: bigint;
  partitionLeaderEpoch?: number;
}

/** A transaction marker as the coordinator writes it: transactional control batch, sequence -1. */
export function encodeEndTxnMarker(opts: EndTxnMarkerOptions): Buffer {
  return encodeRecordBatch({
    baseOffset: opts.baseOffset,
    partitionLeaderEpoch: opts.partitionLeaderEpoch,
    producerId: opts.producerId,
    producerEpoch: opts.producerEpoch,
    baseSequence: -1,
    transactional: true,
    isControl: true,
    records: [
      {
        key: encodeControlKey(opts.commit ? "COMMIT" : "ABORT"),
        value: encodeEndTxnMarkerValue(opts.coordinatorEpoch),
        timestamp: opts.timestamp,
      },
    ],
  });
}

function corrupt(detail: string, offset?: number): never {
  throw new ProtocolError("CORRUPT_RECORD", detail, offset === undefined ? {} : { offset });
}

function readVarBytes(r: Reader, what: string): Buffer | null {
  const n = r.varint();
  if (n === -1) return null;
  if (n < -1) corrupt(`invalid ${what} length ${n}`, r.offset);
  return r.bytes(n);
}

function readRecord(r: Reader, header: BatchHeader, logAppendTime: boolean): DecodedRecord {
  const length = r.varint();
  const start = r.offset;
  if (length < MIN_RECORD_SIZE - 1 || length > r.remaining()) {
    corrupt(`record length ${length} invalid with ${r.remaining()} bytes left in the batch`, start);
  }
  const rec = new Reader(r.buf, start, start + length);
  const attributes = rec.int8();
  const timestampDelta = rec.varlong();
  const offsetDelta = rec.varint();
  const key = readVarBytes(rec, "key");
  const value = readVarBytes(rec, "value");
  const headerCount = rec.varint();
  if (headerCount < 0) corrupt(`invalid header count ${headerCount}`, rec.offset);
  // Each header takes at least 2 bytes (two varint lengths).
  if (headerCount * 2 > rec.remaining()) {
    corrupt(`header count ${headerCount} cannot fit in ${rec.remaining()} bytes`, rec.offset);
  }
  const headers: RecordHeader[] = new Array(headerCount);
  for (let i = 0; i < headerCount; i++) {
    const hk = readVarBytes(rec, "header key");
    if (hk === null) corrupt("null header key", rec.offset);
    headers[i] = { key: hk.toString("utf8"), value: readVarBytes(rec, "header value") };
  }
  if (rec.remaining() !== 0) {
    corrupt(`record declared ${length} bytes but its fields used ${length - rec.remaining()}`, start);
  }
  r.offset = rec.offset;
  return {
    offset: header.baseOffset + BigInt(offsetDelta),
    offsetDelta,
    timestamp: logAppendTime ? header.maxTimestamp : header.baseTimestamp + timestampDelta,
    timestampDelta,
    attributes,
    key,
    value,
    headers,
  };
}

function decodeRecordsPayload(payload: Buffer, header: BatchHeader, batchOffset: number): DecodedRecord[] {
  const count = header.recordCount;
  if (count < 0) corrupt(`negative record count ${count}`, batchOffset);
  if (count * MIN_RECORD_SIZE > payload.length) {
    corrupt(`record count ${count} cannot fit in ${payload.length} bytes of records`, batchOffset);
  }
  const logAppendTime = timestampType(header.attributes) === 1;
  const r = new Reader(payload);
  const records: DecodedRecord[] = new Array(count);
  let i = 0;
  try {
    for (; i < count; i++) records[i] = readRecord(r, header, logAppendTime);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    // Inside a complete batch every short read is corruption, not truncation.
    corrupt(`record ${i} of batch at base offset ${header.baseOffset}: ${e.message}`, batchOffset);
  }
  if (r.remaining() !== 0) {
    corrupt(`${r.remaining()} unexpected bytes after the last record of the batch`, batchOffset);
  }
  return records;
}

/**
 * Decodes the v2 batch at `offset` (which must be complete: TRUNCATED otherwise), verifying the
 * CRC, decompressing and parsing every record.
 */
export function decodeRecordBatch(buf: Buffer, offset = 0, opts: DecodeOptions = {}): DecodedRecordBatch {
  const header = readBatchHeader(buf, offset);
  if (header.magic !== RECORD_BATCH_MAGIC) {
    corrupt(`expected a magic ${RECORD_BATCH_MAGIC} record batch, found magic ${header.magic}`, offset);
  }
  if (header.batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD) {
    corrupt(`batch length ${header.batchLength} is shorter than the v2 header`, offset);
  }
  const sizeInBytes = LOG_OVERHEAD + header.batchLength;
  if (offset + sizeInBytes > buf.length) {
    throw new ProtocolError(
      "TRUNCATED",
      `record batch declares ${sizeInBytes} bytes, ${buf.length - offset} available`,
      { offset },
    );
  }
  if (opts.verifyCrc !== false) {
    const actual = computeBatchCrc(buf, offset);
    if (actual !== header.crc) {
      throw new ProtocolError(
        "CRC_MISMATCH",
        `record batch at base offset ${header.baseOffset}: stored CRC ${header.crc}, computed ${actual}`,
        { offset },
      );
    }
  }
  const codec = compressionCodec(header.attributes);
  if (codec > Compression.Zstd) {
    throw new ProtocolError("UNSUPPORTED_COMPRESSION", `unknown compression codec id ${codec} in batch`, {
      offset,
    });
  }
  const raw = buf.subarray(offset + BATCH_HEADER_SIZE, offset + sizeInBytes);
  const payload = decompress(codec, raw, opts.maxDecompressedSize ?? DEFAULT_MAX_DECOMPRESSED_SIZE);
  const records = decodeRecordsPayload(payload, header, offset);
  const batch: DecodedRecordBatch = {
    header,
    compression: codec,
    timestampType: timestampType(header.attributes),
    isTransactional: isTransactional(header.attributes),
    isControl: isControl(header.attributes),
    sizeInBytes,
    records,
  };
  if (batch.isControl && records.length > 0) {
    batch.control = decodeControlRecord(records[0]!.key, records[0]!.value);
  }
  return batch;
}

/** Sequence number of a record: baseSequence + offsetDelta, wrapping past int32 max like Kafka. */
export function recordSequence(baseSequence: number, offsetDelta: number): number {
  if (baseSequence < 0) return -1;
  const seq = baseSequence + offsetDelta;
  return seq > 0x7fffffff ? seq - 0x80000000 : seq;
}
