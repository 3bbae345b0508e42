/**
 * The five Kafka compression codecs, synchronous in both directions, with a bound on decompressed
 * size so a small hostile batch cannot expand into gigabytes (a decompression bomb).
 *
 * Wire formats follow what the Java client writes, since that is what brokers see most:
 * - gzip: a standard gzip stream (node:zlib).
 * - snappy: xerial-framed ("\x82SNAPPY\0", two int32 versions, then [int32 length][raw snappy]
 *   blocks of up to 32 KiB input). Decoding also accepts raw (unframed) snappy, which librdkafka
 *   and some other clients write.
 * - lz4: the standard LZ4 frame format with independent 64 KiB blocks (lz4-napi).
 * - zstd: standard zstd frames; the Java client streams them, so frames usually lack a content size
 *   and decoding uses the streaming API (zstd-napi's native binding) with our own output bound.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { compressFrameSync, decompressFrameSync } from "lz4-napi";
import { compressSync as snappyCompress, uncompressSync as snappyUncompress } from "snappy";
import { compress as zstdCompress } from "zstd-napi";
import zstdBinding from "zstd-napi/binding.js";
import { ProtocolError } from "../wire/errors.ts";

/** The attribute codec ids (bits 0-2 of batch or message attributes). */
export enum Compression {
  None = 0,
  Gzip = 1,
  Snappy = 2,
  Lz4 = 3,
  Zstd = 4,
}

export type CompressionName = "none" | "gzip" | "snappy" | "lz4" | "zstd";

const NAMES: readonly CompressionName[] = ["none", "gzip", "snappy", "lz4", "zstd"];

/** Default ceiling on the decompressed size of one batch or wrapper message. */
export const DEFAULT_MAX_DECOMPRESSED_SIZE = 64 * 1024 * 1024;

export function compressionFromName(name: CompressionName): Compression {
  const id = NAMES.indexOf(name);
  if (id < 0) throw new ProtocolError("UNSUPPORTED_COMPRESSION", `unknown compression "${name}"`);
  return id;
}

export function compressionName(codec: Compression): CompressionName {
  const name = NAMES[codec];
  if (name === undefined) throw new ProtocolError("UNSUPPORTED_COMPRESSION", `unknown codec id ${codec}`);
  return name;
}

export function compress(codec: Compression, data: Buffer): Buffer {
  switch (codec) {
    case Compression.None:
      return data;
    case Compression.Gzip:
      return gzipSync(data);
    case Compression.Snappy:
      return xerialSnappyCompress(data);
    case Compression.Lz4:
      return compressFrameSync(data);
    case Compression.Zstd:
      return zstdCompress(data);
    default:
      throw new ProtocolError("UNSUPPORTED_COMPRESSION", `unknown compression codec id ${codec}`);
  }
}

export function decompress(
  codec: Compression,
  data: Buffer,
  maxSize: number = DEFAULT_MAX_DECOMPRESSED_SIZE,
): Buffer {
  switch (codec) {
    case Compression.None:
      return data;
    case Compression.Gzip:
      return gunzip(data, maxSize);
    case Compression.Snappy:
      return snappyDecompress(data, maxSize);
    case Compression.Lz4:
      return lz4Decompress(data, maxSize);
    case Compression.Zstd:
      return zstdDecompress(data, maxSize);
    default:
      throw new ProtocolError("UNSUPPORTED_COMPRESSION", `unknown compression codec id ${codec}`);
  }
}

function corrupt(codec: string, detail: string): never {
  throw new ProtocolError("CORRUPT_RECORD", `${codec}: ${detail}`);
}

function tooLarge(codec: string, size: number | string, maxSize: number): never {
  throw new ProtocolError(
    "CORRUPT_RECORD",
    `${codec}: decompressed size ${size} exceeds the limit of ${maxSize} bytes`,
  );
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- gzip --------------------------------------------------------------------------------------

function gunzip(data: Buffer, maxSize: number): Buffer {
  try {
    // maxOutputLength makes zlib stop (and throw) as soon as the output would pass the limit.
    return gunzipSync(data, { maxOutputLength: Math.max(1, maxSize) });
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") tooLarge("gzip", `> ${maxSize}`, maxSize);
    return corrupt("gzip", messageOf(e));
  }
}

// ---- snappy ------------------------------------------------------------------------------------

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
/** Magic (8) + version (4) + compatible version (4). */
const XERIAL_HEADER_SIZE = 16;
/** snappy-java's default block size, which Kafka's SnappyOutputStream uses. */
const XERIAL_BLOCK_SIZE = 32 * 1024;

export function isXerialFramed(data: Buffer): boolean {
  return data.length >= XERIAL_HEADER_SIZE && data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
}

/** Encodes like snappy-java's SnappyOutputStream: header (version 1, compatible 1), 32 KiB blocks. */
export function xerialSnappyCompress(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(XERIAL_HEADER_SIZE);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(1, 8);
  header.writeInt32BE(1, 12);
  parts.push(header);
  for (let pos = 0; pos < data.length; pos += XERIAL_BLOCK_SIZE) {
    const block = snappyCompress(data.subarray(pos, pos + XERIAL_BLOCK_SIZE));
    const length = Buffer.allocUnsafe(4);
    length.writeInt32BE(block.length, 0);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

/**
 * Raw snappy starts with the uncompressed length as an unsigned varint, so the bound can be
 * enforced before the library allocates anything.
 */
function rawSnappyLength(block: Buffer): number {
  let result = 0;
  for (let i = 0; i < 5 && i < block.length; i++) {
    const b = block[i]!;
    result += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return result;
  }
  return corrupt("snappy", "invalid uncompressed-length preamble");
}

function rawSnappyUncompress(block: Buffer): Buffer {
  try {
    return snappyUncompress(block, { asBuffer: true }) as Buffer;
  } catch (e) {
    return corrupt("snappy", messageOf(e));
  }
}

function snappyDecompress(data: Buffer, maxSize: number): Buffer {
  if (!isXerialFramed(data)) {
    const size = rawSnappyLength(data);
    if (size > maxSize) tooLarge("snappy", size, maxSize);
    return rawSnappyUncompress(data);
  }
  // First pass: validate block framing and the declared sizes; second pass: decompress.
  const blocks: Buffer[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_SIZE;
  while (pos < data.length) {
    if (pos + 4 > data.length) corrupt("snappy", "truncated xerial block length");
    const length = data.readInt32BE(pos);
    pos += 4;
    if (length < 0 || pos + length > data.length) {
      corrupt("snappy", `xerial block of ${length} bytes overruns the ${data.length - pos} remaining`);
    }
    const block = data.subarray(pos, pos + length);
    pos += length;
    total += rawSnappyLength(block);
    if (total > maxSize) tooLarge("snappy", `>= ${total}`, maxSize);
    blocks.push(block);
  }
  if (blocks.length === 1) return rawSnappyUncompress(blocks[0]!);
  return Buffer.concat(blocks.map(rawSnappyUncompress), total);
}

// ---- lz4 ---------------------------------------------------------------------------------------

const LZ4_FRAME_MAGIC = 0x184d2204;
const LZ4_SKIPPABLE_MASK = 0xfffffff0;
const LZ4_SKIPPABLE_MAGIC = 0x184d2a50;
/** Block maximum sizes indexed by the BD byte's bits 4-6 (values 4..7 are legal). */
const LZ4_BLOCK_MAX = [0, 0, 0, 0, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];
/** A compressed LZ4 byte can expand to at most ~255 bytes (one match-length extension byte). */
const LZ4_MAX_RATIO = 256;

/**
 * Upper bound on the decompressed size of a sequence of LZ4 frames, from the block headers alone:
 * each block is limited by the frame's block maximum and by the codec's maximum expansion ratio.
 * lz4-napi has no output limit of its own, so this is the bomb check.
 */
export function lz4DecompressedBound(data: Buffer): number {
  let bound = 0;
  let pos = 0;
  while (pos < data.length) {
    if (pos + 4 > data.length) corrupt("lz4", "truncated frame magic");
    const magic = data.readUInt32LE(pos);
    if ((magic & LZ4_SKIPPABLE_MASK) >>> 0 === LZ4_SKIPPABLE_MAGIC) {
      if (pos + 8 > data.length) corrupt("lz4", "truncated skippable frame");
      pos += 8 + data.readUInt32LE(pos + 4);
      continue;
    }
    if (magic !== LZ4_FRAME_MAGIC) corrupt("lz4", `bad frame magic 0x${magic.toString(16)}`);
    if (pos + 7 > data.length) corrupt("lz4", "truncated frame descriptor");
    const flg = data[pos + 4]!;
    const bd = data[pos + 5]!;
    const blockChecksums = (flg & 0x10) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const blockMax = LZ4_BLOCK_MAX[(bd >> 4) & 0x07]!;
    if (blockMax === 0) corrupt("lz4", `invalid block maximum size code ${(bd >> 4) & 0x07}`);
    // Magic, FLG, BD, optional content size (8) and dictionary id (4), header checksum.
    pos += 4 + 2 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
    for (;;) {
      if (pos + 4 > data.length) corrupt("lz4", "truncated block header");
      const word = data.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break; // end mark
      const uncompressed = (word & 0x80000000) !== 0;
      const size = word & 0x7fffffff;
      if (size > blockMax) corrupt("lz4", `block of ${size} bytes exceeds the frame's ${blockMax}`);
      bound += uncompressed ? size : Math.min(blockMax, size * LZ4_MAX_RATIO);
      pos += size + (blockChecksums ? 4 : 0);
    }
    pos += contentChecksum ? 4 : 0;
  }
  if (pos > data.length) corrupt("lz4", "frame overruns the compressed data");
  return bound;
}

const XXH_PRIME1 = 2654435761;
const XXH_PRIME2 = 2246822519;
const XXH_PRIME3 = 3266489917;
const XXH_PRIME4 = 668265263;
const XXH_PRIME5 = 374761393;

/** XXH32 (seed 0) for inputs shorter than 16 bytes: all an LZ4 frame descriptor ever needs. */
function xxh32Short(data: Buffer): number {
  let h = (XXH_PRIME5 + data.length) >>> 0;
  let i = 0;
  for (; i + 4 <= data.length; i += 4) {
    h = (h + Math.imul(data.readUInt32LE(i), XXH_PRIME3)) >>> 0;
    h = Math.imul((h << 17) | (h >>> 15), XXH_PRIME4);
  }
  for (; i < data.length; i++) {
    h = (h + Math.imul(data[i]!, XXH_PRIME5)) >>> 0;
    h = Math.imul((h << 11) | (h >>> 21), XXH_PRIME1);
  }
  h ^= h >>> 15;
  h = Math.imul(h, XXH_PRIME2);
  h ^= h >>> 13;
  h = Math.imul(h, XXH_PRIME3);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Kafka before 0.10 computed the LZ4 frame header checksum over the magic number too (KAFKA-3160),
 * and Kafka still ignores that checksum for magic 0 messages. lz4-napi always checks it, so for
 * magic 0 we return a copy with the correct checksum. Anything unrecognisable is returned as is.
 */
export function repairLegacyLz4HeaderChecksum(data: Buffer): Buffer {
  if (data.length < 7 || data.readUInt32LE(0) !== LZ4_FRAME_MAGIC) return data;
  const flg = data[4]!;
  const descriptorEnd = 6 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0);
  if (descriptorEnd >= data.length) return data;
  const checksum = (xxh32Short(data.subarray(4, descriptorEnd)) >>> 8) & 0xff;
  if (data[descriptorEnd] === checksum) return data;
  const fixed = Buffer.from(data);
  fixed[descriptorEnd] = checksum;
  return fixed;
}

function lz4Decompress(data: Buffer, maxSize: number): Buffer {
  // Strict on purpose: the bound exceeds the real size by at most one block per frame for what
  // real clients write (full blocks), and decompressing first would let a bomb through.
  const bound = lz4DecompressedBound(data);
  if (bound > maxSize) tooLarge("lz4", `up to ${bound}`, maxSize);
  let out: Buffer;
  try {
    out = decompressFrameSync(data);
  } catch (e) {
    return corrupt("lz4", messageOf(e));
  }
  if (out.length > maxSize) tooLarge("lz4", out.length, maxSize);
  return out;
}

// ---- zstd --------------------------------------------------------------------------------------

let zstdContext: InstanceType<typeof zstdBinding.DCtx> | undefined;
const ZSTD_CHUNK = zstdBinding.dStreamOutSize();

function zstdDecompress(data: Buffer, maxSize: number): Buffer {
  zstdContext ??= new zstdBinding.DCtx();
  const dctx = zstdContext;
  try {
    // Fast path: a single frame that records its content size decodes into an exact buffer.
    const declared = data.length > 0 ? zstdBinding.getFrameContentSize(data) : null;
    if (declared !== null && zstdBinding.findFrameCompressedSize(data) === data.length) {
      if (declared > maxSize) tooLarge("zstd", declared, maxSize);
      const out = Buffer.allocUnsafe(declared);
      const written = dctx.decompress(out, data);
      if (written !== declared) corrupt("zstd", `frame declared ${declared} bytes but produced ${written}`);
      return out;
    }
    // Streaming path (frames without a content size, or several frames): bounded chunk by chunk.
    const chunks: Buffer[] = [];
    let total = 0;
    let input = data;
    for (;;) {
      const out = Buffer.allocUnsafe(ZSTD_CHUNK);
      const [hint, produced, consumed] = dctx.decompressStream(out, input);
      input = input.subarray(consumed);
      if (produced > 0) {
        total += produced;
        if (total > maxSize) tooLarge("zstd", `> ${maxSize}`, maxSize);
        chunks.push(out.subarray(0, produced));
      }
      if (input.length === 0) {
        if (hint === 0) break; // last frame complete
        if (produced < out.length) corrupt("zstd", "compressed data ends inside a frame");
      } else if (consumed === 0 && produced === 0) {
        corrupt("zstd", "decoder made no progress");
      }
    }
    return Buffer.concat(chunks, total);
  } catch (e) {
    // A failed stream leaves the context mid-frame; start the next call from a clean session.
    dctx.reset(zstdBinding.ResetDirective.sessionOnly);
    if (e instanceof ProtocolError) throw e;
    return corrupt("zstd", messageOf(e));
  }
}
