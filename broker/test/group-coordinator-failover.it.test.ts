// Group coordination in the reference broker's cluster mode, through the harness: a 3-node cluster
// (default.replication.factor 3). The first FindCoordinator creates the internal `__consumer_offsets`
// topic (10 partitions, RF 3, isInternal in Metadata); a group's coordinator is the leader of partition
// abs(hashCode(groupId)) % 10, and the other brokers answer NOT_COORDINATOR for it. Group state and
// committed offsets are records of that partition, acknowledged once the ISR has them, so SIGKILL of the
// coordinator loses nothing: the new leader loads the partition, a new consumer of the group resumes
// exactly where the committed offsets say (nothing re-read, nothing skipped), OffsetFetch from an admin
// returns them, and a member keeps its membership and generation at the new coordinator.
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { describePartitions } from "../../harness/cluster/leaders.ts";
import { LOOPBACK } from "../../harness/cluster/ports.ts";
import { ReferenceCluster } from "../../harness/targets/reference.ts";
import { RawConnection } from "../../protocol/client/connection.ts";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import { encodeSubscription } from "../groups/consumer-protocol.ts";
import { groupPartition } from "../groups/coordinator.ts";
import { waitFor } from "./wait-for.ts";

const { Kafka, logLevel } = kafkajs;
const OFFSETS_TOPIC = "__consumer_offsets";
const OFFSETS_PARTITIONS = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

function kafka(clientId = "group-failover-it") {
  return new Kafka({
    clientId,
    brokers: cluster.bootstrapServers().split(","),
    logLevel: logLevel.NOTHING,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
  });
}

function port(nodeId: number): number {
  return cluster.nodes().find((n) => n.nodeId === nodeId)!.port;
}

function liveNodes(): number[] {
  return cluster
    .nodes()
    .filter((n) => n.running)
    .map((n) => n.nodeId);
}

async function withConnection<T>(nodeId: number, fn: (c: RawConnection) => Promise<T>): Promise<T> {
  const c = await RawConnection.open({ host: LOOPBACK, port: port(nodeId) }, "group-failover-it");
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** FindCoordinator (v3) for a group, asked of `via`: the coordinator's node id, or undefined on error. */
async function findCoordinator(groupId: string, via: number): Promise<number | undefined> {
  const r = await withConnection(via, (c) =>
    c.request(ApiKey.FindCoordinator, 3, { key: groupId, keyType: 0 }),
  );
  return r.errorCode === 0 ? r.nodeId : undefined;
}

async function offsetFetchError(groupId: string, nodeId: number): Promise<number> {
  const r = await withConnection(nodeId, (c) =>
    c.request(ApiKey.OffsetFetch, 7, { groupId, topics: null, requireStable: false }),
  );
  return r.errorCode ?? 0;
}

async function createTopic(topic: string, partitions: number): Promise<void> {
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

async function produce(topic: string, values: string[]): Promise<void> {
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < values.length; i += 25) {
      await producer.send({
        topic,
        acks: -1,
        messages: values.slice(i, i + 25).map((value) => ({ key: value, value })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** The group's committed offsets of `topic` through a kafkajs admin (OffsetFetch at the coordinator). */
async function committed(groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = kafka("group-failover-admin").admin();
  await admin.connect();
  try {
    const res = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(res[0]!.partitions.map((p) => [p.partition, Number(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

interface Seen {
  values: string[];
  /** Next offset to read per partition (last consumed + 1). */
  next: Map<number, number>;
}

/** A consumer of `groupId` that commits every message it processes before taking the next one. */
async function startConsumer(groupId: string, topic: string, seen: Seen) {
  const consumer = kafka(`consumer-${groupId}`).consumer({
    groupId,
    maxWaitTimeInMs: 100,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      const next = Number(message.offset) + 1;
      await consumer.commitOffsets([{ topic, partition, offset: String(next) }]);
      seen.values.push(message.value!.toString());
      seen.next.set(partition, next);
    },
  });
  return consumer;
}

describe("group coordinator on __consumer_offsets", () => {
  test("the first FindCoordinator creates the internal topic; the coordinator is its partition's leader", async () => {
    const group = "g-placement";
    const coordinator = await waitFor("a coordinator", () => findCoordinator(group, 1));
    const md = await withConnection(1, (c) =>
      c.request(ApiKey.Metadata, 12, {
        topics: null,
        allowAutoTopicCreation: false,
        includeTopicAuthorizedOperations: false,
      }),
    );
    const t = md.topics.find((x) => x.name === OFFSETS_TOPIC)!;
    expect(t.isInternal).toBe(true);
    expect(t.partitions).toHaveLength(OFFSETS_PARTITIONS);
    expect(t.partitions.every((p) => p.replicaNodes.length === 3)).toBe(true);
    const p = t.partitions.find((x) => x.partitionIndex === groupPartition(group, OFFSETS_PARTITIONS))!;
    expect(coordinator).toBe(p.leaderId);
    // every broker names the same coordinator; the others refuse the group's requests
    for (const n of [1, 2, 3]) expect(await findCoordinator(group, n)).toBe(coordinator);
    await waitFor("the coordinator to load the partition", async () =>
      (await offsetFetchError(group, coordinator)) === 0 ? true : undefined,
    );
    for (const n of [1, 2, 3].filter((x) => x !== coordinator)) {
      expect(await offsetFetchError(group, n)).toBe(ERROR_CODES.NOT_COORDINATOR);
    }
    // clients may not write the internal topic
    const produced = await withConnection(coordinator, (c) =>
      c.request(ApiKey.Produce, 9, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 1000,
        topicData: [{ name: OFFSETS_TOPIC, partitionData: [{ index: 0, records: null }] }],
      }),
    );
    expect(produced.responses[0]!.partitionResponses[0]!.errorCode).toBe(ERROR_CODES.INVALID_TOPIC_EXCEPTION);
  }, 60_000);

  test("SIGKILL of the coordinator: committed offsets survive and a new consumer resumes from them", async () => {
    const topic = "gf-orders";
    const group = "gf-resume";
    await createTopic(topic, 3);
    const first = Array.from({ length: 150 }, (_, i) => `a${i}`);
    const second = Array.from({ length: 150 }, (_, i) => `b${i}`);
    await produce(topic, first);

    const seenA: Seen = { values: [], next: new Map() };
    const a = await startConsumer(group, topic, seenA);
    try {
      await waitFor(
        "the first 150 records",
        async () => (seenA.values.length >= 150 ? true : undefined),
        60_000,
      );
    } finally {
      await a.disconnect();
    }
    expect([...seenA.values].sort()).toEqual([...first].sort());
    const before = await committed(group, topic);
    expect(before).toEqual(seenA.next);

    const victim = (await findCoordinator(group, liveNodes()[0]!))!;
    expect(victim).toBeGreaterThan(0);
    await cluster.kill(victim);
    const survivor = liveNodes()[0]!;
    const successor = await waitFor("a new coordinator", async () => {
      const c = await findCoordinator(group, survivor);
      return c !== undefined && c !== victim ? c : undefined;
    });
    expect(liveNodes()).toContain(successor);

    // OffsetFetch from an admin after the failover: the same offsets
    const after = await waitFor("the committed offsets from the new coordinator", async () => {
      const m = await committed(group, topic);
      return [...m.values()].every((o) => o >= 0) ? m : undefined;
    });
    expect(after).toEqual(before);

    await produce(topic, second);
    const seenB: Seen = { values: [], next: new Map() };
    const b = await startConsumer(group, topic, seenB);
    try {
      await waitFor(
        "the next 150 records",
        async () => (seenB.values.length >= 150 ? true : undefined),
        60_000,
      );
      await sleep(1000); // nothing more may arrive: a re-read of the first 150 would show here
    } finally {
      await b.disconnect();
    }
    expect(seenB.values).toHaveLength(150);
    expect([...seenB.values].sort()).toEqual([...second].sort());

    // the killed broker comes back as a follower of the partition: it is not the group's coordinator
    await cluster.restart(victim);
    const now = await waitFor("a coordinator", () => findCoordinator(group, victim));
    if (now !== victim) expect(await offsetFetchError(group, victim)).toBe(ERROR_CODES.NOT_COORDINATOR);
    await waitFor("the restarted broker back in every ISR of __consumer_offsets", async () => {
      const ps = await describePartitions(cluster.bootstrapServers(), [OFFSETS_TOPIC]);
      return ps.every((p) => p.isr.includes(victim)) ? true : undefined;
    });
  }, 180_000);

  test("a group's membership and generation survive the coordinator's death (raw protocol)", async () => {
    const group = "gf-members";
    const topic = "gf-members-topic";
    await createTopic(topic, 1);
    const coordinator = await waitFor("a coordinator", () => findCoordinator(group, liveNodes()[0]!));
    const metadata = encodeSubscription({ topics: [topic] }, 1);
    const join = (memberId: string) =>
      withConnection(coordinator, (c) =>
        c.request(ApiKey.JoinGroup, 5, {
          groupId: group,
          sessionTimeoutMs: 30_000,
          rebalanceTimeoutMs: 30_000,
          memberId,
          groupInstanceId: null,
          protocolType: "consumer",
          protocols: [{ name: "range", metadata }],
        }),
      );
    const required = await waitFor("JoinGroup to reach the loaded coordinator", async () => {
      const r = await join("");
      return r.errorCode === ERROR_CODES.MEMBER_ID_REQUIRED ? r : undefined;
    });
    const joined = await join(required.memberId);
    expect(joined.errorCode).toBe(0);
    const { memberId, generationId } = joined;
    const synced = await withConnection(coordinator, (c) =>
      c.request(ApiKey.SyncGroup, 3, {
        groupId: group,
        generationId,
        memberId,
        groupInstanceId: null,
        assignments: [{ memberId, assignment: Buffer.from("assigned") }],
      }),
    );
    expect(synced.errorCode).toBe(0);
    const commit = (nodeId: number, offset: bigint) =>
      withConnection(nodeId, (c) =>
        c.request(ApiKey.OffsetCommit, 7, {
          groupId: group,
          generationIdOrMemberEpoch: generationId,
          memberId,
          groupInstanceId: null,
          topics: [
            {
              name: topic,
              partitions: [
                {
                  partitionIndex: 0,
                  committedOffset: offset,
                  committedLeaderEpoch: -1,
                  committedMetadata: "m",
                },
              ],
            },
          ],
        }),
      );
    expect((await commit(coordinator, 17n)).topics[0]!.partitions[0]!.errorCode).toBe(0);

    await cluster.kill(coordinator);
    const successor = await waitFor("a new coordinator", async () => {
      const c = await findCoordinator(group, liveNodes()[0]!);
      return c !== undefined && c !== coordinator ? c : undefined;
    });
    // The same member id and generation are valid at the new coordinator: no rejoin needed.
    const beat = await waitFor("a heartbeat accepted by the new coordinator", async () => {
      const r = await withConnection(successor, (c) =>
        c.request(ApiKey.Heartbeat, 3, { groupId: group, generationId, memberId, groupInstanceId: null }),
      );
      // (NOT_COORDINATOR only until the successor has applied the image that names it)
      const transient: number[] = [ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS, ERROR_CODES.NOT_COORDINATOR];
      return transient.includes(r.errorCode) ? undefined : r;
    });
    expect(beat.errorCode).toBe(0);
    const described = await withConnection(successor, (c) =>
      c.request(ApiKey.DescribeGroups, 5, { groups: [group], includeAuthorizedOperations: false }),
    );
    const g = described.groups[0]!;
    expect([g.errorCode, g.groupState, g.protocolData]).toEqual([0, "Stable", "range"]);
    expect(g.members.map((m) => [m.memberId, m.memberAssignment.toString()])).toEqual([
      [memberId, "assigned"],
    ]);
    const fetched = await withConnection(successor, (c) =>
      c.request(ApiKey.OffsetFetch, 7, { groupId: group, topics: null, requireStable: false }),
    );
    expect(fetched.topics?.[0]?.partitions[0]?.committedOffset).toBe(17n);
    expect((await commit(successor, 18n)).topics[0]!.partitions[0]!.errorCode).toBe(0);
    await cluster.restart(coordinator);
  }, 120_000);
});
