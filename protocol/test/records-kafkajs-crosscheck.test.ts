/**
 * Cross-checks our record codec against kafkajs's own encoders and decoders (an independent
 * implementation that talks to real Kafka): both directions, byte-identical where inputs match.
 */
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import {
  Compression,
  decodeRecordBatch,
  decodeRecords,
  encodeLegacyMessageSet,
  encodeRecordBatch,
  type RecordInput,
  verifyBatchCrc,
} from "../records/index.ts";

const require = createRequire(import.meta.url);

type KafkajsEncoder = { buffer: Buffer; size(): number };
type KafkajsRecordBatch = (opts: Record<string, unknown>) => Promise<KafkajsEncoder>;
type KafkajsRecord = (opts: Record<string, unknown>) => KafkajsEncoder;
interface KafkajsDecodedRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
}

const { RecordBatch } = require("kafkajs/src/protocol/recordBatch/v0/index.js") as {
  RecordBatch: KafkajsRecordBatch;
};
const Record = require("kafkajs/src/protocol/recordBatch/record/v0/index.js") as KafkajsRecord;
const decodeKafkajsBatch = require("kafkajs/src/protocol/recordBatch/v0/decoder.js") as (
  decoder: unknown,
) => Promise<{ records: KafkajsDecodedRecord[]; producerId: string; inTransaction: boolean }>;
const KafkajsDecoder = require("kafkajs/src/protocol/decoder.js") as new (buf: Buffer) => unknown;
const Long = require("kafkajs/src/utils/long.js") as { fromValue(v: string | number): unknown };
const MessageSet = require("kafkajs/src/protocol/messageSet/index.js") as (opts: {
  messageVersion: number;
  compression: number;
  entries: { key: Buffer | null; value: Buffer | null; timestamp?: number }[];
}) => KafkajsEncoder;
const decodeKafkajsMessageSet = require("kafkajs/src/protocol/messageSet/decoder.js") as (
  decoder: unknown,
  size: number,
) => Promise<{ offset: string; key: Buffer | null; value: Buffer | null; timestamp?: string }[]>;
const MessageV1 = require("kafkajs/src/protocol/message/v1/index.js") as (opts: {
  compression: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer;
}) => KafkajsEncoder;
const kafkajsGzip = require("kafkajs/src/protocol/message/compression/gzip.js") as {
  compress(e: KafkajsEncoder): Promise<Buffer>;
};

/** kafkajs keeps headers in an object: one value per key, or an array for repeated keys. */
interface Message {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
  timestamp: number;
}

const BASE_TIME = 1_700_000_000_000;

function headersFor(i: number): Message["headers"] {
  if (i % 3 === 0) return {};
  if (i % 3 === 1) return { "trace-id": Buffer.from(`t${i}`) };
  return { a: Buffer.from("1"), multi: [Buffer.from("x"), Buffer.from("y")] };
}

function messages(n: number): Message[] {
  return Array.from({ length: n }, (_, i) => ({
    key: i % 4 === 1 ? null : Buffer.from(`key-${i}`),
    value: i % 6 === 5 ? null : Buffer.from(`value-${i}:${"payload".repeat(i)}`),
    headers: headersFor(i),
    timestamp: BASE_TIME + i * 3,
  }));
}

function headerList(headers: Message["headers"]): { key: string; value: Buffer }[] {
  return Object.entries(headers).flatMap(([key, v]) =>
    (Array.isArray(v) ? v : [v]).map((value) => ({ key, value })),
  );
}

interface BatchFields {
  compression: Compression;
  baseOffset: bigint;
  partitionLeaderEpoch: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  transactional: boolean;
}

async function kafkajsEncode(msgs: Message[], f: BatchFields): Promise<Buffer> {
  const timestamps = msgs.map((m) => m.timestamp);
  const records = msgs.map((m, i) =>
    Record({
      key: m.key,
      value: m.value,
      headers: m.headers,
      offsetDelta: i,
      timestampDelta: m.timestamp - timestamps[0]!,
    }),
  );
  const batch = await RecordBatch({
    compression: f.compression,
    firstOffset: Long.fromValue(f.baseOffset.toString()),
    firstTimestamp: timestamps[0],
    maxTimestamp: Math.max(...timestamps),
    partitionLeaderEpoch: f.partitionLeaderEpoch,
    lastOffsetDelta: msgs.length - 1,
    transactional: f.transactional,
    producerId: Long.fromValue(f.producerId.toString()),
    producerEpoch: f.producerEpoch,
    firstSequence: f.baseSequence,
    records,
  });
  return batch.buffer;
}

function ourEncode(msgs: Message[], f: BatchFields): Buffer {
  const records: RecordInput[] = msgs.map((m) => ({
    key: m.key,
    value: m.value,
    headers: headerList(m.headers),
    timestamp: BigInt(m.timestamp),
  }));
  return encodeRecordBatch({ ...f, records });
}

const CASES: { name: string; fields: BatchFields; count: number }[] = [
  {
    name: "uncompressed, non-idempotent",
    count: 12,
    fields: {
      compression: Compression.None,
      baseOffset: 0n,
      partitionLeaderEpoch: 0,
      producerId: -1n,
      producerEpoch: 0,
      baseSequence: 0,
      transactional: false,
    },
  },
  {
    name: "uncompressed, transactional producer",
    count: 7,
    fields: {
      compression: Compression.None,
      baseOffset: 9_000_000_000n,
      partitionLeaderEpoch: 5,
      producerId: 4242n,
      producerEpoch: 3,
      baseSequence: 100,
      transactional: true,
    },
  },
  {
    name: "gzip, idempotent producer",
    count: 20,
    fields: {
      compression: Compression.Gzip,
      baseOffset: 77n,
      partitionLeaderEpoch: 2,
      producerId: 12n,
      producerEpoch: 1,
      baseSequence: 40,
      transactional: false,
    },
  },
  {
    name: "gzip, single record",
    count: 1,
    fields: {
      compression: Compression.Gzip,
      baseOffset: 0n,
      partitionLeaderEpoch: 0,
      producerId: -1n,
      producerEpoch: 0,
      baseSequence: 0,
      transactional: false,
    },
  },
];

function expectRecordsMatch(
  decoded: ReturnType<typeof decodeRecordBatch>,
  msgs: Message[],
  f: BatchFields,
): void {
  expect(decoded.header).toMatchObject({
    baseOffset: f.baseOffset,
    partitionLeaderEpoch: f.partitionLeaderEpoch,
    producerId: f.producerId,
    producerEpoch: f.producerEpoch,
    baseSequence: f.baseSequence,
    recordCount: msgs.length,
    lastOffsetDelta: msgs.length - 1,
  });
  expect(decoded.compression).toBe(f.compression);
  expect(decoded.isTransactional).toBe(f.transactional);
  expect(decoded.records).toHaveLength(msgs.length);
  decoded.records.forEach((r, i) => {
    const m = msgs[i]!;
    expect(r.offset).toBe(f.baseOffset + BigInt(i));
    expect(r.timestamp).toBe(BigInt(m.timestamp));
    expect(r.key).toEqual(m.key);
    expect(r.value).toEqual(m.value);
    expect(r.headers).toEqual(headerList(m.headers));
  });
}

describe("RecordBatch v2 against kafkajs", () => {
  for (const { name, fields, count } of CASES) {
    const msgs = messages(count);

    it(`reads kafkajs-encoded batches (${name})`, async () => {
      const bytes = await kafkajsEncode(msgs, fields);
      expect(verifyBatchCrc(bytes, 0)).toBe(true);
      expectRecordsMatch(decodeRecordBatch(bytes), msgs, fields);
    });

    it(`writes byte-identical batches (${name})`, async () => {
      const theirs = await kafkajsEncode(msgs, fields);
      const ours = ourEncode(msgs, fields);
      expect(ours.toString("hex")).toBe(theirs.toString("hex"));
    });

    it(`is readable by kafkajs's decoder (${name})`, async () => {
      const ours = ourEncode(msgs, fields);
      const decoded = await decodeKafkajsBatch(new KafkajsDecoder(ours));
      expect(decoded.producerId).toBe(fields.producerId.toString());
      expect(decoded.inTransaction).toBe(fields.transactional);
      expect(decoded.records).toHaveLength(msgs.length);
      decoded.records.forEach((r, i) => {
        const m = msgs[i]!;
        expect(r.offset).toBe((fields.baseOffset + BigInt(i)).toString());
        expect(r.timestamp).toBe(String(m.timestamp));
        expect(r.key).toEqual(m.key);
        expect(r.value).toEqual(m.value);
        expect(r.headers).toEqual(m.headers);
      });
    });
  }
});

describe("legacy message sets against kafkajs", () => {
  const entries = [
    { key: Buffer.from("a"), value: Buffer.from("first"), timestamp: BASE_TIME },
    { key: null, value: Buffer.from("second"), timestamp: BASE_TIME + 1 },
    { key: Buffer.from("c"), value: null, timestamp: BASE_TIME + 5 },
  ];

  for (const magic of [0, 1] as const) {
    it(`reads kafkajs magic ${magic} message sets`, () => {
      const set = MessageSet({ messageVersion: magic, compression: Compression.None, entries }).buffer;
      const records = decodeRecords(set);
      expect(records.map((r) => r.offset)).toEqual([-1n, -1n, -1n]); // producers leave offsets to the broker
      expect(records.map((r) => r.key)).toEqual(entries.map((e) => e.key));
      expect(records.map((r) => r.value)).toEqual(entries.map((e) => e.value));
      if (magic === 1)
        expect(records.map((r) => r.timestamp)).toEqual(entries.map((e) => BigInt(e.timestamp)));
    });

    it(`writes magic ${magic} message sets kafkajs reads (uncompressed and gzip)`, async () => {
      for (const compression of ["none", "gzip"] as const) {
        const ours = encodeLegacyMessageSet({ magic, baseOffset: 50n, compression, messages: entries });
        const decoded = await decodeKafkajsMessageSet(new KafkajsDecoder(ours), ours.length);
        expect(decoded.map((m) => m.offset)).toEqual(["50", "51", "52"]);
        expect(decoded.map((m) => m.key)).toEqual(entries.map((e) => e.key));
        expect(decoded.map((m) => m.value)).toEqual(entries.map((e) => e.value));
      }
    });
  }

  it("reads a kafkajs-built magic 1 gzip wrapper with relative inner offsets", async () => {
    const inner = MessageSet({ messageVersion: 1, compression: Compression.Gzip, entries });
    const wrapper = MessageV1({
      compression: Compression.Gzip,
      timestamp: BASE_TIME + 5,
      key: null,
      value: await kafkajsGzip.compress(inner),
    }).buffer;
    const entry = Buffer.alloc(12 + wrapper.length);
    entry.writeBigInt64BE(1002n, 0); // as the broker would assign: offset of the last inner message
    entry.writeInt32BE(wrapper.length, 8);
    wrapper.copy(entry, 12);
    const records = decodeRecords(entry);
    expect(records.map((r) => r.offset)).toEqual([1000n, 1001n, 1002n]);
    expect(records.map((r) => r.value)).toEqual(entries.map((e) => e.value));
  });
});
