// Metadata: brokers, controller, leaders, replicas, ISR, topic ids, auto-creation on and off.
import { expect } from "vitest";
import { ERROR_CODES as E } from "../../protocol/error-codes.ts";
import { clientMatrix, rawSuite, run } from "../context.ts";
import { codeName, waitFor } from "../raw/kafka.ts";

const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

rawSuite("Metadata", (test) => {
  test("lists every broker once, with a host and port, and a controller among them", {}, async ({ raw }) => {
    const md = await raw.metadata([]);
    const ids = md.brokers.map((b) => b.nodeId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(run.nodes);
    for (const b of md.brokers) {
      expect(b.host.length).toBeGreaterThan(0);
      expect(b.port).toBeGreaterThan(0);
    }
    expect(ids).toContain(md.controllerId);
    expect(md.clusterId ?? "").not.toBe("");
  });

  test("a topic's partitions each have a leader among its replicas and an ISR within its replicas", {}, async ({
    raw,
    topicName,
  }) => {
    const name = topicName();
    const rf = Math.min(3, run.nodes);
    const created = await raw.createTopic(name, { partitions: 3, replicationFactor: rf });
    expect(codeName(created.errorCode)).toBe(codeName(0));
    const md = await raw.metadata([name]);
    const t = md.topics[0];
    expect(codeName(t.errorCode)).toBe(codeName(0));
    expect(t.partitions.map((p) => p.partitionIndex).sort()).toEqual([0, 1, 2]);
    const brokers = md.brokers.map((b) => b.nodeId);
    for (const p of t.partitions) {
      expect(p.replicaNodes.length).toBe(rf);
      expect(new Set(p.replicaNodes).size).toBe(rf);
      for (const r of p.replicaNodes) expect(brokers).toContain(r);
      expect(p.replicaNodes).toContain(p.leaderId);
      expect(p.isrNodes).toContain(p.leaderId);
      for (const r of p.isrNodes) expect(p.replicaNodes).toContain(r);
    }
  });

  test("topic ids are non-zero, stable, and match CreateTopics", {}, async ({ raw, topicName }) => {
    const name = topicName();
    const created = await raw.createTopic(name, { partitions: 1 });
    const a = (await raw.metadata([name])).topics[0].topicId;
    const b = (await raw.metadata([name])).topics[0].topicId;
    expect(a).toBeDefined();
    expect(a).not.toBe(ZERO_UUID);
    expect(b).toBe(a);
    if (created.topicId && created.topicId !== ZERO_UUID) expect(created.topicId).toBe(a);
  });

  test("allowAutoTopicCreation=false: an unknown topic is UNKNOWN_TOPIC_OR_PARTITION and is not created", {}, async ({
    raw,
    topicName,
  }) => {
    const name = topicName("absent");
    const first = await raw.metadata([name], false);
    expect(codeName(first.topics[0].errorCode)).toBe(codeName(E.UNKNOWN_TOPIC_OR_PARTITION));
    const second = await raw.metadata([name], false);
    expect(codeName(second.topics[0].errorCode)).toBe(codeName(E.UNKNOWN_TOPIC_OR_PARTITION));
    expect(second.topics[0].partitions).toEqual([]);
  });

  test("allowAutoTopicCreation=true: an unknown topic is created (auto.create.topics.enable defaults to true)", {}, async ({
    raw,
    topicName,
  }) => {
    const name = topicName("auto");
    const first = await raw.metadata([name], true);
    expect([E.NONE, E.LEADER_NOT_AVAILABLE, E.UNKNOWN_TOPIC_OR_PARTITION]).toContain(
      first.topics[0].errorCode,
    );
    const partitions = await waitFor(`auto-created ${name}`, async () => {
      const md = await raw.metadata([name], false);
      const t = md.topics[0];
      return t.errorCode === 0 && t.partitions.length > 0 && t.partitions.every((p) => p.leaderId >= 0)
        ? t.partitions.length
        : undefined;
    });
    expect(partitions).toBeGreaterThan(0);
  });

  test("a request for all topics (null) includes a new topic; an empty list returns none", {}, async ({
    raw,
    newTopic,
  }) => {
    const name = await newTopic({ partitions: 2 });
    const all = await raw.metadata(null);
    expect(all.topics.map((t) => t.name)).toContain(name);
    const none = await raw.metadata([]);
    expect(none.topics).toEqual([]);
  });
});

clientMatrix("Metadata", (test) => {
  test("the client discovers a new topic's partitions and produces to each", {}, async ({
    client,
    newTopic,
  }) => {
    const topic = await newTopic({ partitions: 3 });
    const res = await client.produce(
      topic,
      [0, 1, 2].map((partition) => ({ value: `p${partition}`, partition })),
    );
    expect(res.map((r) => r.partition).sort()).toEqual([0, 1, 2]);
    for (const r of res) expect(r.baseOffset).toBe(0n);
  });
});
