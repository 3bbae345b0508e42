// Idempotent producer: no duplicates when a batch is retried (same producer id, epoch and sequence),
// OUT_OF_ORDER_SEQUENCE_NUMBER on a sequence gap; and transactions (read_committed hides aborted
// records) as a capability.
import { expect } from "vitest";
import { ERROR_CODES as E } from "../../protocol/error-codes.ts";
import { encodeRecordBatch } from "../../protocol/records/index.ts";
import { clientMatrix, rawSuite } from "../context.ts";
import { codeName } from "../raw/kafka.ts";

rawSuite("Idempotent producer", (test) => {
  const idemBatch = (pid: bigint, epoch: number, seq: number, values: string[]) =>
    encodeRecordBatch({
      producerId: pid,
      producerEpoch: epoch,
      baseSequence: seq,
      records: values.map((value) => ({ key: null, value, timestamp: BigInt(Date.now()) })),
    });

  test("InitProducerId assigns a producer id and epoch", { requires: ["idempotence"] }, async ({ raw }) => {
    const a = await raw.initProducerId();
    const b = await raw.initProducerId();
    expect(codeName(a.errorCode)).toBe(codeName(0));
    expect(a.producerId).toBeGreaterThanOrEqual(0n);
    expect(a.producerEpoch).toBeGreaterThanOrEqual(0);
    expect(b.producerId).not.toBe(a.producerId);
  });

  test("a retried batch (same producer id, epoch, sequence) answers the original offset and is stored once", {
    requires: ["idempotence"],
  }, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    const { producerId, producerEpoch } = await raw.initProducerId();
    const first = await raw.produce(topic, 0, idemBatch(producerId, producerEpoch, 0, ["a", "b", "c"]));
    const again = await raw.produce(topic, 0, idemBatch(producerId, producerEpoch, 0, ["a", "b", "c"]));
    const next = await raw.produce(topic, 0, idemBatch(producerId, producerEpoch, 3, ["d"]));
    expect([codeName(first.errorCode), first.baseOffset]).toEqual([codeName(0), 0n]);
    expect([codeName(again.errorCode), again.baseOffset]).toEqual([codeName(0), 0n]);
    expect([codeName(next.errorCode), next.baseOffset]).toEqual([codeName(0), 3n]);
    const records = await raw.fetchAll(topic, 0);
    expect(records.map((r) => r.value?.toString())).toEqual(["a", "b", "c", "d"]);
    expect(records.map((r) => r.sequence)).toEqual([0, 1, 2, 3]);
  });

  test("a sequence gap fails with OUT_OF_ORDER_SEQUENCE_NUMBER and writes nothing", {
    requires: ["idempotence"],
  }, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    const { producerId, producerEpoch } = await raw.initProducerId();
    const first = await raw.produce(topic, 0, idemBatch(producerId, producerEpoch, 0, ["a", "b"]));
    expect(codeName(first.errorCode)).toBe(codeName(0));
    const gap = await raw.produce(topic, 0, idemBatch(producerId, producerEpoch, 5, ["x"]));
    expect(codeName(gap.errorCode)).toBe(codeName(E.OUT_OF_ORDER_SEQUENCE_NUMBER));
    expect((await raw.fetchAll(topic, 0)).map((r) => r.value?.toString())).toEqual(["a", "b"]);
  });

  test("an older producer epoch is fenced with INVALID_PRODUCER_EPOCH", {
    requires: ["idempotence"],
  }, async ({ raw, newTopic }) => {
    const topic = await newTopic();
    const { producerId, producerEpoch } = await raw.initProducerId();
    expect(
      codeName((await raw.produce(topic, 0, idemBatch(producerId, producerEpoch + 1, 0, ["new"]))).errorCode),
    ).toBe(codeName(0));
    const stale = await raw.produce(topic, 0, idemBatch(producerId, producerEpoch, 0, ["old"]));
    expect([E.INVALID_PRODUCER_EPOCH, E.PRODUCER_FENCED].map(codeName)).toContain(codeName(stale.errorCode));
  });
});

clientMatrix("Idempotent producer", (test) => {
  test("an idempotent producer writes every record exactly once, in order", {
    requires: ["idempotence"],
  }, async ({ client, raw, newTopic }) => {
    const topic = await newTopic();
    const values = Array.from({ length: 200 }, (_, i) => `i${i}`);
    for (let i = 0; i < values.length; i += 50) {
      await client.produce(
        topic,
        values.slice(i, i + 50).map((value) => ({ value, partition: 0 })),
        { idempotent: true },
      );
    }
    const records = await raw.fetchAll(topic, 0);
    expect(records.map((r) => r.value?.toString())).toEqual(values);
    expect(records[0].producerId).toBeGreaterThanOrEqual(0n);
    expect(records.map((r) => r.sequence)).toEqual(values.map((_, i) => i));
  });
});

clientMatrix("Transactions", (test) => {
  test("read_committed sees committed transactions and hides aborted ones", {
    requires: ["transactions"],
    timeout: 90_000,
  }, async ({ client, newTopic }) => {
    const topic = await newTopic();
    await client.produceTransaction(
      topic,
      [
        { value: "c1", partition: 0 },
        { value: "c2", partition: 0 },
      ],
      "commit",
    );
    await client.produceTransaction(topic, [{ value: "a1", partition: 0 }], "abort");
    await client.produceTransaction(topic, [{ value: "c3", partition: 0 }], "commit");
    const { messages } = await client.consume(topic, { count: 3, isolation: "read_committed" });
    expect(messages.map((m) => m.value?.toString())).toEqual(["c1", "c2", "c3"]);
  });

  test("read_uncommitted also sees aborted records; control markers take offsets", {
    requires: ["transactions"],
    timeout: 90_000,
  }, async ({ client, raw, newTopic }) => {
    const topic = await newTopic();
    await client.produceTransaction(topic, [{ value: "a1", partition: 0 }], "abort");
    await client.produceTransaction(topic, [{ value: "c1", partition: 0 }], "commit");
    const { messages } = await client.consume(topic, { count: 2, isolation: "read_uncommitted" });
    expect(messages.map((m) => m.value?.toString())).toEqual(["a1", "c1"]);
    // offsets: a1=0, abort marker=1, c1=2, commit marker=3
    expect(messages.map((m) => m.offset)).toEqual([0n, 2n]);
    const all = await raw.fetchAll(topic, 0);
    expect(all.filter((r) => r.isControl).map((r) => r.control?.type)).toEqual(["ABORT", "COMMIT"]);
  });
});
