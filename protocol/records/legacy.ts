/**
 * Legacy message sets (magic 0 and 1), as pre-0.11 clients produce them and as a broker must still
 * be able to read them.
 *
 * Entry: offset int64, size int32, then the message: crc uint32 (CRC-32 over magic..end), magic
 * int8, attributes int8 (codec bits 0-2; timestamp type bit 3 in magic 1), timestamp int64 (magic 1
 * only), key (int32 length, -1 = null), value (likewise).
 *
 * A compressed message is a "wrapper" whose value is a compressed message set of inner messages.
 * Magic 1 inner offsets are relative (0..n-1) and the wrapper carries the absolute offset of the
 * LAST inner message; magic 0 inner offsets are absolute as stored by the broker.
 */
import { crc32 } from "node:zlib";
import { ProtocolError } from "../wire/errors.ts";
import { LOG_OVERHEAD, MAGIC_OFFSET, TIMESTAMP_TYPE_MASK } from "./batch-header.ts";
import {
  Compression,
  type CompressionName,
  compress,
  compressionFromName,
  DEFAULT_MAX_DECOMPRESSED_SIZE,
  decompress,
  repairLegacyLz4HeaderChecksum,
} from "./compression.ts";
import type { DecodeOptions, LogRecord, TimestampType } from "./types.ts";

/** crc + magic + attributes + key length + value length. */
export const MESSAGE_OVERHEAD_V0 = 14;
/** ... plus the int64 timestamp. */
export const MESSAGE_OVERHEAD_V1 = 22;

export interface LegacyMessageInput {
  key: Buffer | string | null;
  value: Buffer | string | null;
  /** Magic 1 only; defaults to -1 (no timestamp). */
  timestamp?: bigint | number;
}

export interface EncodeLegacyOptions {
  magic: 0 | 1;
  /** Offset of the first message (default 0); later messages follow consecutively. */
  baseOffset?: bigint;
  compression?: Exclude<CompressionName, "zstd"> | Compression;
  /** Magic 1: 0 = CreateTime (default), 1 = LogAppendTime (set on the wrapper of a compressed set). */
  timestampType?: 0 | 1;
  /** Magic 1 compressed: wrapper timestamp; defaults to the largest inner timestamp. */
  wrapperTimestamp?: bigint;
  messages: LegacyMessageInput[];
}

function toBuffer(b: Buffer | string | null): Buffer | null {
  if (b === null || b === undefined) return null;
  return typeof b === "string" ? Buffer.from(b, "utf8") : b;
}

/** One log entry: offset, size, message. */
function encodeEntry(
  offset: bigint,
  magic: 0 | 1,
  attributes: number,
  timestamp: bigint,
  key: Buffer | null,
  value: Buffer | null,
): Buffer {
  const overhead = magic === 0 ? MESSAGE_OVERHEAD_V0 : MESSAGE_OVERHEAD_V1;
  const size = overhead + (key?.length ?? 0) + (value?.length ?? 0);
  const out = Buffer.allocUnsafe(LOG_OVERHEAD + size);
  out.writeBigInt64BE(offset, 0);
  out.writeInt32BE(size, 8);
  let pos = LOG_OVERHEAD + 4;
  out.writeInt8(magic, pos++);
  out.writeInt8(attributes, pos++);
  if (magic === 1) {
    out.writeBigInt64BE(timestamp, pos);
    pos += 8;
  }
  for (const b of [key, value]) {
    out.writeInt32BE(b === null ? -1 : b.length, pos);
    pos += 4;
    if (b !== null) pos += b.copy(out, pos);
  }
  out.writeUInt32BE(crc32(out.subarray(LOG_OVERHEAD + 4)) >>> 0, LOG_OVERHEAD);
  return out;
}

/** Writes a legacy message set: plain messages, or a single compressed wrapper holding them all. */
export function encodeLegacyMessageSet(opts: EncodeLegacyOptions): Buffer {
  const { magic, messages } = opts;
  const baseOffset = opts.baseOffset ?? 0n;
  const codec =
    typeof opts.compression === "string" ? compressionFromName(opts.compression) : (opts.compression ?? 0);
  if (codec === Compression.Zstd) {
    throw new ProtocolError("UNSUPPORTED_COMPRESSION", "zstd requires magic 2 record batches");
  }
  const timestampOf = (m: LegacyMessageInput) => (magic === 1 ? BigInt(m.timestamp ?? -1n) : -1n);
  const logAppendTime = magic === 1 && opts.timestampType === 1;
  if (codec === Compression.None) {
    const attributes = logAppendTime ? TIMESTAMP_TYPE_MASK : 0;
    return Buffer.concat(
      messages.map((m, i) =>
        encodeEntry(
          baseOffset + BigInt(i),
          magic,
          attributes,
          timestampOf(m),
          toBuffer(m.key),
          toBuffer(m.value),
        ),
      ),
    );
  }
  if (messages.length === 0) throw new ProtocolError("INVALID_VALUE", "a compressed wrapper needs messages");
  const inner = Buffer.concat(
    messages.map((m, i) =>
      encodeEntry(
        magic === 1 ? BigInt(i) : baseOffset + BigInt(i),
        magic,
        0,
        timestampOf(m),
        toBuffer(m.key),
        toBuffer(m.value),
      ),
    ),
  );
  let wrapperTimestamp = opts.wrapperTimestamp ?? -1n;
  if (opts.wrapperTimestamp === undefined) {
    for (const m of messages) if (timestampOf(m) > wrapperTimestamp) wrapperTimestamp = timestampOf(m);
  }
  const attributes = codec | (logAppendTime ? TIMESTAMP_TYPE_MASK : 0);
  const lastOffset = baseOffset + BigInt(messages.length - 1);
  return encodeEntry(lastOffset, magic, attributes, wrapperTimestamp, null, compress(codec, inner));
}

interface ParsedMessage {
  offset: bigint;
  magic: number;
  attributes: number;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  sizeInBytes: number;
}

function corrupt(detail: string, offset: number): never {
  throw new ProtocolError("CORRUPT_RECORD", detail, { offset });
}

/** Parses the complete entry at `pos` (whose size the caller has checked fits in `buf`). */
function parseMessage(buf: Buffer, pos: number, verifyCrc: boolean): ParsedMessage {
  const offset = buf.readBigInt64BE(pos);
  const size = buf.readInt32BE(pos + 8);
  const start = pos + LOG_OVERHEAD;
  const end = start + size;
  const magic = buf.readInt8(start + 4);
  if (magic !== 0 && magic !== 1) corrupt(`legacy message has magic ${magic}`, pos);
  const overhead = magic === 0 ? MESSAGE_OVERHEAD_V0 : MESSAGE_OVERHEAD_V1;
  if (size < overhead)
    corrupt(`magic ${magic} message of ${size} bytes is below the minimum ${overhead}`, pos);
  if (verifyCrc) {
    const stored = buf.readUInt32BE(start);
    const actual = crc32(buf.subarray(start + 4, end)) >>> 0;
    if (stored !== actual) {
      throw new ProtocolError(
        "CRC_MISMATCH",
        `magic ${magic} message at offset ${offset}: stored CRC ${stored}, computed ${actual}`,
        { offset: pos },
      );
    }
  }
  const attributes = buf.readInt8(start + 5);
  let p = start + 6;
  const timestamp = magic === 1 ? buf.readBigInt64BE(p) : -1n;
  if (magic === 1) p += 8;
  const fields: (Buffer | null)[] = [];
  for (const what of ["key", "value"]) {
    if (p + 4 > end) corrupt(`message at offset ${offset} ends before its ${what} length`, pos);
    const n = buf.readInt32BE(p);
    p += 4;
    if (n < -1 || p + Math.max(0, n) > end) {
      corrupt(`message at offset ${offset} has invalid ${what} length ${n}`, pos);
    }
    fields.push(n === -1 ? null : buf.subarray(p, p + n));
    p += Math.max(0, n);
  }
  return {
    offset,
    magic,
    attributes,
    timestamp,
    key: fields[0]!,
    value: fields[1]!,
    sizeInBytes: LOG_OVERHEAD + size,
  };
}

function legacyRecord(
  m: ParsedMessage,
  offset: bigint,
  timestamp: bigint,
  timestampType: TimestampType,
  batchBaseOffset: bigint,
  batchLastOffset: bigint,
): LogRecord {
  return {
    offset,
    timestamp,
    timestampType,
    key: m.key,
    value: m.value,
    headers: [],
    magic: m.magic,
    batchBaseOffset,
    batchLastOffset,
    partitionLeaderEpoch: -1,
    producerId: -1n,
    producerEpoch: -1,
    sequence: -1,
    isTransactional: false,
    isControl: false,
  };
}

export interface DecodedLegacyEntry {
  /** Bytes of the outer entry, including the 12-byte log overhead. */
  sizeInBytes: number;
  /** The wrapper's (or plain message's) offset: for a compressed set, the last inner offset. */
  offset: bigint;
  magic: number;
  compression: Compression;
  records: LogRecord[];
}

/**
 * Decodes the complete legacy entry at `pos`: a plain message yields one record, a compressed
 * wrapper yields its inner messages with absolute offsets.
 */
export function decodeLegacyEntry(buf: Buffer, pos = 0, opts: DecodeOptions = {}): DecodedLegacyEntry {
  if (pos + LOG_OVERHEAD + MESSAGE_OVERHEAD_V0 > buf.length) {
    throw new ProtocolError("TRUNCATED", "legacy message header runs past the end of the buffer", {
      offset: pos,
    });
  }
  const size = buf.readInt32BE(pos + 8);
  if (size < MESSAGE_OVERHEAD_V0) corrupt(`legacy message size ${size} is below the minimum`, pos);
  if (pos + LOG_OVERHEAD + size > buf.length) {
    throw new ProtocolError(
      "TRUNCATED",
      `legacy message declares ${LOG_OVERHEAD + size} bytes, ${buf.length - pos} available`,
      { offset: pos },
    );
  }
  const verifyCrc = opts.verifyCrc !== false;
  const wrapper = parseMessage(buf, pos, verifyCrc);
  const magic = wrapper.magic;
  const codec = wrapper.attributes & 0x07;
  const wrapperType: TimestampType = magic === 0 ? -1 : wrapper.attributes & TIMESTAMP_TYPE_MASK ? 1 : 0;
  const entry = { sizeInBytes: wrapper.sizeInBytes, offset: wrapper.offset, magic, compression: codec };
  if (codec === Compression.None) {
    const record = legacyRecord(
      wrapper,
      wrapper.offset,
      wrapper.timestamp,
      wrapperType,
      wrapper.offset,
      wrapper.offset,
    );
    return { ...entry, records: [record] };
  }
  if (codec > Compression.Lz4) {
    throw new ProtocolError(
      "UNSUPPORTED_COMPRESSION",
      codec === Compression.Zstd ? "zstd is not allowed in magic 0/1 messages" : `unknown codec id ${codec}`,
      { offset: pos },
    );
  }
  if (wrapper.value === null) corrupt("compressed wrapper message has a null value", pos);
  // Old magic 0 LZ4 producers wrote a wrong frame header checksum that Kafka tolerates.
  const compressed =
    magic === 0 && codec === Compression.Lz4 ? repairLegacyLz4HeaderChecksum(wrapper.value) : wrapper.value;
  const inner = decompress(codec, compressed, opts.maxDecompressedSize ?? DEFAULT_MAX_DECOMPRESSED_SIZE);
  const messages: ParsedMessage[] = [];
  for (let p = 0; p < inner.length; ) {
    if (p + LOG_OVERHEAD + MESSAGE_OVERHEAD_V0 > inner.length) {
      corrupt(`compressed message set ends inside an inner message header`, pos);
    }
    const innerSize = inner.readInt32BE(p + 8);
    if (innerSize < MESSAGE_OVERHEAD_V0 || p + LOG_OVERHEAD + innerSize > inner.length) {
      corrupt(`inner message size ${innerSize} invalid in a compressed set of ${inner.length} bytes`, pos);
    }
    if (inner.readInt8(p + MAGIC_OFFSET) !== magic) {
      corrupt(
        `inner message magic ${inner.readInt8(p + MAGIC_OFFSET)} differs from wrapper magic ${magic}`,
        pos,
      );
    }
    const m = parseMessage(inner, p, verifyCrc);
    if ((m.attributes & 0x07) !== 0) corrupt("compressed message set contains a compressed message", pos);
    messages.push(m);
    p += m.sizeInBytes;
  }
  if (messages.length === 0) corrupt("compressed wrapper message holds no inner messages", pos);
  // Magic 1: inner offsets are relative, anchored so that the last one equals the wrapper offset.
  const base = magic === 1 ? wrapper.offset - messages.at(-1)!.offset : 0n;
  const firstOffset = base + messages[0]!.offset;
  const records = messages.map((m) =>
    legacyRecord(
      m,
      base + m.offset,
      wrapperType === 1 ? wrapper.timestamp : m.timestamp,
      wrapperType,
      firstOffset,
      wrapper.offset,
    ),
  );
  return { ...entry, records };
}
