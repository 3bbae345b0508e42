import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import type { CreatableTopic } from "../../protocol/generated/create-topics-request.ts";
import { RESOURCE_BROKER, RESOURCE_TOPIC, topicByName, topicConfigs } from "../controller/metadata-image.ts";
import { TestCluster } from "./controller-helpers.ts";

function topic(
  name: string,
  numPartitions = 1,
  replicationFactor = 1,
  configs: Record<string, string | null> = {},
) {
  return {
    name,
    numPartitions,
    replicationFactor,
    assignments: [],
    configs: Object.entries(configs).map(([k, v]) => ({ name: k, value: v })),
  } satisfies CreatableTopic;
}

function create(c: TestCluster, topics: CreatableTopic[], validateOnly = false) {
  return c.controller.createTopics(c.image, { topics, timeoutMs: 1000, validateOnly });
}

describe("controller: CreateTopics", () => {
  it("creates a topic: TopicRecord, config records and one PartitionRecord per partition", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3]);
    const r = create(c, [topic("orders", 6, 3, { "retention.ms": "1000" })]);
    expect(r.records.map((x) => x.type)).toEqual([
      "TopicRecord",
      "ConfigRecord",
      ...Array(6).fill("PartitionRecord"),
    ]);
    const res = c.commit(r).topics[0];
    expect(res).toMatchObject({ name: "orders", errorCode: 0, numPartitions: 6, replicationFactor: 3 });
    expect(res.configs!.find((x) => x.name === "retention.ms")).toMatchObject({
      value: "1000",
      configSource: 1,
    });
    const t = topicByName(c.image, "orders")!;
    expect(t.id).toBe(res.topicId);
    expect(t.partitions.size).toBe(6);
    for (const p of t.partitions.values()) {
      expect(p.isr).toEqual(p.replicas);
      expect(p.leader).toBe(p.replicas[0]);
      expect(p.leaderEpoch).toBe(0);
    }
    expect(topicConfigs(c.image, "orders").get("retention.ms")).toBe("1000");
  });

  it("rejects bad names with INVALID_TOPIC_EXCEPTION", () => {
    const c = new TestCluster();
    c.startBrokers([1]);
    c.createTopic("a_b", 1, 1);
    for (const name of ["", ".", "..", "x".repeat(250), "has space", "ünïcode", "a.b"]) {
      const r = create(c, [topic(name)]);
      expect(r.records).toEqual([]);
      expect(r.response.topics[0].errorCode, name).toBe(ERROR_CODES.INVALID_TOPIC_EXCEPTION);
    }
    expect(create(c, [topic("x".repeat(249))]).response.topics[0].errorCode).toBe(0);
    expect(create(c, [topic("ok.-_9")]).response.topics[0].errorCode).toBe(0);
  });

  it("TOPIC_ALREADY_EXISTS, duplicate entries, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3]);
    c.register(4); // registered but fenced: does not count toward the replication factor
    c.createTopic("exists", 1, 1);
    const r = create(c, [
      topic("exists"),
      topic("dup"),
      topic("dup"),
      topic("zero", 0, 1),
      topic("negative", -5, 1),
      topic("rf0", 1, 0),
      topic("rf4", 1, 4),
      topic("unknown-config", 1, 1, { "no.such.config": "1" }),
      topic("bad-value", 1, 1, { "retention.ms": "soon" }),
      topic("fine", -1, -1),
    ]);
    const codes = Object.fromEntries(r.response.topics.map((t) => [t.name, t.errorCode]));
    expect(codes).toEqual({
      exists: ERROR_CODES.TOPIC_ALREADY_EXISTS,
      dup: ERROR_CODES.INVALID_REQUEST,
      zero: ERROR_CODES.INVALID_PARTITIONS,
      negative: ERROR_CODES.INVALID_PARTITIONS,
      rf0: ERROR_CODES.INVALID_REPLICATION_FACTOR,
      rf4: ERROR_CODES.INVALID_REPLICATION_FACTOR,
      "unknown-config": ERROR_CODES.INVALID_CONFIG,
      "bad-value": ERROR_CODES.INVALID_CONFIG,
      fine: 0,
    });
    expect(r.response.topics.find((t) => t.name === "rf4")!.errorMessage).toContain("only 3 broker(s)");
    // Only "fine" produced records.
    expect(r.records.filter((x) => x.type === "TopicRecord")).toHaveLength(1);
  });

  it("validateOnly checks without records", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2]);
    const r = create(c, [topic("v", 3, 2)], true);
    expect(r.records).toEqual([]);
    expect(r.response.topics[0]).toMatchObject({ errorCode: 0, numPartitions: 3, replicationFactor: 2 });
  });

  it("manual assignments: ISR = live replicas, errors for unknown brokers, duplicates, gaps, all fenced", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3]);
    c.register(4); // fenced
    const ok = c.createAssigned("m", [
      [4, 2],
      [3, 1],
    ]);
    expect(ok.errorCode).toBe(0);
    expect(c.partition("m", 0)).toMatchObject({ replicas: [4, 2], isr: [2], leader: 2 });
    const bad = (assignment: { partitionIndex: number; brokerIds: number[] }[]) =>
      create(c, [
        { name: "bad", numPartitions: -1, replicationFactor: -1, assignments: assignment, configs: [] },
      ]).response.topics[0].errorCode;
    expect(bad([{ partitionIndex: 0, brokerIds: [1, 9] }])).toBe(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT);
    expect(bad([{ partitionIndex: 0, brokerIds: [1, 1] }])).toBe(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT);
    expect(bad([{ partitionIndex: 1, brokerIds: [1] }])).toBe(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT);
    expect(bad([{ partitionIndex: 0, brokerIds: [4] }])).toBe(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT);
    expect(
      bad([
        { partitionIndex: 0, brokerIds: [1, 2] },
        { partitionIndex: 1, brokerIds: [1] },
      ]),
    ).toBe(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT);
    const rfSet = create(c, [
      {
        name: "bad",
        numPartitions: -1,
        replicationFactor: 2,
        assignments: [{ partitionIndex: 0, brokerIds: [1] }],
        configs: [],
      },
    ]);
    expect(rfSet.response.topics[0].errorCode).toBe(ERROR_CODES.INVALID_REQUEST);
  });
});

describe("controller: DeleteTopics", () => {
  it("deletes by name and by id, removing configs; unknown names and ids get their errors", () => {
    const c = new TestCluster();
    c.startBrokers([1]);
    c.createTopic("a", 1, 1, { "retention.ms": "5" });
    c.createTopic("b", 2, 1);
    const idB = c.topicId("b");
    const r = c.commit(
      c.controller.deleteTopics(c.image, {
        timeoutMs: 1000,
        topics: [
          { name: "a", topicId: "00000000-0000-0000-0000-000000000000" },
          { name: null, topicId: idB },
          { name: "nope", topicId: "00000000-0000-0000-0000-000000000000" },
          { name: null, topicId: "00000000-0000-4000-8000-00000000ffff" },
        ],
      }),
    );
    expect(r.responses.map((x) => x.errorCode)).toEqual([
      0,
      0,
      ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
      ERROR_CODES.UNKNOWN_TOPIC_ID,
    ]);
    expect(r.responses[1].name).toBe("b");
    expect(c.image.topics.size).toBe(0);
    expect(c.image.configs.size).toBe(0);
    // Legacy versions: names only.
    const legacy = c.controller.deleteTopics(c.image, { timeoutMs: 1, topicNames: ["a"] });
    expect(legacy.response.responses[0].errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe("controller: CreatePartitions", () => {
  it("adds partitions with the topic's replication factor and validates counts and assignments", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3]);
    c.createTopic("t", 2, 2);
    const r = c.commit(
      c.controller.createPartitions(c.image, {
        timeoutMs: 1000,
        validateOnly: false,
        topics: [
          { name: "t", count: 5, assignments: null },
          { name: "missing", count: 3, assignments: null },
        ],
      }),
    );
    expect(r.results.map((x) => x.errorCode)).toEqual([0, ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION]);
    const t = topicByName(c.image, "t")!;
    expect(t.partitions.size).toBe(5);
    for (const p of t.partitions.values()) expect(p.replicas).toHaveLength(2);
    const errs = c.controller.createPartitions(c.image, {
      timeoutMs: 1000,
      validateOnly: false,
      topics: [
        { name: "t", count: 5, assignments: null },
        { name: "t2", count: 1, assignments: null },
      ],
    });
    expect(errs.response.results[0]).toMatchObject({
      errorCode: ERROR_CODES.INVALID_PARTITIONS,
      errorMessage: "Topic already has 5 partition(s).",
    });
    c.createTopic("t2", 3, 1);
    const fewer = c.controller.createPartitions(c.image, {
      timeoutMs: 1000,
      validateOnly: false,
      topics: [{ name: "t2", count: 2, assignments: null }],
    });
    expect(fewer.response.results[0].errorCode).toBe(ERROR_CODES.INVALID_PARTITIONS);
    const wrongCount = c.controller.createPartitions(c.image, {
      timeoutMs: 1000,
      validateOnly: false,
      topics: [{ name: "t2", count: 5, assignments: [{ brokerIds: [1] }] }],
    });
    expect(wrongCount.response.results[0].errorCode).toBe(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT);
    const wrongRf = c.controller.createPartitions(c.image, {
      timeoutMs: 1000,
      validateOnly: false,
      topics: [{ name: "t2", count: 4, assignments: [{ brokerIds: [1, 2] }] }],
    });
    expect(wrongRf.response.results[0].errorCode).toBe(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT);
    const validateOnly = c.controller.createPartitions(c.image, {
      timeoutMs: 1000,
      validateOnly: true,
      topics: [{ name: "t2", count: 4, assignments: [{ brokerIds: [3] }] }],
    });
    expect(validateOnly.response.results[0].errorCode).toBe(0);
    expect(validateOnly.records).toEqual([]);
  });
});

describe("controller: IncrementalAlterConfigs", () => {
  it("SET, DELETE, APPEND and SUBTRACT on topic configs; broker configs; errors per resource", () => {
    const c = new TestCluster();
    c.startBrokers([1]);
    c.createTopic("t", 1, 1, { "retention.ms": "100" });
    const r = c.commit(
      c.controller.incrementalAlterConfigs(c.image, {
        validateOnly: false,
        resources: [
          {
            resourceType: RESOURCE_TOPIC,
            resourceName: "t",
            configs: [
              { name: "retention.ms", configOperation: 1, value: null },
              { name: "max.message.bytes", configOperation: 0, value: "2048" },
              { name: "cleanup.policy", configOperation: 2, value: "compact" },
            ],
          },
          {
            resourceType: RESOURCE_BROKER,
            resourceName: "1",
            configs: [{ name: "log.retention.ms", configOperation: 0, value: "1000" }],
          },
          { resourceType: RESOURCE_TOPIC, resourceName: "missing", configs: [] },
          {
            resourceType: RESOURCE_TOPIC,
            resourceName: "t2",
            configs: [],
          },
        ],
      }),
    );
    expect(r.responses.map((x) => x.errorCode)).toEqual([
      0,
      0,
      ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
      ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
    ]);
    expect(Object.fromEntries(topicConfigs(c.image, "t"))).toEqual({
      "max.message.bytes": "2048",
      "cleanup.policy": "delete,compact",
    });
    expect(c.image.configs.get(`${RESOURCE_BROKER}:1`)?.get("log.retention.ms")).toBe("1000");
    const bad = c.controller.incrementalAlterConfigs(c.image, {
      validateOnly: false,
      resources: [
        {
          resourceType: RESOURCE_TOPIC,
          resourceName: "t",
          configs: [{ name: "nope", configOperation: 0, value: "1" }],
        },
        {
          resourceType: RESOURCE_TOPIC,
          resourceName: "t",
          configs: [{ name: "retention.ms", configOperation: 0, value: "x" }],
        },
      ],
    });
    // The same resource twice → both INVALID_REQUEST.
    expect(bad.response.responses.map((x) => x.errorCode)).toEqual([
      ERROR_CODES.INVALID_REQUEST,
      ERROR_CODES.INVALID_REQUEST,
    ]);
    const invalid = c.controller.incrementalAlterConfigs(c.image, {
      validateOnly: false,
      resources: [
        {
          resourceType: RESOURCE_TOPIC,
          resourceName: "t",
          configs: [
            { name: "retention.ms", configOperation: 0, value: "x" },
            { name: "segment.bytes", configOperation: 0, value: "1" },
          ],
        },
        {
          resourceType: RESOURCE_BROKER,
          resourceName: "",
          configs: [{ name: "retention.ms", configOperation: 2, value: "1" }],
        },
      ],
    });
    expect(invalid.response.responses.map((x) => x.errorCode)).toEqual([
      ERROR_CODES.INVALID_CONFIG,
      ERROR_CODES.INVALID_CONFIG,
    ]);
    expect(invalid.records).toEqual([]);
  });
});

describe("controller: AllocateProducerIds", () => {
  it("hands out consecutive blocks to registered brokers and refuses stale epochs", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2]);
    const e1 = c.image.brokers.get(1)!.epoch;
    const e2 = c.image.brokers.get(2)!.epoch;
    const a = c.commit(c.controller.allocateProducerIds(c.image, { brokerId: 1, brokerEpoch: e1 }));
    const b = c.commit(c.controller.allocateProducerIds(c.image, { brokerId: 2, brokerEpoch: e2 }));
    expect([a.producerIdStart, a.producerIdLen]).toEqual([0n, 1000]);
    expect([b.producerIdStart, b.producerIdLen]).toEqual([1000n, 1000]);
    expect(c.image.nextProducerId).toBe(2000n);
    const stale = c.controller.allocateProducerIds(c.image, { brokerId: 1, brokerEpoch: e1 - 1n });
    expect(stale.response.errorCode).toBe(ERROR_CODES.STALE_BROKER_EPOCH);
    expect(stale.records).toEqual([]);
  });
});
