import { Readable } from "node:stream";
import { crc32 as crc32Of, gzipSync } from "node:zlib";
import { compressFrameSync } from "lz4-napi";
import { compressSync as snappyRaw } from "snappy";
import { describe, expect, it } from "vitest";
import { CompressStream } from "zstd-napi";
import zstdBinding from "zstd-napi/binding.js";
import {
  ATTRIBUTES_OFFSET,
  BASE_SEQUENCE_OFFSET,
  CRC_OFFSET,
  hasDeleteHorizon,
  MAX_TIMESTAMP_OFFSET,
} from "../records/batch-header.ts";
import { isXerialFramed, lz4DecompressedBound, xerialSnappyCompress } from "../records/compression.ts";
import {
  BATCH_HEADER_SIZE,
  Compression,
  type CompressionName,
  compress,
  computeBatchCrc,
  decodeControlRecord,
  decodeLegacyEntry,
  decodeRecordBatch,
  decodeRecords,
  decompress,
  encodeControlKey,
  encodeEndTxnMarker,
  encodeLegacyMessageSet,
  encodeRecordBatch,
  isControl,
  isTransactional,
  LOG_OVERHEAD,
  lastOffset,
  makeAttributes,
  nextOffset,
  type RecordInput,
  readBatchHeader,
  readLastOffset,
  recordSequence,
  setBaseOffset,
  setMaxTimestampAndTimestampType,
  setPartitionLeaderEpoch,
  splitBatches,
  timestampType,
  verifyBatchCrc,
} from "../records/index.ts";
import { ProtocolError } from "../wire/errors.ts";

const CODECS: CompressionName[] = ["none", "gzip", "snappy", "lz4", "zstd"];

function sampleRecords(n: number, base = 1_700_000_000_000): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    key: i % 3 === 0 ? null : Buffer.from(`key-${i}`),
    value: i % 5 === 4 ? null : Buffer.from(`value-${i}-${"x".repeat(i * 7)}`),
    headers:
      i % 2 === 0
        ? []
        : [
            { key: "h1", value: Buffer.from(`hv${i}`) },
            { key: "nullable", value: null },
          ],
    timestamp: BigInt(base + i * 10),
  }));
}

/** Buffer.equals instead of toEqual: vitest's deep equality walks large buffers byte by byte. */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
}

function expectProtocolError(fn: () => unknown, code: string, message?: RegExp): ProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).code).toBe(code);
    if (message) expect((e as ProtocolError).message).toMatch(message);
    return e as ProtocolError;
  }
  throw new Error(`expected ProtocolError ${code}`);
}

describe("RecordBatch v2 round trips", () => {
  for (const compression of CODECS) {
    it(`round-trips records with ${compression}`, () => {
      const input = sampleRecords(25);
      const buf = encodeRecordBatch({ baseOffset: 1000n, compression, records: input });
      const batch = decodeRecordBatch(buf);
      expect(batch.compression).toBe(Compression[compression === "none" ? "None" : cap(compression)]);
      expect(batch.header.magic).toBe(2);
      expect(batch.header.recordCount).toBe(25);
      expect(batch.header.lastOffsetDelta).toBe(24);
      expect(batch.header.baseTimestamp).toBe(input[0]!.timestamp);
      expect(batch.header.maxTimestamp).toBe(input[24]!.timestamp);
      expect(batch.sizeInBytes).toBe(buf.length);
      expect(verifyBatchCrc(buf, 0)).toBe(true);
      batch.records.forEach((r, i) => {
        expect(r.offset).toBe(1000n + BigInt(i));
        expect(r.timestamp).toBe(input[i]!.timestamp);
        expect(r.key).toEqual(input[i]!.key);
        expect(r.value).toEqual(input[i]!.value);
        expect(r.headers).toEqual(input[i]!.headers);
      });
    });
  }

  it("compresses large, repetitive payloads and reads them back", () => {
    const value = Buffer.alloc(300_000, "abcdefgh");
    for (const compression of CODECS) {
      const buf = encodeRecordBatch({ compression, records: [{ key: null, value, timestamp: 1n }] });
      if (compression !== "none") expect(buf.length).toBeLessThan(value.length / 10);
      expect(decodeRecordBatch(buf).records[0]!.value!.equals(value)).toBe(true);
    }
  });

  it("accepts string keys, values and header values and decodes them as bytes", () => {
    const buf = encodeRecordBatch({
      records: [{ key: "k", value: "v€", headers: [{ key: "ключ", value: "значение" }], timestamp: 5 }],
    });
    const [r] = decodeRecordBatch(buf).records;
    expect(r!.key!.toString()).toBe("k");
    expect(r!.value!.toString()).toBe("v€");
    expect(r!.headers).toEqual([{ key: "ключ", value: Buffer.from("значение") }]);
  });

  it("keeps empty (non-null) keys and values distinct from null", () => {
    const buf = encodeRecordBatch({ records: [{ key: Buffer.alloc(0), value: null, timestamp: 0n }] });
    const [r] = decodeRecordBatch(buf).records;
    expect(r!.key).toEqual(Buffer.alloc(0));
    expect(r!.value).toBeNull();
  });

  it("writes producer fields, transactional flag, and derives sequences", () => {
    const buf = encodeRecordBatch({
      baseOffset: 42n,
      partitionLeaderEpoch: 7,
      producerId: 123456789012n,
      producerEpoch: 3,
      baseSequence: 0x7ffffffe,
      transactional: true,
      records: sampleRecords(3),
    });
    const batch = decodeRecordBatch(buf);
    expect(batch.header).toMatchObject({
      baseOffset: 42n,
      partitionLeaderEpoch: 7,
      producerId: 123456789012n,
      producerEpoch: 3,
      baseSequence: 0x7ffffffe,
    });
    expect(batch.isTransactional).toBe(true);
    expect(batch.isControl).toBe(false);
    const records = decodeRecords(buf);
    expect(records.map((r) => r.sequence)).toEqual([0x7ffffffe, 0x7fffffff, 0]);
    expect(records.every((r) => r.isTransactional && r.producerId === 123456789012n)).toBe(true);
    expect(recordSequence(-1, 5)).toBe(-1);
  });

  it("defaults to a non-idempotent producer (-1 id, epoch, sequence) and leader epoch -1", () => {
    const h = readBatchHeader(encodeRecordBatch({ records: sampleRecords(1) }));
    expect(h).toMatchObject({
      producerId: -1n,
      producerEpoch: -1,
      baseSequence: -1,
      partitionLeaderEpoch: -1,
    });
  });

  it("uses the first record's timestamp as base, allowing negative deltas", () => {
    const buf = encodeRecordBatch({
      records: [
        { key: null, value: null, timestamp: 100n },
        { key: null, value: null, timestamp: 50n },
        { key: null, value: null, timestamp: 175n },
      ],
    });
    const batch = decodeRecordBatch(buf);
    expect(batch.header.baseTimestamp).toBe(100n);
    expect(batch.header.maxTimestamp).toBe(175n);
    expect(batch.records.map((r) => r.timestampDelta)).toEqual([0n, -50n, 75n]);
    expect(batch.records.map((r) => r.timestamp)).toEqual([100n, 50n, 175n]);
  });

  it("honours explicit offset deltas (compacted batches with gaps)", () => {
    const buf = encodeRecordBatch({
      baseOffset: 10n,
      records: [
        { key: "a", value: "1", timestamp: 1n, offsetDelta: 0 },
        { key: "b", value: "2", timestamp: 1n, offsetDelta: 4 },
      ],
    });
    expect(decodeRecords(buf).map((r) => r.offset)).toEqual([10n, 14n]);
    expect(readLastOffset(buf)).toBe(14n);
  });

  it("reports LogAppendTime records with the batch max timestamp", () => {
    const buf = encodeRecordBatch({
      timestampType: "log-append",
      maxTimestamp: 999n,
      records: sampleRecords(3),
    });
    const batch = decodeRecordBatch(buf);
    expect(batch.timestampType).toBe(1);
    expect(batch.records.every((r) => r.timestamp === 999n)).toBe(true);
  });

  it("encodes an empty batch", () => {
    const buf = encodeRecordBatch({ records: [] });
    expect(buf.length).toBe(BATCH_HEADER_SIZE);
    const batch = decodeRecordBatch(buf);
    expect(batch.records).toEqual([]);
    expect(batch.header.baseTimestamp).toBe(-1n);
  });
});

function cap(s: string): "Gzip" | "Snappy" | "Lz4" | "Zstd" {
  return (s[0]!.toUpperCase() + s.slice(1)) as "Gzip" | "Snappy" | "Lz4" | "Zstd";
}

describe("control batches", () => {
  for (const commit of [true, false]) {
    it(`encodes and decodes a ${commit ? "COMMIT" : "ABORT"} marker`, () => {
      const buf = encodeEndTxnMarker({
        commit,
        producerId: 77n,
        producerEpoch: 2,
        coordinatorEpoch: 9,
        timestamp: 1234n,
        baseOffset: 500n,
      });
      const batch = decodeRecordBatch(buf);
      expect(batch.isControl).toBe(true);
      expect(batch.isTransactional).toBe(true);
      expect(batch.header.baseSequence).toBe(-1);
      expect(batch.control).toEqual({
        version: 0,
        typeId: commit ? 1 : 0,
        type: commit ? "COMMIT" : "ABORT",
        coordinatorEpoch: 9,
      });
      const [r] = decodeRecords(buf);
      expect(r).toMatchObject({ offset: 500n, isControl: true, producerId: 77n, producerEpoch: 2 });
      expect(r!.control?.type).toBe(commit ? "COMMIT" : "ABORT");
    });
  }

  it("rejects malformed control keys and decodes unknown types without a value", () => {
    expectProtocolError(() => decodeControlRecord(Buffer.alloc(2), null), "CORRUPT_RECORD");
    expectProtocolError(() => decodeControlRecord(encodeControlKey(1), Buffer.alloc(3)), "CORRUPT_RECORD");
    expect(decodeControlRecord(encodeControlKey(2), null)).toEqual({
      version: 0,
      typeId: 2,
      type: "LEADER_CHANGE",
    });
    expect(decodeControlRecord(encodeControlKey(42), null).type).toBe("UNKNOWN");
  });
});

describe("corruption and limits", () => {
  it("detects a CRC mismatch anywhere in the CRC-covered region", () => {
    const buf = encodeRecordBatch({ compression: "gzip", records: sampleRecords(5) });
    for (const pos of [ATTRIBUTES_OFFSET + 2, BATCH_HEADER_SIZE + 3, buf.length - 1]) {
      const bad = Buffer.from(buf);
      bad[pos]! ^= 0x01;
      expect(verifyBatchCrc(bad, 0)).toBe(false);
      expectProtocolError(() => decodeRecordBatch(bad), "CRC_MISMATCH", /stored CRC \d+, computed \d+/);
    }
    // Skipping verification lets a harmless header edit through.
    const edited = Buffer.from(buf);
    edited.writeInt32BE(17, BASE_SEQUENCE_OFFSET);
    expect(decodeRecordBatch(edited, 0, { verifyCrc: false }).header.baseSequence).toBe(17);
  });

  it("reports a batch cut short as TRUNCATED", () => {
    const buf = encodeRecordBatch({ records: sampleRecords(3) });
    expectProtocolError(() => decodeRecordBatch(buf.subarray(0, buf.length - 1)), "TRUNCATED");
    expectProtocolError(() => decodeRecordBatch(buf.subarray(0, 30)), "TRUNCATED");
  });

  it("reports bad record framing inside a valid-CRC batch as CORRUPT_RECORD", () => {
    const buf = encodeRecordBatch({ records: sampleRecords(3) });
    const fixCrc = (b: Buffer) => b.writeUInt32BE(computeBatchCrc(b, 0), CRC_OFFSET);
    // Claim one more record than present.
    const moreRecords = Buffer.from(buf);
    moreRecords.writeInt32BE(4, 57);
    fixCrc(moreRecords);
    expectProtocolError(() => decodeRecordBatch(moreRecords), "CORRUPT_RECORD", /record 3/);
    // Claim one record fewer: leftover bytes.
    const fewer = Buffer.from(buf);
    fewer.writeInt32BE(2, 57);
    fixCrc(fewer);
    expectProtocolError(() => decodeRecordBatch(fewer), "CORRUPT_RECORD", /unexpected bytes/);
    // Hostile record count.
    const huge = Buffer.from(buf);
    huge.writeInt32BE(0x7fffffff, 57);
    fixCrc(huge);
    expectProtocolError(() => decodeRecordBatch(huge), "CORRUPT_RECORD", /cannot fit/);
    // First record's length varint made too large.
    const longRecord = Buffer.from(buf);
    longRecord[BATCH_HEADER_SIZE] = 0x7e; // zigzag 63
    fixCrc(longRecord);
    expectProtocolError(() => decodeRecordBatch(longRecord), "CORRUPT_RECORD");
  });

  it("rejects unknown codecs and wrong magic", () => {
    const buf = encodeRecordBatch({ records: sampleRecords(1) });
    const codec7 = Buffer.from(buf);
    codec7.writeInt16BE(7, ATTRIBUTES_OFFSET);
    codec7.writeUInt32BE(computeBatchCrc(codec7, 0), CRC_OFFSET);
    expectProtocolError(() => decodeRecordBatch(codec7), "UNSUPPORTED_COMPRESSION", /codec id 7/);
    const magic1 = Buffer.from(buf);
    magic1[16] = 1;
    expectProtocolError(() => decodeRecordBatch(magic1), "CORRUPT_RECORD", /magic 1/);
    const magic9 = Buffer.from(buf);
    magic9[16] = 9;
    expectProtocolError(() => decodeRecords(magic9), "CORRUPT_RECORD", /unknown magic 9/);
  });

  it("bounds decompressed size for every codec (decompression bombs)", () => {
    const value = Buffer.alloc(2 * 1024 * 1024);
    for (const compression of ["gzip", "snappy", "lz4", "zstd"] as const) {
      const buf = encodeRecordBatch({ compression, records: [{ key: null, value, timestamp: 0n }] });
      expectProtocolError(
        () => decodeRecordBatch(buf, 0, { maxDecompressedSize: 1024 * 1024 }),
        "CORRUPT_RECORD",
        /exceeds the limit of 1048576 bytes/,
      );
      expect(decodeRecordBatch(buf, 0, { maxDecompressedSize: 3 * 1024 * 1024 }).records).toHaveLength(1);
    }
  });

  it("turns garbage compressed payloads into CORRUPT_RECORD", () => {
    const garbage = Buffer.from("definitely not compressed data at all");
    for (const codec of [Compression.Gzip, Compression.Snappy, Compression.Lz4, Compression.Zstd]) {
      expectProtocolError(() => decompress(codec, garbage), "CORRUPT_RECORD");
    }
    expectProtocolError(() => decompress(9 as Compression, garbage), "UNSUPPORTED_COMPRESSION");
  });
});

describe("compression formats", () => {
  const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) % 251));

  it("writes xerial-framed snappy in 32 KiB blocks and reads both framed and raw snappy", () => {
    const framed = compress(Compression.Snappy, data);
    expect(isXerialFramed(framed)).toBe(true);
    expect(framed.subarray(0, 8)).toEqual(Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]));
    expect(framed.readInt32BE(8)).toBe(1);
    expect(framed.readInt32BE(12)).toBe(1);
    let blocks = 0;
    for (let p = 16; p < framed.length; p += 4 + framed.readInt32BE(p)) blocks++;
    expect(blocks).toBe(Math.ceil(data.length / 32768));
    expectSameBytes(decompress(Compression.Snappy, framed), data);
    expectSameBytes(decompress(Compression.Snappy, snappyRaw(data)), data);
    expect(decompress(Compression.Snappy, xerialSnappyCompress(Buffer.alloc(0)))).toEqual(Buffer.alloc(0));
  });

  it("reads gzip with several members", () => {
    const twoMembers = Buffer.concat([gzipSync(data.subarray(0, 50)), gzipSync(data.subarray(50))]);
    expectSameBytes(decompress(Compression.Gzip, twoMembers), data);
  });

  it("reads LZ4 frames and bounds them from block headers", () => {
    const frame = compressFrameSync(data);
    expect(frame.readUInt32LE(0)).toBe(0x184d2204);
    expect(lz4DecompressedBound(frame)).toBeGreaterThanOrEqual(data.length);
    expectSameBytes(decompress(Compression.Lz4, frame), data);
    expectProtocolError(
      () => decompress(Compression.Lz4, frame.subarray(0, frame.length - 6)),
      "CORRUPT_RECORD",
    );
  });

  it("reads streaming zstd frames that carry no content size (as the Java client writes)", async () => {
    const chunks: Buffer[] = [];
    const stream = Readable.from([data.subarray(0, 40_000), data.subarray(40_000)]).pipe(
      new CompressStream(),
    );
    for await (const c of stream) chunks.push(c as Buffer);
    const streamed = Buffer.concat(chunks);
    expect(zstdBinding.getFrameContentSize(streamed)).toBeNull();
    expectSameBytes(decompress(Compression.Zstd, streamed), data);
    expectProtocolError(() => decompress(Compression.Zstd, streamed, 1000), "CORRUPT_RECORD", /limit/);
    expectProtocolError(
      () => decompress(Compression.Zstd, streamed.subarray(0, streamed.length - 4)),
      "CORRUPT_RECORD",
      /ends inside a frame/,
    );
    // The shared decoder context recovers after an error.
    expectSameBytes(decompress(Compression.Zstd, streamed), data);
    // Two concatenated frames.
    const two = Buffer.concat([streamed, compress(Compression.Zstd, Buffer.from("tail"))]);
    expectSameBytes(decompress(Compression.Zstd, two), Buffer.concat([data, Buffer.from("tail")]));
  });
});

describe("batch header accessors", () => {
  it("reads the fixed header and attribute bits", () => {
    const buf = encodeRecordBatch({
      baseOffset: 5n,
      compression: "lz4",
      transactional: true,
      producerId: 9n,
      producerEpoch: 1,
      baseSequence: 4,
      records: sampleRecords(4),
    });
    const h = readBatchHeader(buf);
    expect(h.batchLength).toBe(buf.length - LOG_OVERHEAD);
    expect(h.attributes & 0x07).toBe(Compression.Lz4);
    expect(isTransactional(h.attributes)).toBe(true);
    expect(isControl(h.attributes)).toBe(false);
    expect(timestampType(h.attributes)).toBe(0);
    expect(hasDeleteHorizon(h.attributes)).toBe(false);
    expect(lastOffset(h)).toBe(8n);
    expect(nextOffset(h)).toBe(9n);
    expect(makeAttributes({ compression: 4, logAppendTime: true, transactional: true, control: true })).toBe(
      0x3c,
    );
    expectProtocolError(() => readBatchHeader(buf.subarray(0, 60)), "TRUNCATED");
  });

  it("patches base offset and leader epoch without invalidating the CRC", () => {
    const buf = encodeRecordBatch({ compression: "snappy", records: sampleRecords(3) });
    const crc = readBatchHeader(buf).crc;
    setBaseOffset(buf, 0, 123_456_789_000n);
    setPartitionLeaderEpoch(buf, 0, 42);
    expect(readBatchHeader(buf).crc).toBe(crc);
    expect(verifyBatchCrc(buf, 0)).toBe(true);
    const batch = decodeRecordBatch(buf);
    expect(batch.header.partitionLeaderEpoch).toBe(42);
    expect(batch.records.map((r) => r.offset)).toEqual([
      123_456_789_000n,
      123_456_789_001n,
      123_456_789_002n,
    ]);
  });

  it("applies LogAppendTime by rewriting maxTimestamp and the CRC", () => {
    const buf = encodeRecordBatch({ compression: "zstd", records: sampleRecords(3) });
    const before = readBatchHeader(buf).crc;
    setMaxTimestampAndTimestampType(buf, 0, 1_800_000_000_000n, true);
    const h = readBatchHeader(buf);
    expect(h.crc).not.toBe(before);
    expect(verifyBatchCrc(buf, 0)).toBe(true);
    expect(timestampType(h.attributes)).toBe(1);
    expect(buf.readBigInt64BE(MAX_TIMESTAMP_OFFSET)).toBe(1_800_000_000_000n);
    expect(decodeRecordBatch(buf).records.every((r) => r.timestamp === 1_800_000_000_000n)).toBe(true);
    // Back to CreateTime: deltas are untouched, so the original timestamps reappear.
    setMaxTimestampAndTimestampType(buf, 0, readBatchHeader(buf).baseTimestamp + 20n, false);
    expect(verifyBatchCrc(buf, 0)).toBe(true);
    expect(decodeRecordBatch(buf).records.map((r) => r.timestamp)).toEqual(
      sampleRecords(3).map((r) => BigInt(r.timestamp)),
    );
  });

  it("works on a batch in the middle of a larger buffer", () => {
    const a = encodeRecordBatch({ baseOffset: 0n, records: sampleRecords(2) });
    const b = encodeRecordBatch({ baseOffset: 2n, compression: "gzip", records: sampleRecords(3) });
    const all = Buffer.concat([a, b]);
    setBaseOffset(all, a.length, 100n);
    setMaxTimestampAndTimestampType(all, a.length, 77n, true);
    expect(verifyBatchCrc(all, 0)).toBe(true);
    expect(verifyBatchCrc(all, a.length)).toBe(true);
    expect(decodeRecords(all).map((r) => r.offset)).toEqual([0n, 1n, 100n, 101n, 102n]);
  });
});

describe("splitBatches and decodeRecords", () => {
  const batches = [
    encodeRecordBatch({ baseOffset: 0n, records: sampleRecords(2) }),
    encodeRecordBatch({ baseOffset: 2n, compression: "gzip", records: sampleRecords(3) }),
    encodeEndTxnMarker({
      commit: true,
      producerId: 1n,
      producerEpoch: 0,
      coordinatorEpoch: 0,
      timestamp: 0n,
      baseOffset: 5n,
    }),
  ];
  const field = Buffer.concat(batches);

  it("splits concatenated batches", () => {
    expect(splitBatches(field)).toEqual([
      { offset: 0, length: batches[0]!.length },
      { offset: batches[0]!.length, length: batches[1]!.length },
      { offset: batches[0]!.length + batches[1]!.length, length: batches[2]!.length },
    ]);
    expect(splitBatches(Buffer.alloc(0))).toEqual([]);
  });

  it("stops at a trailing partial batch, as Kafka does", () => {
    for (const cut of [1, 11, 12, 40, batches[2]!.length - 1]) {
      const partial = field.subarray(0, field.length - cut);
      expect(splitBatches(partial)).toHaveLength(2);
      expect(decodeRecords(partial).map((r) => r.offset)).toEqual([0n, 1n, 2n, 3n, 4n]);
    }
  });

  it("treats an entry length below the minimum as corruption", () => {
    const bad = Buffer.from(field);
    bad.writeInt32BE(3, 8);
    expectProtocolError(() => splitBatches(bad), "CORRUPT_RECORD", /below the minimum/);
    expectProtocolError(() => splitBatches(field, 10), "CORRUPT_RECORD", /exceeds the limit/);
    const shortV2 = Buffer.alloc(LOG_OVERHEAD + 20);
    shortV2.writeInt32BE(20, 8);
    shortV2[16] = 2;
    expectProtocolError(() => decodeRecords(shortV2), "CORRUPT_RECORD", /shorter than its header/);
  });

  it("flattens every record with absolute offsets and batch context", () => {
    const records = decodeRecords(field);
    expect(records.map((r) => r.offset)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    expect(records.map((r) => r.isControl)).toEqual([false, false, false, false, false, true]);
    expect(records[3]).toMatchObject({ batchBaseOffset: 2n, batchLastOffset: 4n, magic: 2 });
  });
});

describe("legacy message sets (magic 0 and 1)", () => {
  const messages = [
    { key: "k0", value: "v0", timestamp: 1000n },
    { key: null, value: "v1", timestamp: 1001n },
    { key: "k2", value: null, timestamp: 1003n },
  ];

  for (const magic of [0, 1] as const) {
    it(`round-trips uncompressed magic ${magic}`, () => {
      const buf = encodeLegacyMessageSet({ magic, baseOffset: 10n, messages });
      const records = decodeRecords(buf);
      expect(records.map((r) => r.offset)).toEqual([10n, 11n, 12n]);
      expect(records.map((r) => r.key?.toString() ?? null)).toEqual(["k0", null, "k2"]);
      expect(records.map((r) => r.value?.toString() ?? null)).toEqual(["v0", "v1", null]);
      expect(records.map((r) => r.timestamp)).toEqual(magic === 0 ? [-1n, -1n, -1n] : [1000n, 1001n, 1003n]);
      expect(records.every((r) => r.magic === magic && r.timestampType === (magic === 0 ? -1 : 0))).toBe(
        true,
      );
      expect(records[0]).toMatchObject({
        producerId: -1n,
        sequence: -1,
        partitionLeaderEpoch: -1,
        headers: [],
      });
    });

    for (const compression of ["gzip", "snappy", "lz4"] as const) {
      it(`round-trips a magic ${magic} ${compression} wrapper with absolute offsets`, () => {
        const buf = encodeLegacyMessageSet({ magic, baseOffset: 100n, compression, messages });
        const entry = decodeLegacyEntry(buf);
        expect(entry.offset).toBe(102n); // wrapper carries the last inner offset
        expect(entry.records.map((r) => r.offset)).toEqual([100n, 101n, 102n]);
        expect(entry.records.map((r) => r.value?.toString() ?? null)).toEqual(["v0", "v1", null]);
        expect(entry.records[0]).toMatchObject({ batchBaseOffset: 100n, batchLastOffset: 102n });
        if (magic === 1) expect(entry.records.map((r) => r.timestamp)).toEqual([1000n, 1001n, 1003n]);
      });
    }
  }

  it("uses magic 1 relative inner offsets anchored at the wrapper offset", () => {
    const buf = encodeLegacyMessageSet({ magic: 1, baseOffset: 0n, compression: "gzip", messages });
    buf.writeBigInt64BE(5000n, 0); // the broker assigns the wrapper offset; not covered by the CRC
    expect(decodeRecords(buf).map((r) => r.offset)).toEqual([4998n, 4999n, 5000n]);
  });

  it("gives inner messages the wrapper timestamp under LogAppendTime", () => {
    const buf = encodeLegacyMessageSet({
      magic: 1,
      compression: "snappy",
      timestampType: 1,
      wrapperTimestamp: 4242n,
      messages,
    });
    const records = decodeRecords(buf);
    expect(records.every((r) => r.timestamp === 4242n && r.timestampType === 1)).toBe(true);
  });

  it("mixes legacy and v2 entries in one records field", () => {
    const field = Buffer.concat([
      encodeLegacyMessageSet({ magic: 0, baseOffset: 0n, messages: messages.slice(0, 1) }),
      encodeLegacyMessageSet({ magic: 1, baseOffset: 1n, compression: "gzip", messages }),
      encodeRecordBatch({ baseOffset: 4n, records: sampleRecords(2) }),
    ]);
    expect(decodeRecords(field).map((r) => [r.offset, r.magic])).toEqual([
      [0n, 0],
      [1n, 1],
      [2n, 1],
      [3n, 1],
      [4n, 2],
      [5n, 2],
    ]);
  });

  it("detects legacy CRC mismatches (outer and inner)", () => {
    const plain = encodeLegacyMessageSet({ magic: 1, messages });
    plain[LOG_OVERHEAD + 18]! ^= 0xff; // first byte of the first key
    expect(plain.subarray(LOG_OVERHEAD + 18, LOG_OVERHEAD + 20).toString()).not.toBe("k0");
    expectProtocolError(() => decodeRecords(plain), "CRC_MISMATCH", /magic 1 message/);
    expect(decodeRecords(plain, { verifyCrc: false })).toHaveLength(3);
  });

  it("tolerates the broken LZ4 header checksum of old magic 0 producers, but not in magic 1", () => {
    for (const magic of [0, 1] as const) {
      const buf = encodeLegacyMessageSet({ magic, compression: "lz4", messages });
      const valueStart = LOG_OVERHEAD + (magic === 0 ? 14 : 22);
      buf[valueStart + 6]! ^= 0x5a; // frame magic (4) + FLG + BD, then the header checksum
      buf.writeUInt32BE(crc32Of(buf.subarray(LOG_OVERHEAD + 4)) >>> 0, LOG_OVERHEAD);
      if (magic === 0)
        expect(decodeRecords(buf).map((r) => r.value?.toString() ?? null)).toEqual(["v0", "v1", null]);
      else expectProtocolError(() => decodeRecords(buf), "CORRUPT_RECORD", /lz4/);
    }
  });

  it("rejects malformed wrappers", () => {
    expectProtocolError(
      () => encodeLegacyMessageSet({ magic: 1, compression: "zstd" as "gzip", messages }),
      "UNSUPPORTED_COMPRESSION",
    );
    // A zstd codec id in a legacy message.
    const zstdWrapper = encodeLegacyMessageSet({ magic: 1, compression: "gzip", messages });
    zstdWrapper[12 + 5] = 4;
    expectProtocolError(() => decodeRecords(zstdWrapper, { verifyCrc: false }), "UNSUPPORTED_COMPRESSION");
    // A compressed wrapper whose inner message is itself compressed.
    const inner = encodeLegacyMessageSet({ magic: 0, compression: "gzip", messages });
    const nested = encodeLegacyWrapper(gzipSync(inner));
    expectProtocolError(() => decodeRecords(nested), "CORRUPT_RECORD", /contains a compressed message/);
    // A wrapper with an empty inner set.
    expectProtocolError(
      () => decodeRecords(encodeLegacyWrapper(gzipSync(Buffer.alloc(0)))),
      "CORRUPT_RECORD",
    );
  });
});

/** A magic 0 gzip wrapper around arbitrary (already compressed) bytes. */
function encodeLegacyWrapper(value: Buffer): Buffer {
  const size = 14 + value.length;
  const out = Buffer.alloc(12 + size);
  out.writeBigInt64BE(0n, 0);
  out.writeInt32BE(size, 8);
  out.writeInt8(0, 16);
  out.writeInt8(Compression.Gzip, 17);
  out.writeInt32BE(-1, 18);
  out.writeInt32BE(value.length, 22);
  value.copy(out, 26);
  // zlib's crc32 covers magic..end.
  out.writeUInt32BE(crc32Of(out.subarray(16)), 12);
  return out;
}
