// Produce and fetch: order per partition, key placement (murmur2), headers, CreateTime and
// LogAppendTime, every compression codec, large batches, MESSAGE_TOO_LARGE, acks 0/1/all and
// NOT_ENOUGH_REPLICAS.
import { expect } from "vitest";
import { ERROR_CODES as E } from "../../protocol/error-codes.ts";
import { compressionCodec, encodeRecordBatch, isLogAppendTime } from "../../protocol/records/index.ts";
import type { CompressionName } from "../clients/types.ts";
import { clientMatrix, expectKafkaError, rawSuite } from "../context.ts";
import { killNode, restartNode } from "../control.ts";
import { keyPartition } from "../murmur2.ts";
import { codeName, waitFor } from "../raw/kafka.ts";

const CODEC_ID: Record<CompressionName, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };
const DAY = 24 * 3600 * 1000;

clientMatrix("Produce and fetch", (test) => {
  test("records of one partition are consumed in produce order with contiguous offsets", {}, async ({
    client,
    newTopic,
  }) => {
    const topic = await newTopic({ partitions: 2 });
    const values = Array.from({ length: 60 }, (_, i) => `m-${i}`);
    for (let i = 0; i < values.length; i += 20) {
      await client.produce(
        topic,
        values.slice(i, i + 20).map((value) => ({ value, partition: 1 })),
      );
    }
    const { messages } = await client.consume(topic, { count: 60 });
    const p1 = messages.filter((m) => m.partition === 1);
    expect(p1.map((m) => m.value?.toString())).toEqual(values);
    expect(p1.map((m) => m.offset)).toEqual(values.map((_, i) => BigInt(i)));
  });

  test("the default partitioner places each key at murmur2(key) % partitions", {}, async ({
    client,
    newTopic,
    rng,
  }) => {
    const partitions = 5;
    const topic = await newTopic({ partitions });
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}-${rng.nextUint32().toString(36)}`);
    await client.produce(
      topic,
      keys.map((key) => ({ key, value: `v-${key}` })),
    );
    const { messages } = await client.consume(topic, { count: keys.length });
    expect(messages.length).toBe(keys.length);
    for (const m of messages) {
      const key = m.key!.toString();
      expect(m.partition, `partition of ${key}`).toBe(keyPartition(key, partitions));
    }
    expect(new Set(messages.map((m) => m.partition)).size).toBeGreaterThan(1);
  });

  test("the same key always lands in the same partition", {}, async ({ client, newTopic }) => {
    const topic = await newTopic({ partitions: 4 });
    await client.produce(
      topic,
      [1, 2, 3, 4, 5].map((i) => ({ key: "sticky-key", value: `v${i}` })),
    );
    const { messages } = await client.consume(topic, { count: 5 });
    expect(new Set(messages.map((m) => m.partition))).toEqual(new Set([keyPartition("sticky-key", 4)]));
    expect(messages.map((m) => m.value?.toString())).toEqual(["v1", "v2", "v3", "v4", "v5"]);
  });

  test("record headers round-trip", {}, async ({ client, newTopic }) => {
    const topic = await newTopic();
    await client.produce(topic, [{ value: "h", headers: { "trace-id": "abc-123", empty: "", ünï: "çödé" } }]);
    const { messages } = await client.consume(topic, { count: 1 });
    expect(messages[0].headers).toEqual({ "trace-id": "abc-123", empty: "", ünï: "çödé" });
  });

  test("keys, null keys and null values (tombstones) round-trip", {}, async ({ client, newTopic }) => {
    const topic = await newTopic();
    await client.produce(topic, [
      { key: "k1", value: "v1", partition: 0 },
      { key: null, value: "no-key", partition: 0 },
      { key: "k3", value: null, partition: 0 },
    ]);
    const { messages } = await client.consume(topic, { count: 3 });
    expect(messages.map((m) => [m.key?.toString() ?? null, m.value?.toString() ?? null])).toEqual([
      ["k1", "v1"],
      [null, "no-key"],
      ["k3", null],
    ]);
  });

  test("an empty value stays empty (not null)", { clientOps: ["emptyValue"] }, async ({
    client,
    newTopic,
  }) => {
    const topic = await newTopic();
    await client.produce(topic, [{ key: "k", value: "", partition: 0 }]);
    const { messages } = await client.consume(topic, { count: 1 });
    expect(messages[0].value).not.toBeNull();
    expect(messages[0].value!.length).toBe(0);
  });

  test("CreateTime: the producer's timestamp is kept", {}, async ({ client, newTopic }) => {
    const topic = await newTopic();
    const ts = Date.now() - DAY;
    await client.produce(topic, [{ value: "old", timestamp: ts, partition: 0 }]);
    const { messages } = await client.consume(topic, { count: 1 });
    expect(messages[0].timestamp).toBe(ts);
  });

  test("LogAppendTime: the broker's append time replaces the producer's timestamp", {}, async ({
    client,
    newTopic,
  }) => {
    const topic = await newTopic({ configs: { "message.timestamp.type": "LogAppendTime" } });
    const before = Date.now();
    await client.produce(topic, [{ value: "stamped", timestamp: before - DAY, partition: 0 }]);
    const after = Date.now();
    const { messages } = await client.consume(topic, { count: 1 });
    expect(messages[0].timestamp).toBeGreaterThanOrEqual(before - 1000);
    expect(messages[0].timestamp).toBeLessThanOrEqual(after + 1000);
  });

  for (const codec of ["gzip", "snappy", "lz4", "zstd"] as const) {
    test(`${codec}-compressed batches are stored with the codec and read back intact`, {}, async ({
      client,
      raw,
      newTopic,
    }) => {
      const topic = await newTopic();
      const values = Array.from({ length: 50 }, (_, i) => `${codec}-${i}-${"x".repeat(100)}`);
      await client.produce(
        topic,
        values.map((value) => ({ value, partition: 0 })),
        { compression: codec },
      );
      const { messages } = await client.consume(topic, { count: values.length });
      expect(messages.map((m) => m.value?.toString())).toEqual(values);
      const fetched = await raw.fetch(topic, 0, 0n);
      expect(fetched.batches.length).toBeGreaterThan(0);
      for (const b of fetched.batches) expect(compressionCodec(b.attributes)).toBe(CODEC_ID[codec]);
    });
  }

  test("a large batch (2000 records, ~400 KB) is written and read completely", { timeout: 90_000 }, async ({
    client,
    newTopic,
  }) => {
    const topic = await newTopic();
    const n = 2000;
    const res = await client.produce(
      topic,
      Array.from({ length: n }, (_, i) => ({ value: `${i}:${"y".repeat(200)}`, partition: 0 })),
    );
    expect(res[0].baseOffset).toBe(0n);
    const { messages } = await client.consume(topic, { count: n, timeoutMs: 30_000 });
    expect(messages.length).toBe(n);
    expect(messages[n - 1].offset).toBe(BigInt(n - 1));
    expect(messages[n - 1].value?.toString().startsWith(`${n - 1}:`)).toBe(true);
  });

  test("a record larger than max.message.bytes fails with MESSAGE_TOO_LARGE", {}, async ({
    client,
    newTopic,
  }) => {
    const topic = await newTopic({ configs: { "max.message.bytes": "1024" } });
    await expectKafkaError(
      () => client.produce(topic, [{ value: "z".repeat(4096), partition: 0 }]),
      "MESSAGE_TOO_LARGE",
    );
    const ok = await client.produce(topic, [{ value: "small", partition: 0 }]);
    expect(ok[0].baseOffset).toBe(0n);
  });

  for (const acks of [0, 1, -1] as const) {
    test(`acks=${acks === -1 ? "all" : acks}: produced records become readable`, {}, async ({
      client,
      newTopic,
    }) => {
      const topic = await newTopic();
      const values = ["a", "b", "c", "d"];
      await client.produce(
        topic,
        values.map((value) => ({ value, partition: 0 })),
        { acks },
      );
      const { messages } = await client.consume(topic, { count: 4 });
      expect(messages.map((m) => m.value?.toString())).toEqual(values);
    });
  }

  test("acks=all with the ISR below min.insync.replicas fails with NOT_ENOUGH_REPLICAS; acks=1 still succeeds", {
    requires: ["multiBroker", "nodeControl"],
    timeout: 120_000,
  }, async ({ client, raw, newTopic, run }) => {
    const topic = await newTopic({ replicationFactor: 2, configs: { "min.insync.replicas": "2" } });
    const p = (await raw.metadata([topic])).topics[0].partitions[0];
    const follower = p.replicaNodes.find((r) => r !== p.leaderId)!;
    await killNode(run.controlUrl!, follower);
    try {
      // the controller fences the dead broker and shrinks the ISR to the leader alone (which must
      // still lead: a leaderless moment, e.g. while a new controller takes over, is not what is tested)
      await waitFor(
        `ISR of ${topic} without node ${follower}, with a leader`,
        async () => {
          const q = (await raw.metadata([topic])).topics[0].partitions[0];
          return q.isrNodes.includes(follower) || q.leaderId < 0 ? undefined : q.isrNodes;
        },
        60_000,
        250,
      );
      await expectKafkaError(
        // a producer created after the kill (retries 5 is a separate producer), so no client-side
        // connection state to the dead broker interferes
        () =>
          client.produce(topic, [{ value: "durable", partition: 0 }], {
            acks: -1,
            retries: 5,
            timeoutMs: 8000,
          }),
        "NOT_ENOUGH_REPLICAS",
      );
      const ok = await client.produce(topic, [{ value: "leader-only", partition: 0 }], {
        acks: 1,
        retries: 5,
      });
      expect(ok[0].partition).toBe(0);
    } finally {
      await restartNode(run.controlUrl!, follower);
    }
  });
});

rawSuite("Produce and fetch", (test) => {
  const batch = (values: string[], ts = Date.now()) =>
    encodeRecordBatch({ records: values.map((value) => ({ key: null, value, timestamp: BigInt(ts) })) });

  test("Produce answers the base offset of each batch; Fetch returns the records at those offsets", {}, async ({
    raw,
    newTopic,
  }) => {
    const topic = await newTopic();
    const a = await raw.produce(topic, 0, batch(["a0", "a1", "a2"]));
    const b = await raw.produce(topic, 0, batch(["b0"]));
    expect([codeName(a.errorCode), a.baseOffset]).toEqual([codeName(0), 0n]);
    expect([codeName(b.errorCode), b.baseOffset]).toEqual([codeName(0), 3n]);
    const f = await raw.fetch(topic, 0, 0n);
    expect(f.highWatermark).toBe(4n);
    expect(f.records.map((r) => [r.offset, r.value?.toString()])).toEqual([
      [0n, "a0"],
      [1n, "a1"],
      [2n, "a2"],
      [3n, "b0"],
    ]);
  });

  test("LogAppendTime topics answer logAppendTimeMs and stamp the batch with timestamp type 1", {}, async ({
    raw,
    newTopic,
  }) => {
    const topic = await newTopic({ configs: { "message.timestamp.type": "LogAppendTime" } });
    const before = BigInt(Date.now() - 1000);
    const res = await raw.produce(topic, 0, batch(["t"], Date.now() - DAY));
    expect(codeName(res.errorCode)).toBe(codeName(0));
    expect(res.logAppendTimeMs).toBeGreaterThanOrEqual(before);
    const f = await raw.fetch(topic, 0, 0n);
    expect(isLogAppendTime(f.batches[0].attributes)).toBe(true);
    expect(f.records[0].timestamp).toBe(res.logAppendTimeMs);
  });

  test("acks=all on a topic whose min.insync.replicas exceeds its replication factor succeeds (the effective minimum is capped at the replica count, as in Kafka 4.x)", {}, async ({
    raw,
    newTopic,
  }) => {
    const topic = await newTopic({ replicationFactor: 1, configs: { "min.insync.replicas": "2" } });
    const res = await raw.produce(topic, 0, batch(["capped"]), { acks: -1 });
    expect(codeName(res.errorCode)).toBe(codeName(0));
    expect(res.baseOffset).toBe(0n);
  });

  test("CreateTime topics answer logAppendTimeMs -1", {}, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    const res = await raw.produce(topic, 0, batch(["t"]));
    expect(codeName(res.errorCode)).toBe(codeName(0));
    expect(res.logAppendTimeMs).toBe(-1n);
  });

  test("Produce to a partition that does not exist fails with UNKNOWN_TOPIC_OR_PARTITION", {}, async ({
    raw,
    newTopic,
  }) => {
    const topic = await newTopic({ partitions: 1 });
    const conn = await raw.leader(topic, 0);
    const v = await raw.version(0, 12, 3);
    const res = await conn.request(0, v, {
      acks: -1,
      timeoutMs: 5000,
      transactionalId: null,
      topicData: [{ name: topic, partitionData: [{ index: 7, records: batch(["x"]) }] }],
    });
    expect(codeName(res.responses[0].partitionResponses[0].errorCode)).toBe(
      codeName(E.UNKNOWN_TOPIC_OR_PARTITION),
    );
  });

  test("Produce with acks=2 fails with INVALID_REQUIRED_ACKS", {}, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    const res = await raw.produce(topic, 0, batch(["x"]), { acks: 2 });
    expect(codeName(res.errorCode)).toBe(codeName(E.INVALID_REQUIRED_ACKS));
  });

  test("Fetch past the high watermark fails with OFFSET_OUT_OF_RANGE", {}, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    await raw.produce(topic, 0, batch(["only"]));
    const f = await raw.fetch(topic, 0, 100n);
    expect(codeName(f.errorCode)).toBe(codeName(E.OFFSET_OUT_OF_RANGE));
  });

  test("Fetch at the high watermark returns no records and no error", {}, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    await raw.produce(topic, 0, batch(["one", "two"]));
    const f = await raw.fetch(topic, 0, 2n);
    expect(codeName(f.errorCode)).toBe(codeName(0));
    expect(f.records).toEqual([]);
    expect(f.highWatermark).toBe(2n);
  });
});
