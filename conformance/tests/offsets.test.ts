// Offsets: ListOffsets earliest/latest/by timestamp, out-of-range positions under each reset policy,
// DeleteRecords moving the log start offset.
import { expect } from "vitest";
import { ERROR_CODES as E } from "../../protocol/error-codes.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import { encodeRecordBatch } from "../../protocol/records/index.ts";
import { clientMatrix, rawSuite } from "../context.ts";
import { codeName } from "../raw/kafka.ts";

const T0 = Date.now() - 3600_000;

clientMatrix("Offsets", (test) => {
  test("ListOffsets earliest is 0 and latest is the next offset", {}, async ({ client, newTopic }) => {
    const topic = await newTopic({ partitions: 2 });
    await client.produce(
      topic,
      Array.from({ length: 7 }, (_, i) => ({ value: `${i}`, partition: 0 })),
    );
    expect(await client.listOffsets(topic, "earliest")).toEqual(
      new Map([
        [0, 0n],
        [1, 0n],
      ]),
    );
    expect(await client.listOffsets(topic, "latest")).toEqual(
      new Map([
        [0, 7n],
        [1, 0n],
      ]),
    );
  });

  test("ListOffsets by timestamp finds the first record at or after it", {}, async ({ client, newTopic }) => {
    const topic = await newTopic();
    await client.produce(
      topic,
      [0, 1, 2, 3, 4].map((i) => ({ value: `t${i}`, partition: 0, timestamp: T0 + i * 1000 })),
    );
    expect((await client.listOffsets(topic, { timestamp: T0 + 2000 })).get(0)).toBe(2n);
    expect((await client.listOffsets(topic, { timestamp: T0 + 2500 })).get(0)).toBe(3n);
    expect((await client.listOffsets(topic, { timestamp: T0 - 10_000 })).get(0)).toBe(0n);
  });

  test("an out-of-range position with reset earliest restarts at the log start", {}, async ({
    client,
    newTopic,
  }) => {
    const topic = await newTopic();
    await client.produce(
      topic,
      [0, 1, 2].map((i) => ({ value: `r${i}`, partition: 0 })),
    );
    const { messages } = await client.consume(topic, {
      count: 3,
      offsets: [{ partition: 0, offset: 1000n }],
      reset: "earliest",
    });
    expect(messages.map((m) => m.offset)).toEqual([0n, 1n, 2n]);
  });

  test("an out-of-range position with reset latest skips to the end and reads only new records", {}, async ({
    client,
    newTopic,
  }) => {
    const topic = await newTopic();
    await client.produce(
      topic,
      [0, 1, 2].map((i) => ({ value: `old${i}`, partition: 0 })),
    );
    const { messages } = await client.consume(topic, {
      count: 1,
      offsets: [{ partition: 0, offset: 1000n }],
      reset: "latest",
      timeoutMs: 20_000,
      onReady: async () => {
        await client.produce(topic, [{ value: "new", partition: 0 }]);
      },
    });
    expect(messages.map((m) => [m.offset, m.value?.toString()])).toEqual([[3n, "new"]]);
  });

  test("an out-of-range position with reset none is an error, and nothing is consumed", {
    clientOps: ["resetNone"],
  }, async ({ client, newTopic }) => {
    const topic = await newTopic();
    await client.produce(topic, [{ value: "x", partition: 0 }]);
    const res = await client.consume(topic, {
      count: 1,
      offsets: [{ partition: 0, offset: 1000n }],
      reset: "none",
      timeoutMs: 8000,
    });
    expect(res.messages).toEqual([]);
    expect(res.error).toBe("ERR__AUTO_OFFSET_RESET");
  });

  test("DeleteRecords moves the log start offset; consumers from earliest start there", {
    requires: ["deleteRecords"],
    clientOps: ["deleteRecords"],
  }, async ({ client, raw, newTopic }) => {
    const topic = await newTopic();
    await client.produce(
      topic,
      Array.from({ length: 6 }, (_, i) => ({ value: `d${i}`, partition: 0 })),
    );
    await client.deleteRecords(topic, 0, 4n);
    expect((await client.listOffsets(topic, "earliest")).get(0)).toBe(4n);
    expect((await raw.listOffset(topic, 0, -2n)).offset).toBe(4n);
    const { messages } = await client.consume(topic, { count: 2 });
    expect(messages.map((m) => m.offset)).toEqual([4n, 5n]);
  });
});

rawSuite("Offsets", (test) => {
  const batch = (n: number, ts = (i: number) => T0 + i * 1000) =>
    encodeRecordBatch({
      records: Array.from({ length: n }, (_, i) => ({ key: null, value: `v${i}`, timestamp: BigInt(ts(i)) })),
    });

  test("ListOffsets -2/-1/timestamp answer log start, end and the timestamp's offset", {}, async ({
    raw,
    newTopic,
  }) => {
    const topic = await newTopic();
    await raw.produce(topic, 0, batch(5));
    expect((await raw.listOffset(topic, 0, -2n)).offset).toBe(0n);
    expect((await raw.listOffset(topic, 0, -1n)).offset).toBe(5n);
    const byTime = await raw.listOffset(topic, 0, BigInt(T0 + 3000));
    expect([byTime.offset, byTime.timestamp]).toEqual([3n, BigInt(T0 + 3000)]);
  });

  test("ListOffsets for a timestamp after every record answers offset -1", {}, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    await raw.produce(topic, 0, batch(3));
    const res = await raw.listOffset(topic, 0, BigInt(T0 + 3_600_000 * 24));
    expect(codeName(res.errorCode)).toBe(codeName(0));
    expect(res.offset).toBe(-1n);
  });

  test("ListOffsets of an unknown partition fails with UNKNOWN_TOPIC_OR_PARTITION", {}, async ({
    raw,
    newTopic,
  }) => {
    const topic = await newTopic();
    const conn = await raw.leader(topic, 0);
    const v = await raw.version(ApiKey.ListOffsets, 11, 1);
    const res = await conn.request(ApiKey.ListOffsets, v, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [
        {
          name: topic,
          partitions: [{ partitionIndex: 9, currentLeaderEpoch: -1, timestamp: -1n, maxNumOffsets: 1 }],
        },
      ],
    });
    expect(codeName(res.topics[0].partitions[0].errorCode)).toBe(codeName(E.UNKNOWN_TOPIC_OR_PARTITION));
  });

  test("DeleteRecords answers the new low watermark; Fetch below it fails with OFFSET_OUT_OF_RANGE", {
    requires: ["deleteRecords"],
  }, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    await raw.produce(topic, 0, batch(8));
    const conn = await raw.leader(topic, 0);
    const v = await raw.version(ApiKey.DeleteRecords);
    const res = await conn.request(ApiKey.DeleteRecords, v, {
      topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset: 5n }] }],
      timeoutMs: 10_000,
    });
    const p = res.topics[0].partitions[0];
    expect([codeName(p.errorCode), p.lowWatermark]).toEqual([codeName(0), 5n]);
    const f = await raw.fetch(topic, 0, 2n);
    expect(codeName(f.errorCode)).toBe(codeName(E.OFFSET_OUT_OF_RANGE));
    const g = await raw.fetch(topic, 0, 5n);
    expect(g.logStartOffset).toBe(5n);
    expect(g.records.filter((r) => r.offset >= 5n).map((r) => r.offset)).toEqual([5n, 6n, 7n]);
  });

  test("DeleteRecords beyond the high watermark fails with OFFSET_OUT_OF_RANGE", {
    requires: ["deleteRecords"],
  }, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    await raw.produce(topic, 0, batch(2));
    const conn = await raw.leader(topic, 0);
    const v = await raw.version(ApiKey.DeleteRecords);
    const res = await conn.request(ApiKey.DeleteRecords, v, {
      topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset: 50n }] }],
      timeoutMs: 10_000,
    });
    expect(codeName(res.topics[0].partitions[0].errorCode)).toBe(codeName(E.OFFSET_OUT_OF_RANGE));
  });
});
