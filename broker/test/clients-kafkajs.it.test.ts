// kafkajs 2.2.4 against the reference broker: admin topic lifecycle, produce, and a 3-member consumer
// group that rebalances when one member leaves, with every value read back in per-partition order.
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BrokerProcess } from "../src/testing/broker-process.ts";

const { Kafka, logLevel } = kafkajs;

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

function client(id: string) {
  return new Kafka({
    clientId: id,
    brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 8 },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("kafkajs", () => {
  test("admin creates, describes and deletes topics with Kafka's errors", async () => {
    const admin = client("admin").admin();
    await admin.connect();
    try {
      expect(
        await admin.createTopics({ topics: [{ topic: "admin-a", numPartitions: 2 }], waitForLeaders: true }),
      ).toBe(true);
      // kafkajs reports TOPIC_ALREADY_EXISTS as `false` rather than an error.
      expect(await admin.createTopics({ topics: [{ topic: "admin-a", numPartitions: 2 }] })).toBe(false);
      const invalid = await admin.createTopics({ topics: [{ topic: "bad name!" }] }).then(
        () => undefined,
        (e: { errors?: { type: string }[] }) => e.errors?.map((x) => x.type),
      );
      expect(invalid).toEqual(["INVALID_TOPIC_EXCEPTION"]);
      const rf = await admin.createTopics({ topics: [{ topic: "admin-rf", replicationFactor: 3 }] }).then(
        () => undefined,
        (e: { errors?: { type: string }[] }) => e.errors?.map((x) => x.type),
      );
      expect(rf).toEqual(["INVALID_REPLICATION_FACTOR"]);

      const meta = await admin.fetchTopicMetadata({ topics: ["admin-a"] });
      expect(meta.topics[0]!.partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr])).toEqual([
        [0, 1, [1], [1]],
        [1, 1, [1], [1]],
      ]);
      await admin.createTopics({
        topics: [{ topic: "admin-b", configEntries: [{ name: "retention.ms", value: "60000" }] }],
      });
      const cfg = await admin.describeConfigs({
        resources: [{ type: 2, name: "admin-b" }],
        includeSynonyms: false,
      });
      const retention = cfg.resources[0]!.configEntries.find((c) => c.configName === "retention.ms");
      expect(retention?.configValue).toBe("60000");
      expect(retention?.isDefault).toBe(false);

      await admin.createPartitions({ topicPartitions: [{ topic: "admin-a", count: 4 }] });
      const grown = await admin.fetchTopicMetadata({ topics: ["admin-a"] });
      expect(grown.topics[0]!.partitions).toHaveLength(4);

      await admin.deleteTopics({ topics: ["admin-a", "admin-b"] });
      const left = await admin.listTopics();
      expect(left).not.toContain("admin-a");
      expect(left).not.toContain("admin-b");
    } finally {
      await admin.disconnect();
    }
  });

  test("a 3-member group rebalances when one leaves and reads every value in order", async () => {
    const topic = "group-orders";
    const partitions = 3;
    const perPartition = 60;
    const kafka = client("group-test");
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    await admin.disconnect();

    type Seen = { member: number; partition: number; n: number };
    const seen: Seen[] = [];
    const assignments = new Map<number, number[]>();
    const consumers = [0, 1, 2].map((member) => {
      const c = kafka.consumer({
        groupId: "orders-group",
        sessionTimeout: 10_000,
        heartbeatInterval: 500,
        maxWaitTimeInMs: 200,
      });
      c.on(c.events.GROUP_JOIN, (e) => {
        assignments.set(member, (e.payload.memberAssignment[topic] as number[] | undefined) ?? []);
      });
      return c;
    });
    for (const [member, c] of consumers.entries()) {
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachMessage: async ({ partition, message }) => {
          seen.push({ member, partition, n: Number(message.value!.toString().split("-")[1]) });
        },
      });
    }
    await until("three members with one partition each", () =>
      [0, 1, 2].every((m) => (assignments.get(m) ?? []).length === 1),
    );

    const producer = kafka.producer();
    await producer.connect();
    const produceRange = async (from: number, to: number) => {
      for (let n = from; n < to; n++) {
        await producer.send({
          topic,
          acks: -1,
          messages: Array.from({ length: partitions }, (_, p) => ({ partition: p, value: `p${p}-${n}` })),
        });
      }
    };
    await produceRange(0, perPartition / 2);
    await until(
      "first half consumed",
      () => new Set(seen.map((s) => `${s.partition}-${s.n}`)).size === (partitions * perPartition) / 2,
    );

    assignments.clear();
    await consumers[2]!.disconnect();
    await until("the two remaining members to own all partitions", () => {
      const owned = [...(assignments.get(0) ?? []), ...(assignments.get(1) ?? [])].sort();
      return owned.join(",") === "0,1,2";
    });

    await produceRange(perPartition / 2, perPartition);
    await until(
      "everything consumed",
      () => new Set(seen.map((s) => `${s.partition}-${s.n}`)).size === partitions * perPartition,
    );
    await producer.disconnect();
    await consumers[0]!.disconnect();
    await consumers[1]!.disconnect();

    // Every value of every partition arrived, and each member saw each partition in order.
    for (let p = 0; p < partitions; p++) {
      const values = new Set(seen.filter((s) => s.partition === p).map((s) => s.n));
      expect(values.size).toBe(perPartition);
      for (const member of [0, 1, 2]) {
        const ns = seen.filter((s) => s.partition === p && s.member === member).map((s) => s.n);
        for (let i = 1; i < ns.length; i++) expect(ns[i]).toBeGreaterThan(ns[i - 1]!);
      }
    }
  });
});
