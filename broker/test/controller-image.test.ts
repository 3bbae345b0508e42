import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../protocol/wire/errors.ts";
import {
  checkImageInvariants,
  checkImageSequence,
  checkTransitionInvariants,
} from "../controller/invariants.ts";
import {
  applyRecord,
  applyRecords,
  decodeImageSnapshot,
  decodeMetadataBatch,
  decodeMetadataRecord,
  emptyImage,
  encodeImageSnapshot,
  encodeMetadataBatch,
  encodeMetadataRecord,
  imagesEqual,
  imageToRecords,
  MetadataApplyError,
  type MetadataRecord,
  NO_LEADER_CHANGE,
  RESOURCE_TOPIC,
} from "../controller/metadata-image.ts";
import { CLUSTER_ID, rng, TestCluster } from "./controller-helpers.ts";

const TOPIC_ID = "00000000-0000-4000-8000-000000000abc";

function sampleRecords(): MetadataRecord[] {
  return [
    { type: "FeatureLevelRecord", data: { name: "metadata.version", featureLevel: 20 } },
    {
      type: "RegisterBrokerRecord",
      data: {
        brokerId: 1,
        incarnationId: "00000000-0000-4000-9000-000000000001",
        brokerEpoch: 5n,
        endPoints: [{ name: "PLAINTEXT", host: "h1", port: 9092, securityProtocol: 0 }],
        features: [],
        rack: "r1",
        fenced: true,
        inControlledShutdown: false,
      },
    },
    { type: "UnfenceBrokerRecord", data: { id: 1, epoch: 5n } },
    {
      type: "RegisterBrokerRecord",
      data: {
        brokerId: 2,
        incarnationId: "00000000-0000-4000-9000-000000000002",
        brokerEpoch: 6n,
        endPoints: [{ name: "PLAINTEXT", host: "h2", port: 9093, securityProtocol: 0 }],
        features: [{ name: "metadata.version", minSupportedVersion: 1, maxSupportedVersion: 20 }],
        rack: null,
        fenced: true,
        inControlledShutdown: false,
      },
    },
    { type: "BrokerRegistrationChangeRecord", data: { brokerId: 2, brokerEpoch: 6n, fenced: -1 } },
    { type: "TopicRecord", data: { name: "t", topicId: TOPIC_ID } },
    {
      type: "ConfigRecord",
      data: { resourceType: RESOURCE_TOPIC, resourceName: "t", name: "retention.ms", value: "7" },
    },
    {
      type: "PartitionRecord",
      data: {
        partitionId: 0,
        topicId: TOPIC_ID,
        replicas: [1, 2],
        isr: [1, 2],
        removingReplicas: [],
        addingReplicas: [],
        leader: 1,
        leaderEpoch: 0,
        partitionEpoch: 0,
      },
    },
    {
      type: "PartitionChangeRecord",
      data: {
        partitionId: 0,
        topicId: TOPIC_ID,
        isr: [2],
        leader: 2,
        replicas: null,
        removingReplicas: null,
        addingReplicas: null,
      },
    },
    { type: "ProducerIdsRecord", data: { brokerId: 2, brokerEpoch: 6n, nextProducerId: 1000n } },
    { type: "FenceBrokerRecord", data: { id: 1, epoch: 5n } },
    { type: "NoOpRecord", data: {} },
  ];
}

describe("metadata records: framing", () => {
  it("round-trips every modeled record type through Kafka's frame (version, type, record version)", () => {
    for (const rec of sampleRecords()) {
      const bytes = encodeMetadataRecord(rec);
      expect(bytes[0]).toBe(1); // frame version
      const back = decodeMetadataRecord(bytes);
      expect(back.type).toBe(rec.type);
      expect(encodeMetadataRecord(back)).toEqual(bytes);
    }
  });

  it("frames the record type id as the spec's apiKey", () => {
    const bytes = encodeMetadataRecord({ type: "TopicRecord", data: { name: "x", topicId: TOPIC_ID } });
    expect([bytes[0], bytes[1], bytes[2]]).toEqual([1, 2, 0]);
    const pc = encodeMetadataRecord(sampleRecords()[8]);
    expect([pc[0], pc[1], pc[2]]).toEqual([1, 5, 0]);
  });

  it("round-trips batches and refuses truncated or trailing bytes", () => {
    const batch = encodeMetadataBatch(sampleRecords());
    expect(encodeMetadataBatch(decodeMetadataBatch(batch))).toEqual(batch);
    expect(() => decodeMetadataBatch(batch.subarray(0, batch.length - 1))).toThrow(ProtocolError);
    expect(() => decodeMetadataBatch(Buffer.concat([batch, Buffer.from([0])]))).toThrow(ProtocolError);
  });

  it("keeps record types it does not model as Unmodeled, and ignores them when applying", () => {
    const unmodeled: MetadataRecord = {
      type: "Unmodeled",
      typeId: 14,
      version: 0,
      data: {
        entity: [{ entityType: "client-id", entityName: "c" }],
        key: "producer_byte_rate",
        value: 10,
        remove: false,
      },
    };
    const bytes = encodeMetadataRecord(unmodeled);
    const back = decodeMetadataRecord(bytes);
    expect(back).toMatchObject({ type: "Unmodeled", typeId: 14, version: 0 });
    const img = emptyImage(CLUSTER_ID);
    expect(imagesEqual(applyRecord(img, back, 1), applyRecords(img, [], 1))).toBe(true);
  });
});

describe("metadata image: apply", () => {
  it("applies the sample records to the expected image", () => {
    const img = applyRecords(emptyImage(CLUSTER_ID), sampleRecords(), 10);
    expect(img.highestOffset).toBe(10);
    expect(img.brokers.get(1)).toMatchObject({ fenced: true, rack: "r1", epoch: 5n });
    expect(img.brokers.get(2)).toMatchObject({ fenced: false, rack: null });
    expect(img.topicIds.get("t")).toBe(TOPIC_ID);
    expect(img.topics.get(TOPIC_ID)!.partitions.get(0)).toEqual({
      partition: 0,
      replicas: [1, 2],
      isr: [2],
      removingReplicas: [],
      addingReplicas: [],
      leader: 2,
      leaderRecoveryState: 0,
      leaderEpoch: 1,
      partitionEpoch: 1,
    });
    expect(img.configs.get(`${RESOURCE_TOPIC}:t`)?.get("retention.ms")).toBe("7");
    expect(img.nextProducerId).toBe(1000n);
    expect(img.features.get("metadata.version")).toBe(20);
    expect(checkImageInvariants(img)).toEqual([]);
  });

  it("never mutates its input and is atomic on a bad record", () => {
    const base = applyRecords(emptyImage(CLUSTER_ID), sampleRecords().slice(0, 8), 3);
    const snapshot = encodeImageSnapshot(base);
    const next = applyRecords(base, sampleRecords().slice(8), 4);
    expect(encodeImageSnapshot(base)).toEqual(snapshot);
    expect(imagesEqual(base, next)).toBe(false);
    const bad: MetadataRecord = {
      type: "PartitionChangeRecord",
      data: {
        partitionId: 9,
        topicId: TOPIC_ID,
        isr: [1],
        leader: NO_LEADER_CHANGE,
        replicas: null,
        removingReplicas: null,
        addingReplicas: null,
      },
    };
    expect(() =>
      applyRecords(next, [{ type: "RemoveTopicRecord", data: { topicId: TOPIC_ID } }, bad], 5),
    ).toThrow(MetadataApplyError);
    expect(next.topicIds.has("t")).toBe(true);
    expect(() => applyRecords(next, [], 2)).toThrow(MetadataApplyError); // offsets only move forward
  });

  it("RemoveTopicRecord removes the topic, its name and its configs", () => {
    const img = applyRecords(emptyImage(CLUSTER_ID), [
      ...sampleRecords(),
      { type: "RemoveTopicRecord", data: { topicId: TOPIC_ID } },
    ]);
    expect(img.topics.size).toBe(0);
    expect(img.topicIds.size).toBe(0);
    expect(img.configs.size).toBe(0);
  });

  it("is deterministic: the same committed log on two nodes gives equal images, and snapshots restore equal images", () => {
    // Drive a random but seeded workload through the controller, recording each committed batch.
    const random = rng(42);
    const c = new TestCluster({ sessionTimeoutMs: 3000 });
    const log: { offset: number; records: MetadataRecord[] }[] = [];
    const commit = c.commit.bind(c);
    c.commit = (result) => {
      if (result.records.length > 0) log.push({ offset: c.offset + 1, records: result.records });
      return commit(result);
    };
    c.startBrokers([1, 2, 3, 4], ["a", "b", "a", "b"]);
    for (let i = 0; i < 6; i++)
      c.createTopic(`topic-${i}`, 1 + Math.floor(random() * 5), 1 + Math.floor(random() * 3));
    for (let step = 0; step < 40; step++) {
      const alive = [1, 2, 3, 4].filter(() => random() < 0.8);
      c.advance(1000 + Math.floor(random() * 3000), alive);
      for (const id of [1, 2, 3, 4]) {
        const b = c.image.brokers.get(id)!;
        if (b.fenced && random() < 0.5) {
          c.register(id);
          c.heartbeat(id);
        }
      }
      if (random() < 0.3)
        c.commit(
          c.controller.electLeaders(c.image, { electionType: 0, topicPartitions: null, timeoutMs: 1 }),
        );
    }
    expect(log.length).toBeGreaterThan(20);
    expect(checkImageSequence(c.history)).toEqual([]);

    // Node B replays the same log, one batch per entry, from the encoded bytes.
    let b = emptyImage(CLUSTER_ID);
    let restored = emptyImage(CLUSTER_ID);
    for (const [i, entry] of log.entries()) {
      b = applyRecords(b, decodeMetadataBatch(encodeMetadataBatch(entry.records)), entry.offset);
      // Node C restores from a snapshot half way and replays the rest.
      if (i === Math.floor(log.length / 2)) restored = decodeImageSnapshot(encodeImageSnapshot(b));
      else if (i > Math.floor(log.length / 2)) restored = applyRecords(restored, entry.records, entry.offset);
    }
    expect(imagesEqual(b, c.image)).toBe(true);
    expect(b).toEqual(c.image);
    expect(imagesEqual(restored, c.image)).toBe(true);
    expect(restored).toEqual(c.image);
    const fromSnapshot = decodeImageSnapshot(encodeImageSnapshot(c.image));
    expect(fromSnapshot).toEqual(c.image);
    expect(fromSnapshot.highestOffset).toBe(c.image.highestOffset);
    expect(imageToRecords(fromSnapshot)).toEqual(imageToRecords(c.image));
  });
});

describe("metadata image: invariants", () => {
  const base = (): ReturnType<typeof applyRecords> =>
    applyRecords(emptyImage(CLUSTER_ID), sampleRecords().slice(0, 8), 1);

  it("flags a leader elected outside the ISR", () => {
    const img = base();
    expect(checkImageInvariants(img)).toEqual([]);
    const mutant = applyRecord(img, {
      type: "PartitionChangeRecord",
      data: {
        partitionId: 0,
        topicId: TOPIC_ID,
        isr: [1],
        leader: 2,
        replicas: null,
        removingReplicas: null,
        addingReplicas: null,
      },
    });
    expect(checkImageInvariants(mutant)).toContainEqual(
      expect.stringContaining("leader 2 is not in the ISR"),
    );
  });

  it("flags ISR members outside the replicas, duplicate replicas, empty ISRs and fenced leaders", () => {
    const img = base();
    const change = (data: Partial<MetadataRecord["data"]>) =>
      checkImageInvariants(
        applyRecord(img, {
          type: "PartitionChangeRecord",
          data: {
            partitionId: 0,
            topicId: TOPIC_ID,
            isr: null,
            leader: NO_LEADER_CHANGE,
            replicas: null,
            removingReplicas: null,
            addingReplicas: null,
            ...data,
          },
        }),
      ).join("\n");
    expect(change({ isr: [1, 2, 3] })).toContain("ISR member 3 is not a replica");
    expect(change({ replicas: [1, 1, 2] })).toContain("not distinct");
    expect(change({ isr: [], leader: -1 })).toContain("empty ISR");
    const fenced = applyRecord(img, { type: "FenceBrokerRecord", data: { id: 1, epoch: 5n } });
    expect(checkImageInvariants(fenced).join("\n")).toContain("leader 1 is fenced");
  });

  it("flags epochs going back and leader changes without an epoch bump across images", () => {
    const a = base();
    const b = applyRecord(a, {
      type: "PartitionChangeRecord",
      data: {
        partitionId: 0,
        topicId: TOPIC_ID,
        isr: [2, 1],
        leader: 2,
        replicas: null,
        removingReplicas: null,
        addingReplicas: null,
      },
    });
    expect(checkTransitionInvariants(a, b)).toEqual([]);
    expect(checkTransitionInvariants(b, a).join("\n")).toContain("leader epoch went back");
    // A hand-made image that changes the leader but keeps the epochs.
    const t = b.topics.get(TOPIC_ID)!;
    const p = t.partitions.get(0)!;
    const forged = {
      ...b,
      topics: new Map([[TOPIC_ID, { ...t, partitions: new Map([[0, { ...p, leader: 1 }]]) }]]),
    };
    const v = checkTransitionInvariants(b, forged).join("\n");
    expect(v).toContain("without a leader epoch bump");
    expect(v).toContain("without a partition epoch bump");
  });
});
