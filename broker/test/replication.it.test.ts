// Partition replication in the reference broker's cluster mode, through the harness: a 3-node cluster
// with RF 3 and min.insync.replicas 2. Followers fetch from leaders (the high watermark and the ISR follow
// them), acks=all waits for the ISR, a killed leader fails over to an ISR member without losing an
// acknowledged record, a restarted broker catches up and rejoins the ISR, a leader's SIGTERM moves its
// leaderships away first (controlled shutdown), and a follower's divergent tail is truncated.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { describePartitions } from "../../harness/cluster/leaders.ts";
import { ReferenceCluster } from "../../harness/targets/reference.ts";
import { waitFor } from "./wait-for.ts";

const { Kafka, logLevel } = kafkajs;

let cluster: ReferenceCluster;

beforeAll(async () => {
  cluster = new ReferenceCluster({
    nodes: 3,
    config: { "default.replication.factor": 3, "replica.lag.time.max.ms": 3000 },
  });
  await cluster.start();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

function kafka() {
  return new Kafka({
    clientId: "replication-it",
    brokers: cluster.bootstrapServers().split(","),
    logLevel: logLevel.NOTHING,
    retry: { retries: 15, initialRetryTime: 100, maxRetryTime: 1000 },
  });
}

function logBytes(dir: string): number {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(".log"))
      .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  } catch {
    return -1;
  }
}

async function createTopic(topic: string, partitions = 1): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: partitions,
          replicationFactor: 3,
          configEntries: [{ name: "min.insync.replicas", value: "2" }],
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

async function partitionState(topic: string, partition = 0) {
  const parts = await describePartitions(cluster.bootstrapServers(), [topic]);
  return parts.find((p) => p.partition === partition)!;
}

async function consumeAll(topic: string, count: number): Promise<string[]> {
  const consumer = kafka().consumer({ groupId: `g-${topic}-${Date.now()}`, maxWaitTimeInMs: 100 });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
    await waitFor(`${count} records of ${topic}`, async () => (values.length >= count ? true : undefined));
  } finally {
    await consumer.disconnect();
  }
  return values;
}

describe("replication", () => {
  test("followers replicate: every replica joins the ISR and acks=all records are on all three", async () => {
    const topic = "rep-basic";
    await createTopic(topic);
    const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < 20; i++) {
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: 10 }, (_, j) => ({ value: `v${i * 10 + j}` })),
      });
    }
    await producer.disconnect();
    const st = await waitFor("ISR of 3", async () => {
      const p = await partitionState(topic);
      return p.isr.length === 3 ? p : undefined;
    });
    expect([...st.replicas].sort()).toEqual([1, 2, 3]);
    // every node's local log holds the same bytes: the followers copied the leader's batches
    const sizes = await waitFor("equal replica logs", async () => {
      const all = cluster.nodes().map((n) => logBytes(join(n.dataDir, `${topic}-0`)));
      return all[0]! > 0 && all.every((b) => b === all[0]) ? all : undefined;
    });
    expect(sizes).toHaveLength(3);
    expect(await consumeAll(topic, 200)).toHaveLength(200);
  }, 90_000);

  test("a SIGKILLed leader fails over to an ISR member and no acknowledged record is lost", async () => {
    const topic = "rep-failover";
    await createTopic(topic);
    const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const acked: string[] = [];
    for (let i = 0; i < 50; i++) {
      await producer.send({ topic, acks: -1, messages: [{ value: `a${i}` }] });
      acked.push(`a${i}`);
    }
    await waitFor("ISR of 3", async () =>
      (await partitionState(topic)).isr.length === 3 ? true : undefined,
    );
    const leader = (await partitionState(topic)).leader;
    await cluster.kill(leader);
    for (let i = 0; i < 50; i++) {
      await producer.send({ topic, acks: -1, messages: [{ value: `b${i}` }] });
      acked.push(`b${i}`);
    }
    await producer.disconnect();
    const after = await partitionState(topic);
    expect(after.leader).not.toBe(leader);
    const values = await consumeAll(topic, acked.length);
    expect(values).toEqual(acked);
    // the killed broker comes back, catches up and rejoins the ISR
    await cluster.restart(leader);
    await waitFor("the restarted broker back in the ISR", async () =>
      (await partitionState(topic)).isr.includes(leader) ? true : undefined,
    );
  }, 120_000);

  test("SIGTERM of a leader moves its leaderships away before it exits (controlled shutdown)", async () => {
    const topic = "rep-sigterm";
    await createTopic(topic, 3);
    await waitFor("ISR of 3 everywhere", async () => {
      const parts = await describePartitions(cluster.bootstrapServers(), [topic]);
      return parts.every((p) => p.isr.length === 3) ? true : undefined;
    });
    const victim = (await partitionState(topic, 0)).leader;
    const r = await cluster.terminate(victim, 30_000);
    expect(r.exitCode).toBe(0);
    const parts = await describePartitions(cluster.bootstrapServers(), [topic]);
    expect(parts.every((p) => p.leader !== victim && p.leader > 0)).toBe(true);
    await cluster.restart(victim);
    await waitFor("the restarted broker back in every ISR", async () => {
      const ps = await describePartitions(cluster.bootstrapServers(), [topic]);
      return ps.every((p) => p.isr.includes(victim)) ? true : undefined;
    });
  }, 120_000);
});
