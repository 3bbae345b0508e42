// Raw-protocol checks of Kafka-exact server behaviour that clients hide: ApiVersions (incl. KIP-511),
// Produce errors, acks=0, idempotent duplicates and sequence gaps (also across a SIGKILL restart),
// LogAppendTime, and the command line's exit code 2 on bad input.
import { spawnSync } from "node:child_process";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { FrameReader } from "../../protocol/framing/frame-reader.ts";
import { decodeResponseFrame, encodeRequestFrame } from "../../protocol/messages.ts";
import { encodeRecordBatch } from "../../protocol/records/record-batch.ts";
import { BROKER_MAIN, BrokerProcess, REPO_ROOT } from "../src/testing/broker-process.ts";

class RawClient {
  private readonly reader = new FrameReader();
  private readonly frames: Buffer[] = [];
  private waiting: ((f: Buffer) => void) | undefined;
  private correlationId = 1;
  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      for (const f of this.reader.feed(chunk)) {
        if (this.waiting) {
          const w = this.waiting;
          this.waiting = undefined;
          w(f);
        } else this.frames.push(f);
      }
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  send(apiKey: number, apiVersion: number, body: unknown): number {
    const correlationId = this.correlationId++;
    this.socket.write(encodeRequestFrame({ apiKey, apiVersion, correlationId, clientId: "raw" }, body));
    return correlationId;
  }

  sendRaw(frame: Buffer): void {
    this.socket.write(frame);
  }

  next(): Promise<Buffer> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  // biome-ignore lint/suspicious/noExplicitAny: test helper over every API
  async call(apiKey: number, apiVersion: number, body: unknown): Promise<any> {
    const id = this.send(apiKey, apiVersion, body);
    const res = decodeResponseFrame(apiKey, apiVersion, await this.next());
    expect(res.correlationId).toBe(id);
    return res.body;
  }

  close(): void {
    this.socket.destroy();
  }
}

let broker: BrokerProcess;
const extra: BrokerProcess[] = [];

beforeAll(async () => {
  broker = await BrokerProcess.start();
});

afterAll(async () => {
  for (const b of extra) await b.kill();
  await broker?.kill();
  broker?.cleanup();
});

function batch(opts: { producerId?: bigint; epoch?: number; seq?: number; values: string[] }): Buffer {
  return encodeRecordBatch({
    producerId: opts.producerId ?? -1n,
    producerEpoch: opts.epoch ?? -1,
    baseSequence: opts.seq ?? -1,
    records: opts.values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: BigInt(Date.now()) })),
  });
}

function produceBody(topic: string, records: Buffer, acks = -1) {
  return {
    transactionalId: null,
    acks,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  };
}

async function createTopic(c: RawClient, name: string, configs: { name: string; value: string }[] = []) {
  const res = await c.call(19, 7, {
    topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(res.topics[0].errorCode).toBe(0);
}

describe("server protocol behaviour", () => {
  test("ApiVersions advertises the implemented APIs and answers unknown versions in v0 (KIP-511)", async () => {
    const c = await RawClient.open(broker.port);
    const res = await c.call(18, 3, { clientSoftwareName: "raw", clientSoftwareVersion: "1.0" });
    expect(res.errorCode).toBe(0);
    const ranges = new Map<number, [number, number]>(
      res.apiKeys.map((k: { apiKey: number; minVersion: number; maxVersion: number }) => [
        k.apiKey,
        [k.minVersion, k.maxVersion],
      ]),
    );
    expect(ranges.get(0)).toEqual([3, 11]); // Produce
    expect(ranges.get(1)).toEqual([4, 17]); // Fetch
    expect(ranges.get(3)).toEqual([0, 12]); // Metadata
    expect(ranges.get(18)).toEqual([0, 4]); // ApiVersions
    expect(ranges.has(26)).toBe(false); // EndTxn: transactions are not supported
    // The codec will not encode an unknown version, so write the frame by hand: header v2 + empty body.
    const unknownVersion = Buffer.from([
      0, 0, 0, 15, 0, 18, 0, 77, 0, 0, 0, 99, 0, 3, 0x72, 0x61, 0x77, 0, 0,
    ]);
    c.sendRaw(unknownVersion);
    const raw = await c.next();
    expect(raw.readInt32BE(0)).toBe(99);
    const v0 = decodeResponseFrame(18, 0, raw).body as { errorCode: number; apiKeys: unknown[] };
    expect(v0.errorCode).toBe(ERROR_CODES.UNSUPPORTED_VERSION);
    expect(v0.apiKeys).toEqual([{ apiKey: 18, minVersion: 0, maxVersion: 4 }]);
    c.close();
  });

  test("Produce: invalid acks, corrupt CRC, too large, acks=0 and LogAppendTime", async () => {
    const c = await RawClient.open(broker.port);
    await createTopic(c, "p-errors", [{ name: "max.message.bytes", value: "200" }]);
    await createTopic(c, "p-lat", [{ name: "message.timestamp.type", value: "LogAppendTime" }]);
    const bad = await c.call(0, 9, produceBody("p-errors", batch({ values: ["x"] }), 2));
    expect(bad.responses[0].partitionResponses[0].errorCode).toBe(ERROR_CODES.INVALID_REQUIRED_ACKS);
    const corrupt = batch({ values: ["corrupt me"] });
    corrupt[corrupt.length - 1]! ^= 0xff;
    const crc = await c.call(0, 9, produceBody("p-errors", corrupt));
    expect(crc.responses[0].partitionResponses[0].errorCode).toBe(ERROR_CODES.CORRUPT_MESSAGE);
    const big = await c.call(0, 9, produceBody("p-errors", batch({ values: ["y".repeat(500)] })));
    expect(big.responses[0].partitionResponses[0].errorCode).toBe(ERROR_CODES.MESSAGE_TOO_LARGE);
    const unknown = await c.call(0, 9, produceBody("nope", batch({ values: ["z"] })));
    expect(unknown.responses[0].partitionResponses[0].errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    // acks=0: no response at all; the next request's response comes next.
    c.send(0, 9, produceBody("p-errors", batch({ values: ["quiet"] }), 0));
    const lat = await c.call(0, 9, produceBody("p-lat", batch({ values: ["a", "b"] })));
    const pr = lat.responses[0].partitionResponses[0];
    expect(pr.errorCode).toBe(0);
    expect(Number(pr.logAppendTimeMs)).toBeGreaterThan(Date.now() - 60_000);
    const offsets = await c.call(2, 7, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [
        { name: "p-errors", partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] },
      ],
    });
    expect(offsets.topics[0].partitions[0].offset).toBe(1n); // only the acks=0 batch
    c.close();
  });

  test("idempotence: duplicates get the original offset, gaps are rejected, state survives SIGKILL", async () => {
    const c = await RawClient.open(broker.port);
    await createTopic(c, "idem");
    const init = await c.call(22, 4, {
      transactionalId: null,
      transactionTimeoutMs: -1,
      producerId: -1n,
      producerEpoch: -1,
    });
    expect(init.errorCode).toBe(0);
    const pid = init.producerId as bigint;
    const b0 = batch({ producerId: pid, epoch: 0, seq: 0, values: ["a", "b", "c"] });
    const b1 = batch({ producerId: pid, epoch: 0, seq: 3, values: ["d"] });
    const first = await c.call(0, 9, produceBody("idem", Buffer.from(b0)));
    expect(first.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 0n });
    await c.call(0, 9, produceBody("idem", Buffer.from(b1)));
    const dup = await c.call(0, 9, produceBody("idem", Buffer.from(b0)));
    expect(dup.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 0n });
    const gap = await c.call(
      0,
      9,
      produceBody("idem", batch({ producerId: pid, epoch: 0, seq: 9, values: ["x"] })),
    );
    expect(gap.responses[0].partitionResponses[0].errorCode).toBe(ERROR_CODES.OUT_OF_ORDER_SEQUENCE_NUMBER);
    c.close();

    await broker.kill();
    const restarted = await BrokerProcess.start({ dataDir: broker.dataDir, port: broker.port });
    extra.push(restarted);
    const c2 = await RawClient.open(restarted.port);
    const again = await c2.call(0, 9, produceBody("idem", Buffer.from(b1)));
    expect(again.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 3n });
    const next = await c2.call(
      0,
      9,
      produceBody("idem", batch({ producerId: pid, epoch: 0, seq: 4, values: ["e"] })),
    );
    expect(next.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 4n });
    // A new producer id never reuses one handed out before the crash.
    const init2 = await c2.call(22, 4, {
      transactionalId: null,
      transactionTimeoutMs: -1,
      producerId: -1n,
      producerEpoch: -1,
    });
    expect(init2.producerId).toBeGreaterThan(pid);
    c2.close();
  });

  test("bad command-line input exits with code 2 and one sentence", () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", BROKER_MAIN, ...args], {
        cwd: REPO_ROOT,
        encoding: "utf8",
      });
    const cases = [
      ["--node-id", "x", "--data-dir", "/tmp/never"],
      ["--node-id", "1"],
      ["--node-id", "1", "--data-dir", "/tmp/never", "--flush", "sometimes"],
      ["--node-id", "1", "--data-dir", "/tmp/never", "--bogus"],
    ];
    for (const args of cases) {
      const r = run(args);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^broker: .+\.\n$/);
    }
  });
});
