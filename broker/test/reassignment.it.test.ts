// Partition reassignment, preferred-leader election and fetch from follower (KIP-392) in the reference
// broker's cluster mode, through the harness: a 3-node cluster, one rack per node (r1, r2, r3), the
// rack-aware replica selector (replica.selector.class = RackAwareReplicaSelector).
//
// - AlterPartitionReassignments (kafkajs admin) moves a partition from node 1 to nodes 2 and 3: the new
//   replicas copy the log as followers, the reassignment stays listed (ListPartitionReassignments) while
//   a target is not in the ISR (a paused node), completes once both are, and the old replica's log is
//   deleted; a second move drops a follower, which stops fetching. Records written before each move are
//   read back from every new replica.
// - ElectLeaders PREFERRED moves leadership back to the first replica (then ELECTION_NOT_NEEDED).
// - A consumer Fetch (v11+) with a rack, sent to the leader, gets `preferredReadReplica` = the in-sync
//   follower in that rack and no records; that follower serves the records up to its high watermark;
//   older fetches and ListOffsets stay leader-only. node-rdkafka with `client.rack` follows the redirect.
// - The single-node broker answers the three APIs as a one-broker Kafka does.
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { describePartitions, findController } from "../../harness/cluster/leaders.ts";
import { LOOPBACK } from "../../harness/cluster/ports.ts";
import { ReferenceCluster } from "../../harness/targets/reference.ts";
import { RawConnection } from "../../protocol/client/connection.ts";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import { decodeRecords } from "../../protocol/records/index.ts";
import { waitFor } from "./wait-for.ts";

const { Kafka, logLevel } = kafkajs;
// node-rdkafka is CommonJS with a native addon.
const require = createRequire(import.meta.url);
const RdKafka = require("node-rdkafka") as typeof import("node-rdkafka");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rackOf = (nodeId: number) => `r${nodeId}`;

let cluster: ReferenceCluster;

function port(nodeId: number, c = cluster): number {
  return c.nodes().find((n) => n.nodeId === nodeId)!.port;
}

function bootstrap(nodeIds: number[]): string {
  return nodeIds.map((id) => `${LOOPBACK}:${port(id)}`).join(",");
}

function kafka(brokers = cluster.bootstrapServers().split(",")) {
  return new Kafka({
    clientId: "reassignment-it",
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 15, initialRetryTime: 100, maxRetryTime: 1000 },
  });
}

async function withConnection<T>(
  nodeId: number,
  fn: (c: RawConnection) => Promise<T>,
  c = cluster,
): Promise<T> {
  const conn = await RawConnection.open({ host: LOOPBACK, port: port(nodeId, c) }, "reassignment-it");
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

/** Bytes in a node's local log of a partition (-1 without a directory). */
function logBytes(nodeId: number, topic: string, partition = 0): number {
  const dir = join(cluster.nodes().find((n) => n.nodeId === nodeId)!.dataDir, `${topic}-${partition}`);
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(".log"))
      .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  } catch {
    return -1;
  }
}

async function partitionState(topic: string, nodes = [1, 2, 3]) {
  const parts = await describePartitions(bootstrap(nodes), [topic]);
  return parts.find((p) => p.partition === 0)!;
}

async function produce(topic: string, values: string[]): Promise<void> {
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < values.length; i += 10) {
      await producer.send({
        topic,
        acks: -1,
        messages: values.slice(i, i + 10).map((value) => ({ value })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

interface FetchOptions {
  version?: number;
  rackId?: string;
  offset?: number;
  maxWaitMs?: number;
}

/** One consumer Fetch (replica id -1, topic names: v4..v12) of partition 0, sent to `nodeId`. */
async function fetchFrom(nodeId: number, topic: string, o: FetchOptions = {}) {
  const version = o.version ?? 12;
  const res = await withConnection(nodeId, (c) =>
    c.request(ApiKey.Fetch, version, {
      replicaId: -1,
      maxWaitMs: o.maxWaitMs ?? 0,
      minBytes: 1,
      maxBytes: 10 << 20,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic,
          partitions: [
            {
              partition: 0,
              currentLeaderEpoch: -1,
              fetchOffset: BigInt(o.offset ?? 0),
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
              partitionMaxBytes: 10 << 20,
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: o.rackId ?? "",
    }),
  );
  const p = res.responses[0]!.partitions[0]!;
  return {
    errorCode: p.errorCode,
    highWatermark: Number(p.highWatermark),
    preferredReadReplica: p.preferredReadReplica ?? -1,
    values: decodeRecords(p.records ?? Buffer.alloc(0)).map((r) => r.value?.toString() ?? ""),
  };
}

/** Every record of partition 0 as `nodeId` serves it to a consumer (v12: followers serve too). */
async function readAll(nodeId: number, topic: string, expected: number): Promise<string[]> {
  return waitFor(`${expected} records of ${topic} from node ${nodeId}`, async () => {
    const values: string[] = [];
    for (;;) {
      const r = await fetchFrom(nodeId, topic, { offset: values.length });
      if (r.errorCode !== 0) throw new Error(`fetch from node ${nodeId}: error ${r.errorCode}`);
      if (r.values.length === 0) break;
      values.push(...r.values);
    }
    return values.length === expected ? values : undefined;
  });
}

async function electPreferred(nodeId: number, topic: string, version = 2) {
  const res = await withConnection(nodeId, (c) =>
    c.request(ApiKey.ElectLeaders, version, {
      electionType: 0,
      topicPartitions: [{ topic, partitions: [0] }],
      timeoutMs: 10_000,
    }),
  );
  return res.replicaElectionResults[0]!.partitionResult[0]!;
}

const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe("cluster mode", () => {
  beforeAll(async () => {
    cluster = new ReferenceCluster({
      nodes: 3,
      racks: [rackOf(1), rackOf(2), rackOf(3)],
      config: {
        "default.replication.factor": 3,
        "replica.lag.time.max.ms": 3000,
        "replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector",
      },
    });
    await cluster.start();
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  test("a reassignment copies the log to the new replicas, completes once they are in sync, drops the old ones; ElectLeaders restores the preferred leader", async () => {
    const topic = "move";
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, replicaAssignment: [{ partition: 0, replicas: [1] }] }],
      });
    } finally {
      await admin.disconnect();
    }
    const first = values("a", 100);
    await produce(topic, first);
    // (no directory yet, or an empty one: nodes 2 and 3 are not replicas)
    expect(logBytes(2, topic)).toBeLessThanOrEqual(0);
    expect(logBytes(3, topic)).toBeLessThanOrEqual(0);

    // 1 → [2, 3], with one target paused: the reassignment stays in progress until it is in sync.
    const controller = await findController(cluster.bootstrapServers());
    const active = controller.activeController ?? controller.controllerId;
    const paused = active === 3 ? 2 : 3;
    const up = [1, 2, 3].filter((n) => n !== paused);
    const upAdmin = kafka(bootstrap(up).split(",")).admin();
    await upAdmin.connect();
    await cluster.pause(paused);
    try {
      await upAdmin.alterPartitionReassignments({
        topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [2, 3] }] }],
      });
      const ongoing = await upAdmin.listPartitionReassignments({ topics: [{ topic, partitions: [0] }] });
      // (kafkajs's types say topic/partitionIndex; its decoder returns name/partition)
      expect(ongoing.topics as unknown).toEqual([
        {
          name: topic,
          partitions: [{ partition: 0, replicas: [2, 3, 1], addingReplicas: [2, 3], removingReplicas: [1] }],
        },
      ]);
      const during = await partitionState(topic, up);
      expect(during.replicas).toEqual([2, 3, 1]);
      expect(during.leader).toBe(1);
      await sleep(1000);
      expect((await partitionState(topic, up)).isr).not.toContain(paused);
    } finally {
      await cluster.resume(paused);
      await upAdmin.disconnect();
    }
    const moved = await waitFor("the reassignment to [2, 3] to complete", async () => {
      const s = await partitionState(topic);
      return s.replicas.join() === "2,3" && s.isr.join() === "2,3" ? s : undefined;
    });
    expect([2, 3]).toContain(moved.leader);
    const admin2 = kafka().admin();
    await admin2.connect();
    try {
      expect((await admin2.listPartitionReassignments({})).topics).toEqual([]);
    } finally {
      await admin2.disconnect();
    }
    // the old replica's log is deleted; the new ones hold the same bytes and serve every record
    await waitFor("node 1's copy to be deleted", async () => (logBytes(1, topic) === 0 ? true : undefined));
    await waitFor("equal logs on nodes 2 and 3", async () =>
      logBytes(2, topic) > 0 && logBytes(2, topic) === logBytes(3, topic) ? true : undefined,
    );
    expect(await readAll(2, topic, 100)).toEqual(first);
    expect(await readAll(3, topic, 100)).toEqual(first);
    await expect(fetchFrom(1, topic)).resolves.toMatchObject({
      errorCode: ERROR_CODES.NOT_LEADER_OR_FOLLOWER,
    });

    // [2, 3] → [1, leader]: node 1 comes back, the other follower is dropped and stops fetching.
    const leader = moved.leader;
    const dropped = leader === 2 ? 3 : 2;
    const admin3 = kafka().admin();
    await admin3.connect();
    try {
      await admin3.alterPartitionReassignments({
        topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [1, leader] }] }],
      });
    } finally {
      await admin3.disconnect();
    }
    const back = await waitFor("the reassignment to [1, leader] to complete", async () => {
      const s = await partitionState(topic);
      return s.replicas.join() === `1,${leader}` && s.isr.length === 2 ? s : undefined;
    });
    expect(back.leader).toBe(leader);
    await waitFor(`node ${dropped}'s copy to be deleted`, async () =>
      logBytes(dropped, topic) === 0 ? true : undefined,
    );
    const second = values("b", 50);
    await produce(topic, second);
    expect(await readAll(1, topic, 150)).toEqual([...first, ...second]);
    expect(await readAll(leader, topic, 150)).toEqual([...first, ...second]);
    await sleep(1500);
    expect(logBytes(dropped, topic)).toBe(0); // it no longer fetches

    // the preferred replica (1) is in sync but does not lead: ElectLeaders PREFERRED moves leadership to it
    const elected = await electPreferred(dropped, topic);
    expect(elected).toMatchObject({ partitionId: 0, errorCode: 0 });
    const after = await waitFor("node 1 to lead", async () => {
      const s = await partitionState(topic);
      return s.leader === 1 ? s : undefined;
    });
    expect(after.leaderEpoch).toBeGreaterThan(back.leaderEpoch);
    expect(await electPreferred(leader, topic)).toMatchObject({
      errorCode: ERROR_CODES.ELECTION_NOT_NEEDED,
    });
    expect(await electPreferred(1, topic, 0)).toMatchObject({ errorCode: ERROR_CODES.ELECTION_NOT_NEEDED });
    const third = values("c", 10);
    await produce(topic, third);
    expect(await readAll(1, topic, 160)).toEqual([...first, ...second, ...third]);
  }, 120_000);

  test("reassignment errors: unknown broker, empty list, cancelling none, unknown partition", async () => {
    const topic = "move-errors";
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    } finally {
      await admin.disconnect();
    }
    const res = await withConnection(2, (c) =>
      c.request(ApiKey.AlterPartitionReassignments, 0, {
        timeoutMs: 10_000,
        topics: [
          {
            name: topic,
            partitions: [
              { partitionIndex: 0, replicas: [1, 9] },
              { partitionIndex: 1, replicas: [1] },
            ],
          },
          { name: "no-such-topic", partitions: [{ partitionIndex: 0, replicas: null }] },
        ],
      }),
    );
    expect(res.errorCode).toBe(0);
    expect(
      res.responses.map((t) => t.partitions.map((p) => [t.name, p.partitionIndex, p.errorCode])),
    ).toEqual([
      [
        [topic, 0, ERROR_CODES.INVALID_REPLICA_ASSIGNMENT],
        [topic, 1, ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION],
      ],
      [["no-such-topic", 0, ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION]],
    ]);
    const cancel = await withConnection(3, (c) =>
      c.request(ApiKey.AlterPartitionReassignments, 0, {
        timeoutMs: 10_000,
        topics: [
          {
            name: topic,
            partitions: [
              { partitionIndex: 0, replicas: null },
              { partitionIndex: 0, replicas: [] },
            ],
          },
        ],
      }),
    );
    expect(cancel.responses[0]!.partitions.map((p) => p.errorCode)).toEqual([
      ERROR_CODES.NO_REASSIGNMENT_IN_PROGRESS,
      ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
    ]);
    const list = await withConnection(1, (c) =>
      c.request(ApiKey.ListPartitionReassignments, 0, { timeoutMs: 10_000, topics: null }),
    );
    expect(list).toMatchObject({ errorCode: 0, topics: [] });
  }, 60_000);

  test("fetch from follower: the leader names an in-sync replica in the consumer's rack, which serves the records", async () => {
    const topic = "racks";
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, replicaAssignment: [{ partition: 0, replicas: [1, 2, 3] }] }],
      });
    } finally {
      await admin.disconnect();
    }
    const written = values("r", 20);
    await produce(topic, written);
    const st = await waitFor("ISR of 3", async () => {
      const s = await partitionState(topic);
      return s.isr.length === 3 ? s : undefined;
    });
    const leader = st.leader;
    const follower = st.replicas.find((r) => r !== leader)!;
    // the follower's high watermark catches up with the leader's
    await waitFor("the follower's high watermark", async () =>
      (await fetchFrom(follower, topic, { rackId: rackOf(follower) })).highWatermark === 20
        ? true
        : undefined,
    );

    // to the leader, from the follower's rack: redirected, no records, at once (even with a long max wait)
    const started = Date.now();
    const redirected = await fetchFrom(leader, topic, { rackId: rackOf(follower), maxWaitMs: 5000 });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(redirected).toEqual({
      errorCode: 0,
      highWatermark: 20,
      preferredReadReplica: follower,
      values: [],
    });
    // v11 carries the rack too
    expect(
      (await fetchFrom(leader, topic, { version: 11, rackId: rackOf(follower) })).preferredReadReplica,
    ).toBe(follower);
    // the follower serves the records (it never redirects)
    const fromFollower = await fetchFrom(follower, topic, { rackId: rackOf(follower) });
    expect(fromFollower).toMatchObject({ errorCode: 0, highWatermark: 20, preferredReadReplica: -1 });
    expect(fromFollower.values).toEqual(written);
    // from the leader's own rack, without a rack, or from an unknown rack: the leader serves
    for (const rackId of [rackOf(leader), "", "elsewhere"]) {
      const r = await fetchFrom(leader, topic, { rackId });
      expect(r.preferredReadReplica, rackId).toBe(-1);
      expect(r.values, rackId).toEqual(written);
    }
    // before v11 (no client metadata) and ListOffsets: leader only
    expect((await fetchFrom(follower, topic, { version: 10 })).errorCode).toBe(
      ERROR_CODES.NOT_LEADER_OR_FOLLOWER,
    );
    const offsets = await withConnection(follower, (c) =>
      c.request(ApiKey.ListOffsets, 7, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [
          {
            name: topic,
            partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n, maxNumOffsets: 1 }],
          },
        ],
      }),
    );
    expect(offsets.topics[0]!.partitions[0]!.errorCode).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);

    // node-rdkafka with client.rack follows the redirect to the follower and reads everything
    const logs: string[] = [];
    const consumer = new RdKafka.KafkaConsumer(
      {
        "metadata.broker.list": cluster.bootstrapServers(),
        "group.id": "reassignment-it-rdkafka",
        "enable.auto.commit": false,
        "client.rack": rackOf(follower),
        debug: "fetch",
        event_cb: true,
      },
      {},
    );
    consumer.on("event.log", (l: { message: string }) => logs.push(l.message));
    await new Promise<void>((resolve, reject) => {
      consumer.once("ready", () => resolve());
      consumer.once("connection.failure", (e) => reject(e));
      consumer.connect();
    });
    const consumed: string[] = [];
    try {
      consumer.assign([{ topic, partition: 0, offset: 0 }]);
      const deadline = Date.now() + 30_000;
      while (consumed.length < written.length && Date.now() < deadline) {
        const batch = await new Promise<import("node-rdkafka").Message[]>((resolve, reject) =>
          consumer.consume(100, (err, msgs) => (err ? reject(err) : resolve(msgs))),
        );
        for (const m of batch) consumed.push(String(m.value));
      }
    } finally {
      await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
    }
    expect(consumed).toEqual(written);
    expect(
      logs.some((m) =>
        new RegExp(`migrating from broker ${leader} to ${follower} .*preferred replica updated`).test(m),
      ),
      logs.filter((m) => m.includes(topic)).join("\n"),
    ).toBe(true);
  }, 90_000);
});

describe("single node", () => {
  let single: ReferenceCluster;

  beforeAll(async () => {
    single = new ReferenceCluster({ nodes: 1 });
    await single.start();
  }, 60_000);

  afterAll(async () => {
    await single?.stop();
  });

  test("ElectLeaders and the reassignment APIs are answered as by a one-broker Kafka", async () => {
    const topic = "solo";
    await withConnection(
      1,
      async (c) => {
        const created = await c.request(ApiKey.CreateTopics, 7, {
          topics: [{ name: topic, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
          timeoutMs: 5000,
          validateOnly: false,
        });
        expect(created.topics[0]!.errorCode).toBe(0);
        const versions = await c.request(ApiKey.ApiVersions, 3, {
          clientSoftwareName: "raw",
          clientSoftwareVersion: "1.0",
        });
        const range = (key: number) => {
          const k = versions.apiKeys.find((a) => a.apiKey === key);
          return k ? [k.minVersion, k.maxVersion] : undefined;
        };
        expect(range(ApiKey.ElectLeaders)).toEqual([0, 2]);
        expect(range(ApiKey.AlterPartitionReassignments)).toEqual([0, 0]);
        expect(range(ApiKey.ListPartitionReassignments)).toEqual([0, 0]);

        const elect = await c.request(ApiKey.ElectLeaders, 2, {
          electionType: 0,
          topicPartitions: [{ topic, partitions: [0, 5] }],
          timeoutMs: 1000,
        });
        expect(elect.errorCode).toBe(0);
        expect(elect.replicaElectionResults[0]!.partitionResult.map((p) => p.errorCode)).toEqual([
          ERROR_CODES.ELECTION_NOT_NEEDED,
          ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
        ]);
        const all = await c.request(ApiKey.ElectLeaders, 1, {
          electionType: 1,
          topicPartitions: null,
          timeoutMs: 1000,
        });
        expect(all).toMatchObject({ errorCode: 0, replicaElectionResults: [] });

        const alter = await c.request(ApiKey.AlterPartitionReassignments, 0, {
          timeoutMs: 1000,
          topics: [
            {
              name: topic,
              partitions: [
                { partitionIndex: 0, replicas: [1] },
                { partitionIndex: 0, replicas: [2] },
                { partitionIndex: 0, replicas: null },
              ],
            },
          ],
        });
        expect(alter.responses[0]!.partitions.map((p) => p.errorCode)).toEqual([
          0,
          ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
          ERROR_CODES.NO_REASSIGNMENT_IN_PROGRESS,
        ]);
        const list = await c.request(ApiKey.ListPartitionReassignments, 0, {
          timeoutMs: 1000,
          topics: [{ name: topic, partitionIndexes: [0] }],
        });
        expect(list).toMatchObject({ errorCode: 0, topics: [] });
      },
      single,
    );
  }, 30_000);
});
