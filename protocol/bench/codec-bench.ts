/**
 * Codec throughput: encode and decode MB/s (median of several runs) for
 *   - a Produce v9 request carrying 1 MiB of records (one RecordBatch of 1 KiB records),
 *   - a Fetch v12 response carrying the same 1 MiB of records,
 *   - a Fetch v12 response with 1,000 partitions of 1 KiB each (field-level overhead dominates).
 * Prints a table and writes reports/bench/codec-<date>.json.
 *
 *   npm run bench:codec
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { apis, type FetchResponse, type ProduceRequest } from "../generated/index.ts";
import { Reader } from "../wire/reader.ts";
import { Writer } from "../wire/writer.ts";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const RUNS = 7;
const RUN_MS = 250;
const MIB = 1024 * 1024;

/** Deterministic pseudo-random bytes (xorshift32), so payloads do not compress to nothing. */
function pseudoRandomBytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** 1 MiB of records: a real RecordBatch from protocol/records when available, else random bytes. */
async function recordsPayload(
  totalBytes: number,
  recordSize: number,
): Promise<{ bytes: Buffer; source: string }> {
  try {
    const records = (await import("../records/index.ts")) as {
      encodeRecordBatch?: (opts: {
        records: { key: Buffer | null; value: Buffer; timestamp: bigint }[];
      }) => Buffer;
    };
    if (typeof records.encodeRecordBatch === "function") {
      const count = Math.floor(totalBytes / recordSize);
      const batch = records.encodeRecordBatch({
        records: Array.from({ length: count }, (_, i) => ({
          key: Buffer.from(`key-${i}`),
          value: pseudoRandomBytes(recordSize, i + 1),
          timestamp: 1_700_000_000_000n + BigInt(i),
        })),
      });
      return {
        bytes: batch,
        source: `RecordBatch v2 of ${count} x ${recordSize} B records (protocol/records)`,
      };
    }
  } catch {
    // protocol/records not usable yet: fall through to random bytes.
  }
  return { bytes: pseudoRandomBytes(totalBytes, 7), source: "random bytes (protocol/records unavailable)" };
}

interface Result {
  name: string;
  messageBytes: number;
  encodeMBps: number;
  decodeMBps: number;
  encodeRunsMBps: number[];
  decodeRunsMBps: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs `fn` repeatedly for about RUN_MS and returns MB/s given `bytes` per call. */
function throughput(fn: () => void, bytes: number): number {
  let iterations = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  while (elapsedNs < BigInt(RUN_MS) * 1_000_000n) {
    fn();
    iterations++;
    elapsedNs = process.hrtime.bigint() - start;
  }
  return (bytes * iterations) / MIB / (Number(elapsedNs) / 1e9);
}

function bench(name: string, encode: (w: Writer) => void, decode: (r: Reader) => unknown): Result {
  const sample = new Writer(2 * MIB);
  encode(sample);
  const encoded = Buffer.from(sample.finish());
  // Warm up both paths so the JIT has settled before measuring.
  for (let i = 0; i < 50; i++) {
    const w = new Writer(encoded.length + 64);
    encode(w);
    decode(new Reader(encoded));
  }
  const encodeRuns: number[] = [];
  const decodeRuns: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    encodeRuns.push(
      throughput(() => {
        const w = new Writer(encoded.length + 64);
        encode(w);
      }, encoded.length),
    );
    decodeRuns.push(throughput(() => decode(new Reader(encoded)), encoded.length));
  }
  return {
    name,
    messageBytes: encoded.length,
    encodeMBps: median(encodeRuns),
    decodeMBps: median(decodeRuns),
    encodeRunsMBps: encodeRuns,
    decodeRunsMBps: decodeRuns,
  };
}

async function main(): Promise<void> {
  const { bytes: records, source } = await recordsPayload(MIB, 1024);
  const smallRecords = (await recordsPayload(1024, 256)).bytes;

  const produce: ProduceRequest = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 30_000,
    topicData: [{ name: "bench-topic", partitionData: [{ index: 0, records }] }],
  };
  const fetchPartition = (partitionIndex: number, recs: Buffer) => ({
    partitionIndex,
    errorCode: 0,
    highWatermark: 1_000_000n,
    lastStableOffset: 1_000_000n,
    logStartOffset: 0n,
    abortedTransactions: [],
    preferredReadReplica: -1,
    records: recs,
  });
  const fetchBig: FetchResponse = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 1,
    responses: [{ topic: "bench-topic", partitions: [fetchPartition(0, records)] }],
  };
  const fetchMany: FetchResponse = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 1,
    responses: Array.from({ length: 10 }, (_, t) => ({
      topic: `topic-${t}`,
      partitions: Array.from({ length: 100 }, (_, p) => fetchPartition(p, smallRecords)),
    })),
  };

  const results = [
    bench(
      "Produce v9 request, 1 MiB records",
      (w) => apis.Produce.encodeRequest(w, produce, 9),
      (r) => apis.Produce.decodeRequest(r, 9),
    ),
    bench(
      "Fetch v12 response, 1 MiB records",
      (w) => apis.Fetch.encodeResponse(w, fetchBig, 12),
      (r) => apis.Fetch.decodeResponse(r, 12),
    ),
    bench(
      "Fetch v12 response, 1000 partitions x 1 KiB",
      (w) => apis.Fetch.encodeResponse(w, fetchMany, 12),
      (r) => apis.Fetch.decodeResponse(r, 12),
    ),
  ];

  console.log(
    `codec bench (median of ${RUNS} runs of ${RUN_MS} ms, Node ${process.version}); records: ${source}`,
  );
  for (const r of results) {
    console.log(
      `${r.name.padEnd(46)} ${String(r.messageBytes).padStart(8)} B   encode ${r.encodeMBps.toFixed(0).padStart(7)} MB/s   decode ${r.decodeMBps.toFixed(0).padStart(7)} MB/s`,
    );
  }
  console.log(
    "Decode returns records as subarrays of the input (no copy), so decode MB/s mostly measures field parsing.",
  );

  const date = new Date().toISOString().slice(0, 10);
  const out = join(REPO_ROOT, "reports/bench", `codec-${date}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        runs: RUNS,
        runMs: RUN_MS,
        recordsSource: source,
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${out}`);
}

await main();
