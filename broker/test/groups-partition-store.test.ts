import { describe, expect, it } from "vitest";
import { GroupCoordinator } from "../groups/coordinator.ts";
import {
  decodeOffsetsRecord,
  encodeOffsetsRecord,
  type KeyValue,
  OffsetsRecordFormatError,
} from "../groups/offsets-format.ts";
import { type OffsetsLogPort, PartitionGroupStore, storeError } from "../groups/partition-store.ts";
import type { GroupRecord, OffsetCommitRequest, RequestContext } from "../groups/types.ts";
import { E, TEST_CONFIG } from "./groups-harness.ts";

// Golden bytes from Apache Kafka 4.3's generated classes (MessageUtil.toVersionPrefixedByteBuffer).
const KAFKA = {
  offsetKey: "000100036772700002743100000007",
  offsetValueV3: "0003000000000000002a0000000500046d6574610000018bcfe56800",
  offsetValueV1: "0001000000000000002a000000000000000003e800000000000007d0",
  groupKey: "00020003677270",
  groupValueV3:
    "00030008636f6e73756d657200000004000572616e67650003632d3100000000000004d2000000020003632d31ffff0001" +
    "63000a2f3132372e302e302e310000ea600000753000000002010200000001030003692d310001690002633200022f6800" +
    "0000010000000200000000000000020909",
  groupValueEmpty: "0003000000000000ffffffffffffffffffffffff00000000",
};

const offsetRecord: GroupRecord = {
  type: "offset",
  groupId: "grp",
  topic: "t1",
  partition: 7,
  value: {
    offset: 42n,
    leaderEpoch: 5,
    metadata: "meta",
    commitTimestamp: 1_700_000_000_000,
    expireTimestamp: -1,
  },
};

const groupRecord: GroupRecord = {
  type: "group",
  groupId: "grp",
  value: {
    protocolType: "consumer",
    generation: 4,
    protocol: "range",
    leader: "c-1",
    currentStateTimestamp: 1234,
    members: [
      {
        memberId: "c-1",
        groupInstanceId: null,
        clientId: "c",
        clientHost: "/127.0.0.1",
        rebalanceTimeoutMs: 60_000,
        sessionTimeoutMs: 30_000,
        subscription: Buffer.from([1, 2]),
        assignment: Buffer.from([3]),
      },
      {
        memberId: "i-1",
        groupInstanceId: "i",
        clientId: "c2",
        clientHost: "/h",
        rebalanceTimeoutMs: 1,
        sessionTimeoutMs: 2,
        subscription: Buffer.alloc(0),
        assignment: Buffer.from([9, 9]),
      },
    ],
  },
};

const hex = (b: Buffer | null) => b?.toString("hex") ?? null;

describe("__consumer_offsets record format", () => {
  it("writes offset commits as Kafka does (key v1, value v3; v1 when an expiry is set)", () => {
    const kv = encodeOffsetsRecord(offsetRecord);
    expect(hex(kv.key)).toBe(KAFKA.offsetKey);
    expect(hex(kv.value)).toBe(KAFKA.offsetValueV3);
    const expiring = encodeOffsetsRecord({
      type: "offset",
      groupId: "grp",
      topic: "t1",
      partition: 7,
      value: { offset: 42n, leaderEpoch: -1, metadata: "", commitTimestamp: 1000, expireTimestamp: 2000 },
    });
    expect(hex(expiring.value)).toBe(KAFKA.offsetValueV1);
  });

  it("writes group metadata as Kafka does (key v2, value v3)", () => {
    const kv = encodeOffsetsRecord(groupRecord);
    expect(hex(kv.key)).toBe(KAFKA.groupKey);
    expect(hex(kv.value)).toBe(KAFKA.groupValueV3);
    const empty = encodeOffsetsRecord({
      type: "group",
      groupId: "grp",
      value: {
        protocolType: "",
        generation: 0,
        protocol: null,
        leader: null,
        currentStateTimestamp: -1,
        members: [],
      },
    });
    expect(hex(empty.value)).toBe(KAFKA.groupValueEmpty);
  });

  it("reads Kafka's bytes back, tombstones included", () => {
    const b = (h: string) => Buffer.from(h, "hex");
    expect(decodeOffsetsRecord(b(KAFKA.offsetKey), b(KAFKA.offsetValueV3))).toEqual(offsetRecord);
    expect(decodeOffsetsRecord(b(KAFKA.offsetKey), b(KAFKA.offsetValueV1))).toEqual({
      ...offsetRecord,
      value: { offset: 42n, leaderEpoch: -1, metadata: "", commitTimestamp: 1000, expireTimestamp: 2000 },
    });
    expect(decodeOffsetsRecord(b(KAFKA.groupKey), b(KAFKA.groupValueV3))).toEqual(groupRecord);
    expect(decodeOffsetsRecord(b(KAFKA.groupKey), null)).toEqual({
      type: "group",
      groupId: "grp",
      value: null,
    });
    expect(decodeOffsetsRecord(b(KAFKA.offsetKey), null)).toEqual({ ...offsetRecord, value: null });
  });

  it("skips record types it does not model and refuses malformed ones", () => {
    // Key version 3 is a KIP-848 ConsumerGroupMetadataKey: not a classic group record.
    expect(decodeOffsetsRecord(Buffer.from("00030003677270", "hex"), Buffer.alloc(4))).toBeUndefined();
    expect(decodeOffsetsRecord(null, null)).toBeUndefined();
    expect(() => decodeOffsetsRecord(Buffer.from("000100", "hex"), null)).toThrow(OffsetsRecordFormatError);
    expect(() => decodeOffsetsRecord(Buffer.from(KAFKA.groupKey, "hex"), Buffer.from("0009", "hex"))).toThrow(
      OffsetsRecordFormatError,
    );
  });
});

/** An in-memory partition: committed records, or appends that fail with an error code. */
class MemoryPartition implements OffsetsLogPort {
  readonly log: KeyValue[] = [];
  failWith = 0;
  async append(records: KeyValue[]): Promise<void> {
    if (this.failWith !== 0) throw storeError("not replicated", this.failWith);
    this.log.push(...records);
  }
  async read(): Promise<KeyValue[]> {
    return [...this.log];
  }
}

const ctx: RequestContext = { clientId: "app", clientHost: "/127.0.0.1", apiVersion: 9 };
const commit = (offset: bigint): OffsetCommitRequest => ({
  groupId: "simple",
  generationIdOrMemberEpoch: -1,
  memberId: "",
  groupInstanceId: null,
  retentionTimeMs: -1n,
  topics: [
    {
      name: "t",
      partitions: [
        { partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: 1, committedMetadata: "" },
      ],
    },
  ],
});
const fetched = async (c: GroupCoordinator) =>
  (await c.offsetFetch({ groups: [{ groupId: "simple", topics: null }] })).groups[0]!.topics[0]?.partitions[0]
    ?.committedOffset;

describe("PartitionGroupStore", () => {
  it("a coordinator loaded from the partition (a new leader) sees the committed offsets", async () => {
    const partition = new MemoryPartition();
    const first = new GroupCoordinator({ store: new PartitionGroupStore(partition), config: TEST_CONFIG });
    await first.start();
    expect((await first.offsetCommit(commit(10n), ctx)).topics[0]!.partitions[0]!.errorCode).toBe(E.NONE);
    expect((await first.offsetCommit(commit(25n), ctx)).topics[0]!.partitions[0]!.errorCode).toBe(E.NONE);
    expect(partition.log).toHaveLength(2);
    await first.stop();

    const second = new GroupCoordinator({ store: new PartitionGroupStore(partition), config: TEST_CONFIG });
    await second.start();
    expect(await fetched(second)).toBe(25n);
  });

  it("a write the ISR did not take fails the commit with a retriable error and is not visible", async () => {
    const partition = new MemoryPartition();
    const c = new GroupCoordinator({ store: new PartitionGroupStore(partition), config: TEST_CONFIG });
    await c.start();
    await c.offsetCommit(commit(5n), ctx);
    partition.failWith = E.REQUEST_TIMED_OUT;
    const r = await c.offsetCommit(commit(6n), ctx);
    expect(r.topics[0]!.partitions[0]!.errorCode).toBe(E.COORDINATOR_NOT_AVAILABLE);
    partition.failWith = E.NOT_LEADER_OR_FOLLOWER;
    const r2 = await c.offsetCommit(commit(7n), ctx);
    expect(r2.topics[0]!.partitions[0]!.errorCode).toBe(E.NOT_COORDINATOR);
    expect(await fetched(c)).toBe(5n);
  });

  it("refuses loads and appends once closed (the partition was unloaded)", async () => {
    const partition = new MemoryPartition();
    const store = new PartitionGroupStore(partition);
    await store.close();
    await expect(store.load()).rejects.toMatchObject({ errorCode: E.NOT_COORDINATOR });
    await expect(store.append([offsetRecord])).rejects.toMatchObject({ errorCode: E.NOT_LEADER_OR_FOLLOWER });
    expect(partition.log).toHaveLength(0);
  });

  it("skips undecodable records while loading and reports them", async () => {
    const partition = new MemoryPartition();
    partition.log.push(encodeOffsetsRecord(offsetRecord));
    partition.log.push({ key: Buffer.from(KAFKA.groupKey, "hex"), value: Buffer.from("0009", "hex") });
    const bad: Error[] = [];
    const store = new PartitionGroupStore(partition, { onBadRecord: (e) => bad.push(e) });
    expect(await store.load()).toEqual([offsetRecord]);
    expect(bad).toHaveLength(1);
  });

  it("a coordinator stopped while loading stays stopped", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow: OffsetsLogPort = {
      append: async () => {},
      read: async () => {
        await gate;
        return [];
      },
    };
    const c = new GroupCoordinator({ store: new PartitionGroupStore(slow), config: TEST_CONFIG });
    const started = c.start();
    await c.stop();
    release();
    await started;
    expect(c.isActive).toBe(false);
    expect((await c.heartbeat({ groupId: "g", memberId: "m", generationId: 1 })).errorCode).toBe(
      E.NOT_COORDINATOR,
    );
  });
});
