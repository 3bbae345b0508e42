// Crash safety: SIGKILL the broker under a steady acks=1 produce load with --flush every-batch, restart
// it on the same data dir, and check that every acknowledged record is there at its acknowledged
// offset, that offsets are contiguous and that nothing is duplicated.
import kafkajs from "kafkajs";
import { afterAll, describe, expect, test } from "vitest";
import { BrokerProcess } from "../src/testing/broker-process.ts";

const { Kafka, logLevel } = kafkajs;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const started: BrokerProcess[] = [];

afterAll(async () => {
  for (const b of started) await b.kill();
  started[0]?.cleanup();
});

describe("crash recovery", () => {
  test("every acknowledged record survives SIGKILL (flush every-batch)", async () => {
    const topic = "crash-topic";
    const partitions = 2;
    const first = await BrokerProcess.start({ extraArgs: ["--flush", "every-batch"] });
    started.push(first);
    const kafka = new Kafka({
      clientId: "crash-producer",
      brokers: [first.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    await admin.disconnect();

    const acked: { partition: number; offset: number; value: string }[] = [];
    let running = true;
    let seq = 0;
    const loops = Array.from({ length: 4 }, async (_, worker) => {
      const producer = kafka.producer({ retry: { retries: 0 }, allowAutoTopicCreation: false });
      await producer.connect();
      const partition = worker % partitions;
      while (running) {
        const values = Array.from({ length: 5 }, () => `w${worker}-${seq++}`);
        try {
          const [res] = await producer.send({
            topic,
            acks: 1,
            messages: values.map((value) => ({ partition, value })),
          });
          const base = Number(res!.baseOffset);
          for (const [i, value] of values.entries()) acked.push({ partition, offset: base + i, value });
        } catch {
          break; // the broker is gone
        }
      }
      await producer.disconnect().catch(() => {});
    });
    const t0 = Date.now();
    await sleep(2500);
    await first.kill();
    const elapsed = (Date.now() - t0) / 1000;
    running = false;
    await Promise.all(loops);
    expect(acked.length).toBeGreaterThan(100);
    console.log(`acknowledged ${acked.length} records in ${elapsed.toFixed(1)} s before SIGKILL`);

    const second = await BrokerProcess.start({ dataDir: first.dataDir, port: first.port });
    started.push(second);
    const reader = new Kafka({
      clientId: "crash-reader",
      brokers: [second.bootstrap],
      logLevel: logLevel.NOTHING,
    });
    const readerAdmin = reader.admin();
    await readerAdmin.connect();
    const ends = await readerAdmin.fetchTopicOffsets(topic);
    await readerAdmin.disconnect();
    const high = new Map(ends.map((e) => [e.partition, Number(e.high)]));
    const total = [...high.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(acked.length);

    const read: { partition: number; offset: number; value: string }[] = [];
    const consumer = reader.consumer({ groupId: "crash-check", maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        read.push({ partition, offset: Number(message.offset), value: message.value!.toString() });
      },
    });
    const deadline = Date.now() + 60_000;
    while (read.length < total && Date.now() < deadline) await sleep(50);
    await consumer.disconnect();

    // Offsets contiguous from 0 to the high watermark, each read once.
    for (let p = 0; p < partitions; p++) {
      const offsets = read.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets).toEqual(Array.from({ length: high.get(p)! }, (_, i) => i));
    }
    // Nothing duplicated.
    expect(new Set(read.map((r) => r.value)).size).toBe(read.length);
    // Every acknowledged record is there, at its acknowledged offset.
    const byPosition = new Map(read.map((r) => [`${r.partition}:${r.offset}`, r.value]));
    const missing = acked.filter((a) => byPosition.get(`${a.partition}:${a.offset}`) !== a.value);
    expect(missing).toEqual([]);
    const status = await second.stop();
    expect(status.code).toBe(0);
  });
});
