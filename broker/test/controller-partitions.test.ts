import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import type { AlterPartitionRequest } from "../../protocol/generated/alter-partition-request.ts";
import { NO_LEADER } from "../controller/metadata-image.ts";
import { TestCluster } from "./controller-helpers.ts";

interface IsrChange {
  broker: number;
  isr: number[];
  leaderEpoch?: number;
  partitionEpoch?: number;
  brokerEpoch?: bigint;
  recovery?: number;
}

function alterIsr(c: TestCluster, topic: string, index: number, ch: IsrChange, version = 3) {
  const p = c.partition(topic, index);
  const req: AlterPartitionRequest = {
    brokerId: ch.broker,
    brokerEpoch: ch.brokerEpoch ?? c.image.brokers.get(ch.broker)!.epoch,
    topics: [
      {
        ...(version >= 2 ? { topicId: c.topicId(topic) } : { topicName: topic }),
        partitions: [
          {
            partitionIndex: index,
            leaderEpoch: ch.leaderEpoch ?? p.leaderEpoch,
            partitionEpoch: ch.partitionEpoch ?? p.partitionEpoch,
            leaderRecoveryState: ch.recovery ?? 0,
            ...(version >= 3
              ? { newIsrWithEpochs: ch.isr.map((brokerId) => ({ brokerId, brokerEpoch: -1n })) }
              : { newIsr: ch.isr }),
          },
        ],
      },
    ],
  };
  return c.controller.alterPartition(c.image, req, version);
}

function partitionError(r: ReturnType<typeof alterIsr>): number {
  expect(r.response.errorCode).toBe(0);
  return r.response.topics[0].partitions[0].errorCode;
}

describe("controller: AlterPartition", () => {
  function setup(): TestCluster {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3]);
    c.createAssigned("t", [[1, 2, 3]]);
    return c;
  }

  it("shrinks and expands the ISR, bumping only the partition epoch", () => {
    const c = setup();
    const p = c.partition("t", 0);
    const shrink = alterIsr(c, "t", 0, { broker: 1, isr: [1, 2] });
    expect(partitionError(shrink)).toBe(0);
    const res = c.commit(shrink).topics[0].partitions[0];
    expect(res).toMatchObject({
      leaderId: 1,
      leaderEpoch: p.leaderEpoch,
      isr: [1, 2],
      partitionEpoch: p.partitionEpoch + 1,
    });
    expect(c.partition("t", 0)).toMatchObject({
      isr: [1, 2],
      leaderEpoch: p.leaderEpoch,
      partitionEpoch: p.partitionEpoch + 1,
    });
    c.commit(alterIsr(c, "t", 0, { broker: 1, isr: [1, 2, 3] }));
    expect(c.partition("t", 0).isr).toEqual([1, 2, 3]);
    expect(c.partition("t", 0).partitionEpoch).toBe(p.partitionEpoch + 2);
  });

  it("checks epochs and leadership in Kafka's order", () => {
    const c = setup();
    const p = c.partition("t", 0);
    // Move leadership once so there is a stale leader epoch to send.
    c.commit(alterIsr(c, "t", 0, { broker: 1, isr: [1, 2] }));
    const cur = c.partition("t", 0);
    expect(
      partitionError(alterIsr(c, "t", 0, { broker: 1, isr: [1], leaderEpoch: cur.leaderEpoch - 1 })),
    ).toBe(ERROR_CODES.FENCED_LEADER_EPOCH);
    expect(
      partitionError(alterIsr(c, "t", 0, { broker: 1, isr: [1], leaderEpoch: cur.leaderEpoch + 1 })),
    ).toBe(ERROR_CODES.NOT_CONTROLLER);
    expect(
      partitionError(alterIsr(c, "t", 0, { broker: 1, isr: [1], partitionEpoch: p.partitionEpoch })),
    ).toBe(ERROR_CODES.INVALID_UPDATE_VERSION);
    expect(partitionError(alterIsr(c, "t", 0, { broker: 2, isr: [2] }))).toBe(ERROR_CODES.INVALID_REQUEST);
    expect(partitionError(alterIsr(c, "t", 0, { broker: 1, isr: [1, 7] }))).toBe(ERROR_CODES.INVALID_REQUEST);
    expect(partitionError(alterIsr(c, "t", 0, { broker: 1, isr: [2] }))).toBe(ERROR_CODES.INVALID_REQUEST);
    expect(partitionError(alterIsr(c, "t", 0, { broker: 1, isr: [1, 2], recovery: 1 }))).toBe(
      ERROR_CODES.INVALID_REQUEST,
    );
    const stale = alterIsr(c, "t", 0, { broker: 1, isr: [1], brokerEpoch: 1n });
    expect(stale.response.errorCode).toBe(ERROR_CODES.STALE_BROKER_EPOCH);
    // Unknown topic id (v2+) vs unknown name (v0/v1).
    const unknownId = c.controller.alterPartition(
      c.image,
      {
        brokerId: 1,
        brokerEpoch: c.image.brokers.get(1)!.epoch,
        topics: [
          {
            topicId: "00000000-0000-4000-8000-00000000beef",
            partitions: [{ partitionIndex: 0, leaderEpoch: 0, partitionEpoch: 0, newIsrWithEpochs: [] }],
          },
        ],
      },
      3,
    );
    expect(partitionError(unknownId)).toBe(ERROR_CODES.UNKNOWN_TOPIC_ID);
    const unknownName = c.controller.alterPartition(
      c.image,
      {
        brokerId: 1,
        brokerEpoch: c.image.brokers.get(1)!.epoch,
        topics: [
          {
            topicName: "nope",
            partitions: [{ partitionIndex: 0, leaderEpoch: 0, partitionEpoch: 0, newIsr: [1] }],
          },
        ],
      },
      1,
    );
    expect(partitionError(unknownName)).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
    // Nothing above produced a record.
    for (const r of [stale, unknownId, unknownName]) expect(r.records).toEqual([]);
  });

  it("refuses fenced or shutting-down ISR members: INELIGIBLE_REPLICA (v2+), OPERATION_NOT_ATTEMPTED before", () => {
    const c = setup();
    c.commit(alterIsr(c, "t", 0, { broker: 1, isr: [1, 2] }));
    // Broker 3 goes into controlled shutdown: it may not rejoin.
    c.heartbeat(3, { wantShutDown: true });
    expect(partitionError(alterIsr(c, "t", 0, { broker: 1, isr: [1, 2, 3] }))).toBe(
      ERROR_CODES.INELIGIBLE_REPLICA,
    );
    expect(partitionError(alterIsr(c, "t", 0, { broker: 1, isr: [1, 2, 3] }, 1))).toBe(
      ERROR_CODES.OPERATION_NOT_ATTEMPTED,
    );
  });
});

describe("controller: ElectLeaders", () => {
  it("moves leadership back to the preferred replica; reports ELECTION_NOT_NEEDED and unavailable cases", () => {
    const c = new TestCluster({ sessionTimeoutMs: 3000 });
    c.startBrokers([1, 2, 3]);
    c.createAssigned("t", [
      [1, 2, 3],
      [2, 3, 1],
    ]);
    c.advance(5000, [2, 3]); // broker 1 fenced: t-0 moves to 2
    expect(c.partition("t", 0).leader).toBe(2);
    const unavailable = c.controller.electLeaders(c.image, {
      electionType: 0,
      topicPartitions: [{ topic: "t", partitions: [0, 1, 9] }],
      timeoutMs: 1,
    });
    expect(unavailable.response.replicaElectionResults[0].partitionResult.map((r) => r.errorCode)).toEqual([
      ERROR_CODES.PREFERRED_LEADER_NOT_AVAILABLE,
      ERROR_CODES.ELECTION_NOT_NEEDED,
      ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
    ]);
    // Broker 1 returns and the leader puts it back in the ISR.
    c.register(1);
    c.heartbeat(1);
    c.commit(alterIsr(c, "t", 0, { broker: 2, isr: [2, 3, 1] }));
    const epoch = c.partition("t", 0).leaderEpoch;
    const all = c.commit(
      c.controller.electLeaders(c.image, { electionType: 0, topicPartitions: null, timeoutMs: 1 }),
    );
    // All partitions: those not needing an election are left out.
    expect(all.replicaElectionResults).toEqual([
      { topic: "t", partitionResult: [{ partitionId: 0, errorCode: 0, errorMessage: null }] },
    ]);
    expect(c.partition("t", 0)).toMatchObject({ leader: 1, leaderEpoch: epoch + 1 });
  });

  it("unclean election only for leaderless partitions", () => {
    const c = new TestCluster({ sessionTimeoutMs: 3000 });
    c.startBrokers([1, 2]);
    c.createAssigned("t", [[1, 2]]);
    c.commit(alterIsr(c, "t", 0, { broker: 1, isr: [1] }));
    c.advance(5000, [2]);
    expect(c.partition("t", 0).leader).toBe(NO_LEADER);
    const r = c.commit(
      c.controller.electLeaders(c.image, {
        electionType: 1,
        topicPartitions: [{ topic: "t", partitions: [0] }],
        timeoutMs: 1,
      }),
    );
    expect(r.replicaElectionResults[0].partitionResult[0].errorCode).toBe(0);
    expect(c.partition("t", 0)).toMatchObject({ leader: 2, isr: [2], leaderRecoveryState: 1 });
    const again = c.controller.electLeaders(c.image, {
      electionType: 1,
      topicPartitions: [{ topic: "t", partitions: [0] }],
      timeoutMs: 1,
    });
    expect(again.response.replicaElectionResults[0].partitionResult[0].errorCode).toBe(
      ERROR_CODES.ELECTION_NOT_NEEDED,
    );
    // The recovering leader reports RECOVERED, then may grow the ISR.
    c.commit(alterIsr(c, "t", 0, { broker: 2, isr: [2], recovery: 0 }));
    expect(c.partition("t", 0).leaderRecoveryState).toBe(0);
  });
});

describe("controller: partition reassignment", () => {
  it("adds replicas, completes when they join the ISR (new leader, epoch bump), and lists progress", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3, 4, 5]);
    c.createAssigned("t", [[1, 2, 3]]);
    const start = c.partition("t", 0);
    const r = c.commit(
      c.controller.alterPartitionReassignments(c.image, {
        timeoutMs: 1,
        topics: [
          { name: "t", partitions: [{ partitionIndex: 0, replicas: [4, 5, 1] }] },
          { name: "missing", partitions: [{ partitionIndex: 0, replicas: [1] }] },
        ],
      }),
    );
    expect(r.responses.map((t) => t.partitions[0].errorCode)).toEqual([
      0,
      ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
    ]);
    const mid = c.partition("t", 0);
    expect(mid).toMatchObject({
      replicas: [4, 5, 1, 2, 3],
      addingReplicas: [4, 5],
      removingReplicas: [2, 3],
      isr: [1, 2, 3],
      leader: 1,
      leaderEpoch: start.leaderEpoch,
    });
    const listed = c.controller.listPartitionReassignments(c.image, { timeoutMs: 1, topics: null });
    expect(listed.topics).toEqual([
      {
        name: "t",
        partitions: [
          { partitionIndex: 0, replicas: [4, 5, 1, 2, 3], addingReplicas: [4, 5], removingReplicas: [2, 3] },
        ],
      },
    ]);
    // One new replica catches up: still in progress.
    c.commit(alterIsr(c, "t", 0, { broker: 1, isr: [1, 2, 3, 4] }));
    expect(c.partition("t", 0).addingReplicas).toEqual([4, 5]);
    // The last one catches up: the reassignment completes; leader 1 stays (it is in the target).
    const done = c.commit(alterIsr(c, "t", 0, { broker: 1, isr: [1, 2, 3, 4, 5] }));
    expect(done.topics[0].partitions[0].errorCode).toBe(0);
    const end = c.partition("t", 0);
    expect(end).toMatchObject({
      replicas: [4, 5, 1],
      isr: [1, 4, 5],
      addingReplicas: [],
      removingReplicas: [],
      leader: 1,
    });
    // Replicas were removed: the leader epoch is bumped so the removed replicas are fenced.
    expect(end.leaderEpoch).toBe(start.leaderEpoch + 1);
    expect(c.controller.listPartitionReassignments(c.image, { timeoutMs: 1, topics: null }).topics).toEqual(
      [],
    );
  });

  it("moving the leader out: completion elects a target replica and answers NEW_LEADER_ELECTED", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3, 4]);
    c.createAssigned("t", [[1, 2]]);
    c.commit(
      c.controller.alterPartitionReassignments(c.image, {
        timeoutMs: 1,
        topics: [{ name: "t", partitions: [{ partitionIndex: 0, replicas: [3, 4] }] }],
      }),
    );
    const before = c.partition("t", 0);
    const r = c.commit(alterIsr(c, "t", 0, { broker: 1, isr: [1, 2, 3, 4] }));
    expect(r.topics[0].partitions[0].errorCode).toBe(ERROR_CODES.NEW_LEADER_ELECTED);
    expect(c.partition("t", 0)).toMatchObject({
      replicas: [3, 4],
      isr: [3, 4],
      leader: 3,
      leaderEpoch: before.leaderEpoch + 1,
    });
  });

  it("a reassignment to replicas already in sync completes at once; cancel restores the original", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3, 4]);
    c.createAssigned("a", [[1, 2, 3]]);
    c.createAssigned("b", [[1, 2]]);
    c.commit(
      c.controller.alterPartitionReassignments(c.image, {
        timeoutMs: 1,
        topics: [{ name: "a", partitions: [{ partitionIndex: 0, replicas: [2, 1] }] }],
      }),
    );
    expect(c.partition("a", 0)).toMatchObject({
      replicas: [2, 1],
      isr: [1, 2],
      addingReplicas: [],
      removingReplicas: [],
    });
    const none = c.controller.alterPartitionReassignments(c.image, {
      timeoutMs: 1,
      topics: [{ name: "b", partitions: [{ partitionIndex: 0, replicas: null }] }],
    });
    expect(none.response.responses[0].partitions[0].errorCode).toBe(ERROR_CODES.NO_REASSIGNMENT_IN_PROGRESS);
    c.commit(
      c.controller.alterPartitionReassignments(c.image, {
        timeoutMs: 1,
        topics: [{ name: "b", partitions: [{ partitionIndex: 0, replicas: [3, 4] }] }],
      }),
    );
    expect(c.partition("b", 0).addingReplicas).toEqual([3, 4]);
    c.commit(
      c.controller.alterPartitionReassignments(c.image, {
        timeoutMs: 1,
        topics: [{ name: "b", partitions: [{ partitionIndex: 0, replicas: null }] }],
      }),
    );
    expect(c.partition("b", 0)).toMatchObject({
      replicas: [1, 2],
      isr: [1, 2],
      addingReplicas: [],
      removingReplicas: [],
      leader: 1,
    });
    const bad = c.controller.alterPartitionReassignments(c.image, {
      timeoutMs: 1,
      topics: [{ name: "b", partitions: [{ partitionIndex: 0, replicas: [1, 9] }] }],
    });
    expect(bad.response.responses[0].partitions[0].errorCode).toBe(ERROR_CODES.INVALID_REPLICA_ASSIGNMENT);
  });
});
