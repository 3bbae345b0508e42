// Topic administration: create (with configs), TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, delete,
// create partitions, describe and alter configs.
import { expect } from "vitest";
import { ERROR_CODES as E } from "../../protocol/error-codes.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import { encodeRecordBatch } from "../../protocol/records/index.ts";
import { clientMatrix, expectKafkaError, rawSuite, run } from "../context.ts";
import { codeName, type RawKafka, waitFor } from "../raw/kafka.ts";

const TOPIC_RESOURCE = 2;

async function rawTopicConfigs(raw: RawKafka, topic: string): Promise<Record<string, string | null>> {
  const res = await raw.request(ApiKey.DescribeConfigs, {
    resources: [{ resourceType: TOPIC_RESOURCE, resourceName: topic, configurationKeys: null }],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  const r = res.results[0];
  if (r.errorCode !== 0) throw new Error(`DescribeConfigs ${topic}: ${codeName(r.errorCode)}`);
  return Object.fromEntries(r.configs.map((c) => [c.name, c.value]));
}

async function partitionCount(raw: RawKafka, topic: string): Promise<number> {
  const md = await raw.metadata([topic]);
  return md.topics[0].errorCode === 0 ? md.topics[0].partitions.length : -1;
}

clientMatrix("Topic admin", (test) => {
  test("createTopics with partitions, replication factor and configs", {
    requires: ["describeConfigs"],
  }, async ({ client, raw, topicName }) => {
    const topic = topicName();
    const rf = Math.min(3, run.nodes);
    await client.createTopics([
      {
        topic,
        partitions: 4,
        replicationFactor: rf,
        configs: { "retention.ms": "3600000", "cleanup.policy": "compact" },
      },
    ]);
    // every broker learns the new topic asynchronously: wait until the one we ask knows it
    expect(await raw.waitForTopic(topic)).toBe(4);
    const md = await raw.metadata([topic]);
    for (const p of md.topics[0].partitions) expect(p.replicaNodes.length).toBe(rf);
    const configs = await rawTopicConfigs(raw, topic);
    expect(configs["retention.ms"]).toBe("3600000");
    expect(configs["cleanup.policy"]).toBe("compact");
  });

  test("creating an existing topic fails with TOPIC_ALREADY_EXISTS", {}, async ({ client, newTopic }) => {
    const topic = await newTopic();
    await expectKafkaError(() => client.createTopics([{ topic, partitions: 1 }]), "TOPIC_ALREADY_EXISTS");
  });

  for (const [label, name] of [
    ["with a space and '!'", "bad name!"],
    ["'..'", ".."],
    ["of 250 characters", "x".repeat(250)],
  ] as const) {
    test(`a topic name ${label} fails with INVALID_TOPIC_EXCEPTION`, {}, async ({ client, raw }) => {
      await expectKafkaError(
        () => client.createTopics([{ topic: name, partitions: 1 }]),
        "INVALID_TOPIC_EXCEPTION",
      );
      expect(codeName((await raw.metadata([name])).topics[0].errorCode)).not.toBe(codeName(0));
    });
  }

  test("deleteTopics removes the topic from Metadata", {}, async ({ client, raw, newTopic }) => {
    const topic = await newTopic({ partitions: 2 });
    await client.deleteTopics([topic]);
    const code = await waitFor(`${topic} gone`, async () => {
      const c = (await raw.metadata([topic])).topics[0].errorCode;
      return c === E.UNKNOWN_TOPIC_OR_PARTITION ? c : undefined;
    });
    expect(codeName(code)).toBe(codeName(E.UNKNOWN_TOPIC_OR_PARTITION));
  });

  test("deleting an unknown topic fails with UNKNOWN_TOPIC_OR_PARTITION", {}, async ({
    client,
    topicName,
  }) => {
    await expectKafkaError(() => client.deleteTopics([topicName("never")]), "UNKNOWN_TOPIC_OR_PARTITION");
  });

  test("createPartitions grows a topic and the new partitions accept records", {
    requires: ["createPartitions"],
  }, async ({ client, raw, newTopic }) => {
    const topic = await newTopic({ partitions: 1 });
    await client.createPartitions(topic, 3);
    const n = await waitFor("3 partitions", async () =>
      (await partitionCount(raw, topic)) === 3 ? 3 : undefined,
    );
    expect(n).toBe(3);
    await raw.waitForTopic(topic);
    const res = await client.produce(topic, [{ value: "new", partition: 2 }]);
    expect(res).toEqual([{ partition: 2, baseOffset: 0n }]);
  });

  test("createPartitions to fewer partitions fails with INVALID_PARTITIONS", {
    requires: ["createPartitions"],
  }, async ({ client, newTopic }) => {
    const topic = await newTopic({ partitions: 3 });
    await expectKafkaError(() => client.createPartitions(topic, 2), "INVALID_PARTITIONS");
  });

  test("describeConfigs returns the topic's configs", {
    requires: ["describeConfigs"],
    clientOps: ["describeConfigs"],
  }, async ({ client, newTopic }) => {
    const topic = await newTopic({ configs: { "retention.ms": "7200000", "max.message.bytes": "65536" } });
    const configs = await client.describeConfigs(topic);
    expect(configs["retention.ms"]).toBe("7200000");
    expect(configs["max.message.bytes"]).toBe("65536");
    expect(configs["cleanup.policy"]).toBe("delete");
  });

  test("alterConfigs changes a topic config", {
    requires: ["alterConfigs", "describeConfigs"],
    clientOps: ["alterConfigs"],
  }, async ({ client, raw, newTopic }) => {
    const topic = await newTopic();
    await client.alterConfigs(topic, { "retention.ms": "1234567" });
    const value = await waitFor("altered retention.ms", async () => {
      const v = (await rawTopicConfigs(raw, topic))["retention.ms"];
      return v === "1234567" ? v : undefined;
    });
    expect(value).toBe("1234567");
  });
});

rawSuite("Topic admin", (test) => {
  test("CreateTopics with 0 partitions fails with INVALID_PARTITIONS", {}, async ({ raw, topicName }) => {
    const res = await raw.createTopic(topicName(), { partitions: 0 });
    expect(codeName(res.errorCode)).toBe(codeName(E.INVALID_PARTITIONS));
  });

  test("CreateTopics with a replication factor above the broker count fails with INVALID_REPLICATION_FACTOR", {}, async ({
    raw,
    topicName,
  }) => {
    const res = await raw.createTopic(topicName(), { partitions: 1, replicationFactor: run.nodes + 1 });
    expect(codeName(res.errorCode)).toBe(codeName(E.INVALID_REPLICATION_FACTOR));
  });

  test("CreateTopics with an invalid config value fails with INVALID_CONFIG", {}, async ({
    raw,
    topicName,
  }) => {
    const res = await raw.createTopic(topicName(), { configs: { "cleanup.policy": "shred" } });
    expect(codeName(res.errorCode)).toBe(codeName(E.INVALID_CONFIG));
  });

  test("CreateTopics validateOnly does not create the topic", {}, async ({ raw, topicName }) => {
    const name = topicName();
    const res = await raw.request(ApiKey.CreateTopics, {
      topics: [{ name, numPartitions: 2, replicationFactor: -1, assignments: [], configs: [] }],
      timeoutMs: 10_000,
      validateOnly: true,
    });
    expect(codeName(res.topics[0].errorCode)).toBe(codeName(0));
    expect(codeName((await raw.metadata([name])).topics[0].errorCode)).toBe(
      codeName(E.UNKNOWN_TOPIC_OR_PARTITION),
    );
  });

  test("DescribeConfigs of an unknown topic fails with UNKNOWN_TOPIC_OR_PARTITION", {
    requires: ["describeConfigs"],
  }, async ({ raw, topicName }) => {
    const res = await raw.request(ApiKey.DescribeConfigs, {
      resources: [
        { resourceType: TOPIC_RESOURCE, resourceName: topicName("never"), configurationKeys: null },
      ],
      includeSynonyms: false,
    });
    expect(codeName(res.results[0].errorCode)).toBe(codeName(E.UNKNOWN_TOPIC_OR_PARTITION));
  });

  test("DeleteTopics of an unknown topic fails with UNKNOWN_TOPIC_OR_PARTITION", {}, async ({
    raw,
    topicName,
  }) => {
    const res = await raw.request(
      ApiKey.DeleteTopics,
      {
        topicNames: [topicName("never")],
        timeoutMs: 10_000,
      },
      { cap: 5 },
    );
    expect(codeName(res.responses[0].errorCode)).toBe(codeName(E.UNKNOWN_TOPIC_OR_PARTITION));
  });

  test("DescribeLogDirs: every replica's log dir lists the partition, sized by what it holds", {}, async ({
    raw,
    newTopic,
  }) => {
    const topic = await newTopic({ partitions: 2 });
    const value = Buffer.alloc(2000, 7);
    const records = encodeRecordBatch({ records: [{ key: null, value, timestamp: BigInt(Date.now()) }] });
    expect(codeName((await raw.produce(topic, 0, records)).errorCode)).toBe(codeName(0));
    const md = await raw.metadata([topic]);
    const replicas = md.topics[0].partitions.find((p) => p.partitionIndex === 0)!.replicaNodes;
    for (const nodeId of replicas) {
      const conn = await raw.node(nodeId);
      const v = await raw.version(ApiKey.DescribeLogDirs, 4, 1);
      // followers copy the batch asynchronously (acks=all waits for the ISR, but be patient anyway)
      const sizes = await waitFor(`partition 0 of ${topic} on node ${nodeId} holding the batch`, async () => {
        const res = await conn.request(ApiKey.DescribeLogDirs, v, {
          topics: [{ topic, partitions: [0, 1] }],
        });
        expect(res.results.length).toBeGreaterThanOrEqual(1);
        const dirs = res.results.filter((r) => r.topics.some((t) => t.name === topic));
        expect(dirs).toHaveLength(1);
        expect(dirs[0].errorCode).toBe(0);
        expect(dirs[0].logDir.length).toBeGreaterThan(0);
        const parts = dirs[0].topics.find((t) => t.name === topic)!.partitions;
        const p0 = parts.find((p) => p.partitionIndex === 0)!;
        expect(p0.isFutureKey).toBe(false);
        expect(p0.offsetLag).toBeGreaterThanOrEqual(0n);
        return p0.partitionSize >= BigInt(value.length) ? parts : undefined;
      });
      // partition 1 got nothing: present when hosted here, and empty
      const p1 = sizes.find((p) => p.partitionIndex === 1);
      if (p1) expect(p1.partitionSize).toBe(0n);
    }
  });
});
