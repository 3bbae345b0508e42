// node-rdkafka (librdkafka 2.12) against the reference broker: an idempotent producer with delivery
// reports, then a KafkaConsumer in a group reading everything back.
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BrokerProcess } from "../src/testing/broker-process.ts";

// node-rdkafka is CommonJS with a native addon.
const require = createRequire(import.meta.url);
const Kafka = require("node-rdkafka") as typeof import("node-rdkafka");

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await BrokerProcess.start();
});

afterAll(async () => {
  if (broker) {
    const status = await broker.stop();
    broker.cleanup();
    expect(status.code).toBe(0);
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("node-rdkafka", () => {
  test("idempotent producer gets a delivery report per message; a group consumer reads them all", async () => {
    const topic = "rd-topic";
    const total = 3000;
    const producer = new Kafka.Producer({
      "metadata.broker.list": broker.bootstrap,
      "enable.idempotence": true,
      dr_cb: true,
      "linger.ms": 5,
    });
    const reports: { partition: number; offset: number; value: string }[] = [];
    const failures: string[] = [];
    producer.on("delivery-report", (err, r) => {
      if (err) failures.push(err.message);
      else reports.push({ partition: r.partition, offset: r.offset, value: String(r.opaque) });
    });
    producer.setPollInterval(10);
    await new Promise<void>((resolve, reject) => {
      producer.once("ready", () => resolve());
      producer.once("connection.failure", (e) => reject(e));
      producer.connect();
    });
    // Auto-creation makes the topic (1 partition by default); create it with 4 instead.
    const admin = Kafka.AdminClient.create({ "metadata.broker.list": broker.bootstrap });
    await new Promise<void>((resolve, reject) =>
      admin.createTopic({ topic, num_partitions: 4, replication_factor: 1 }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    admin.disconnect();
    for (let i = 0; i < total; i++) {
      producer.produce(topic, null, Buffer.from(`v${i}`), `k${i % 16}`, Date.now(), `v${i}`);
      if (i % 500 === 499) await sleep(5);
    }
    await new Promise<void>((resolve, reject) =>
      producer.flush(30_000, (err) => (err ? reject(err) : resolve())),
    );
    const end = Date.now() + 10_000;
    while (reports.length + failures.length < total && Date.now() < end) await sleep(20);
    await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
    expect(failures).toEqual([]);
    expect(reports).toHaveLength(total);
    // Offsets per partition are exactly 0..n-1: nothing lost, nothing duplicated.
    const byPartition = new Map<number, number[]>();
    for (const r of reports)
      byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r.offset]);
    for (const offsets of byPartition.values()) {
      expect([...offsets].sort((a, b) => a - b)).toEqual(offsets.map((_, i) => i));
    }

    const consumer = new Kafka.KafkaConsumer(
      {
        "metadata.broker.list": broker.bootstrap,
        "group.id": "rd-group",
        "enable.auto.commit": true,
        "auto.commit.interval.ms": 200,
      },
      { "auto.offset.reset": "earliest" },
    );
    const consumed = new Map<string, { partition: number; offset: number }>();
    await new Promise<void>((resolve, reject) => {
      consumer.once("ready", () => resolve());
      consumer.once("connection.failure", (e) => reject(e));
      consumer.connect();
    });
    consumer.subscribe([topic]);
    const deadline = Date.now() + 60_000;
    while (consumed.size < total && Date.now() < deadline) {
      const batch = await new Promise<import("node-rdkafka").Message[]>((resolve, reject) =>
        consumer.consume(500, (err, msgs) => (err ? reject(err) : resolve(msgs))),
      );
      for (const m of batch) consumed.set(String(m.value), { partition: m.partition, offset: m.offset });
    }
    consumer.commit();
    await sleep(300);
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
    expect(consumed.size).toBe(total);
    for (const r of reports)
      expect(consumed.get(r.value)).toEqual({ partition: r.partition, offset: r.offset });
  });
});
