import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { checkImageInvariants } from "../controller/invariants.ts";
import { applyRecords, NO_LEADER, RECOVERING } from "../controller/metadata-image.ts";
import { TestCluster } from "./controller-helpers.ts";

describe("controller: broker registration", () => {
  it("registers a broker fenced with a fresh epoch, and unfences it once caught up", () => {
    const c = new TestCluster();
    const epoch = c.register(1, "r1");
    const b = c.image.brokers.get(1)!;
    expect(b.fenced).toBe(true);
    expect(b.epoch).toBe(epoch);
    expect(b.rack).toBe("r1");
    expect(b.endpoints.get("PLAINTEXT")).toEqual({ host: "broker1.local", port: 9092, securityProtocol: 0 });
    // Behind its own registration: stays fenced.
    const behind = c.heartbeat(1, { offset: Number(epoch) - 1 });
    expect(behind).toMatchObject({ errorCode: 0, isFenced: true, isCaughtUp: false });
    expect(c.image.brokers.get(1)!.fenced).toBe(true);
    const hb = c.heartbeat(1);
    expect(hb).toMatchObject({ errorCode: 0, isFenced: false, isCaughtUp: true, shouldShutDown: false });
    expect(c.image.brokers.get(1)!.fenced).toBe(false);
  });

  it("refuses a different cluster id with INCONSISTENT_CLUSTER_ID", () => {
    const c = new TestCluster();
    const req = { ...c.registrationRequest(1), clusterId: "someone-else" };
    const r = c.controller.registerBroker(c.image, req, c.now);
    expect(r.records).toEqual([]);
    expect(r.response.errorCode).toBe(ERROR_CODES.INCONSISTENT_CLUSTER_ID);
  });

  it("refuses a second incarnation while the first one's session is alive, accepts it after expiry", () => {
    const c = new TestCluster({ sessionTimeoutMs: 5000 });
    c.startBrokers([1]);
    const dup = c.controller.registerBroker(c.image, c.registrationRequest(1, null, 1), c.now + 1000);
    expect(dup.response.errorCode).toBe(ERROR_CODES.DUPLICATE_BROKER_REGISTRATION);
    expect(dup.records).toEqual([]);
    // The same incarnation may re-register (a retry): new epoch, fenced again.
    const before = c.image.brokers.get(1)!.epoch;
    const again = c.register(1);
    expect(again > before).toBe(true);
    expect(c.image.brokers.get(1)!.fenced).toBe(true);
    // Once the session has expired another incarnation may take the id.
    c.now += 6000;
    const later = c.controller.registerBroker(c.image, c.registrationRequest(1, null, 1), c.now);
    expect(later.response.errorCode).toBe(0);
  });

  it("answers heartbeats from unknown brokers and stale epochs with errors", () => {
    const c = new TestCluster();
    c.startBrokers([1]);
    const unknown = c.controller.brokerHeartbeat(
      c.image,
      { brokerId: 9, brokerEpoch: 1n, currentMetadataOffset: 0n, wantFence: false, wantShutDown: false },
      c.now,
    );
    expect(unknown.response.errorCode).toBe(ERROR_CODES.BROKER_ID_NOT_REGISTERED);
    const stale = c.controller.brokerHeartbeat(
      c.image,
      {
        brokerId: 1,
        brokerEpoch: c.image.brokers.get(1)!.epoch - 1n,
        currentMetadataOffset: 0n,
        wantFence: false,
        wantShutDown: false,
      },
      c.now,
    );
    expect(stale.response.errorCode).toBe(ERROR_CODES.STALE_BROKER_EPOCH);
  });
});

describe("controller: session expiry, fencing and re-election", () => {
  it("a new controller back-dates sessions from when it last heard each node, by at most half a session", () => {
    const c = new TestCluster({ sessionTimeoutMs: 3000 });
    c.startBrokers([1, 2, 3]);
    // Node 1 (the old controller) died 1 s before this controller took over; node 2 was heard 10 s ago
    // (a follower that talks only to the leader); node 3 has no Raft record (a broker, not a voter).
    const heard = new Map([
      [1, c.now - 1000],
      [2, c.now - 10_000],
    ]);
    c.controller.resetSessions(c.now, heard);
    // ticks only answer (their records are not applied), so each one sees every broker unfenced
    const fencedAt = (ms: number) => c.controller.tick(c.image, c.now + ms).response.fenced;
    // node 2's session runs from half a session ago, node 1's from its death, node 3's from now
    expect(fencedAt(1400)).toEqual([]);
    expect(fencedAt(1600)).toEqual([2]);
    expect(fencedAt(2100)).toEqual([1, 2]);
    // without the record every session starts now
    c.controller.resetSessions();
    c.controller.tick(c.image, c.now);
    expect(c.controller.tick(c.image, c.now + 2900).response.fenced).toEqual([]);
  });

  it("a heartbeat noted on arrival renews the session even while its decision still waits", () => {
    const c = new TestCluster({ sessionTimeoutMs: 3000 });
    c.startBrokers([1, 2]);
    c.controller.resetSessions();
    c.controller.tick(c.image, c.now);
    const epoch = c.image.brokers.get(1)!.epoch;
    // a stale epoch or an unknown broker renews nothing
    c.controller.noteHeartbeat(c.image, 1, epoch + 1n, c.now + 2500);
    c.controller.noteHeartbeat(c.image, 9, epoch, c.now + 2500);
    expect(c.controller.tick(c.image, c.now + 3100).response.fenced).toEqual([1, 2]);
    c.controller.noteHeartbeat(c.image, 1, epoch, c.now + 2500);
    expect(c.controller.tick(c.image, c.now + 3100).response.fenced).toEqual([2]);
    // the queued heartbeat's decision, run later with its (earlier) arrival time, does not move it back
    c.controller.brokerHeartbeat(
      c.image,
      {
        brokerId: 1,
        brokerEpoch: epoch,
        currentMetadataOffset: BigInt(c.image.highestOffset),
        wantFence: false,
        wantShutDown: false,
      },
      c.now + 100,
    );
    expect(c.controller.tick(c.image, c.now + 5400).response.fenced).toEqual([2]);
    expect(c.controller.tick(c.image, c.now + 5600).response.fenced).toEqual([1, 2]);
  });

  it("fences a silent broker and re-elects its partitions' leaders from the ISR with epoch bumps", () => {
    const c = new TestCluster({ sessionTimeoutMs: 3000 });
    c.startBrokers([1, 2, 3]);
    c.createAssigned("t", [
      [1, 2, 3],
      [2, 1, 3],
      [3, 1, 2],
    ]);
    const before = [0, 1, 2].map((i) => c.partition("t", i));
    expect(before.map((p) => p.leader)).toEqual([1, 2, 3]);
    c.advance(5000, [2, 3]);
    expect(c.image.brokers.get(1)!.fenced).toBe(true);
    const p0 = c.partition("t", 0);
    expect(p0.leader).toBe(2);
    expect(p0.leaderEpoch).toBe(before[0].leaderEpoch + 1);
    expect(p0.partitionEpoch).toBeGreaterThan(before[0].partitionEpoch);
    expect(p0.isr).toEqual([2, 3]);
    // Partitions broker 1 did not lead lose it from the ISR without a leader change.
    const p1 = c.partition("t", 1);
    expect(p1.leader).toBe(2);
    expect(p1.leaderEpoch).toBe(before[1].leaderEpoch);
    expect(p1.isr).toEqual([2, 3]);
    expect(p1.partitionEpoch).toBe(before[1].partitionEpoch + 1);
    // Alive brokers were not fenced.
    expect(c.image.brokers.get(2)!.fenced).toBe(false);
    expect(c.image.brokers.get(3)!.fenced).toBe(false);
  });

  it("keeps the last ISR member as a leaderless ISR when it is fenced (unclean election off)", () => {
    const c = new TestCluster({ sessionTimeoutMs: 3000 });
    c.startBrokers([1, 2]);
    c.createAssigned("t", [[1, 2]]);
    // Broker 2 falls out of the ISR first (leader 1 shrinks it).
    const p = c.partition("t", 0);
    const shrink = c.commit(
      c.controller.alterPartition(
        c.image,
        {
          brokerId: 1,
          brokerEpoch: c.image.brokers.get(1)!.epoch,
          topics: [
            {
              topicId: c.topicId("t"),
              partitions: [
                {
                  partitionIndex: 0,
                  leaderEpoch: p.leaderEpoch,
                  newIsrWithEpochs: [{ brokerId: 1, brokerEpoch: -1n }],
                  partitionEpoch: p.partitionEpoch,
                },
              ],
            },
          ],
        },
        3,
      ),
    );
    expect(shrink.topics[0].partitions[0].errorCode).toBe(0);
    expect(c.partition("t", 0).isr).toEqual([1]);
    c.advance(5000, [2]);
    const after = c.partition("t", 0);
    expect(after.leader).toBe(NO_LEADER);
    expect(after.isr).toEqual([1]);
    expect(after.leaderEpoch).toBe(p.leaderEpoch + 1);
    // The broker comes back: it is the ISR, so it leads again, cleanly.
    c.register(1);
    c.heartbeat(1);
    const back = c.partition("t", 0);
    expect(back.leader).toBe(1);
    expect(back.isr).toEqual([1]);
    expect(back.leaderEpoch).toBe(after.leaderEpoch + 1);
  });

  it("with unclean leader election on, elects a live replica outside the ISR and marks it RECOVERING", () => {
    const c = new TestCluster({ sessionTimeoutMs: 3000, uncleanLeaderElection: true });
    c.startBrokers([1, 2]);
    c.createAssigned("t", [[1, 2]]);
    const p = c.partition("t", 0);
    c.commit(
      c.controller.alterPartition(
        c.image,
        {
          brokerId: 1,
          brokerEpoch: c.image.brokers.get(1)!.epoch,
          topics: [
            {
              topicId: c.topicId("t"),
              partitions: [
                {
                  partitionIndex: 0,
                  leaderEpoch: p.leaderEpoch,
                  newIsrWithEpochs: [{ brokerId: 1, brokerEpoch: -1n }],
                  partitionEpoch: p.partitionEpoch,
                },
              ],
            },
          ],
        },
        3,
      ),
    );
    c.advance(5000, [2]);
    const after = c.partition("t", 0);
    expect(after.leader).toBe(2);
    expect(after.isr).toEqual([2]);
    expect(after.leaderRecoveryState).toBe(RECOVERING);
    expect(after.leaderEpoch).toBe(p.leaderEpoch + 1);
  });

  it("a mutant election ignoring the ISR is caught by the invariant checker", () => {
    // Replicas [1, 3, 2] with ISR [1, 2]: a correct election after fencing 1 picks 2; a mutant that
    // ignores the ISR picks 3 (first live replica), which the checker must flag.
    const run = (mutant: boolean): string[] => {
      const c = new TestCluster({ sessionTimeoutMs: 3000 });
      c.startBrokers([1, 2, 3]);
      c.createAssigned("t", [[1, 3, 2]]);
      const p = c.partition("t", 0);
      c.commit(
        c.controller.alterPartition(
          c.image,
          {
            brokerId: 1,
            brokerEpoch: c.image.brokers.get(1)!.epoch,
            topics: [
              {
                topicId: c.topicId("t"),
                partitions: [
                  {
                    partitionIndex: 0,
                    leaderEpoch: p.leaderEpoch,
                    newIsrWithEpochs: [
                      { brokerId: 1, brokerEpoch: -1n },
                      { brokerId: 2, brokerEpoch: -1n },
                    ],
                    partitionEpoch: p.partitionEpoch,
                  },
                ],
              },
            ],
          },
          3,
        ),
      );
      (c.controller.config as { unsafeIgnoreIsrInElection?: boolean }).unsafeIgnoreIsrInElection = mutant;
      c.now += 5000;
      for (const id of [2, 3]) c.heartbeat(id);
      const tick = c.controller.tick(c.image, c.now);
      // Apply without the helper's assertions so the violation can be inspected.
      return checkImageInvariants(applyRecords(c.image, tick.records, c.offset + 1));
    };
    expect(run(false)).toEqual([]);
    const violations = run(true);
    expect(violations.some((v) => v.includes("leader 3 is not in the ISR"))).toBe(true);
  });
});

describe("controller: controlled shutdown", () => {
  it("moves leaderships away, leaves the ISRs, then tells the broker to shut down and fences it", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3]);
    c.createAssigned("t", [
      [1, 2, 3],
      [1, 3, 2],
      [2, 3, 1],
    ]);
    const before = [0, 1, 2].map((i) => c.partition("t", i));
    const first = c.heartbeat(1, { wantShutDown: true });
    expect(first).toMatchObject({ errorCode: 0, isFenced: false, shouldShutDown: false });
    expect(c.image.brokers.get(1)!.inControlledShutdown).toBe(true);
    expect(c.partition("t", 0).leader).toBe(2);
    expect(c.partition("t", 1).leader).toBe(3);
    expect(c.partition("t", 2).leader).toBe(2);
    expect(c.partition("t", 0).leaderEpoch).toBe(before[0].leaderEpoch + 1);
    expect(c.partition("t", 1).leaderEpoch).toBe(before[1].leaderEpoch + 1);
    expect(c.partition("t", 2).leaderEpoch).toBe(before[2].leaderEpoch);
    for (const i of [0, 1, 2]) expect(c.partition("t", i).isr).not.toContain(1);
    // Behind the moves: not yet.
    const early = c.heartbeat(1, { wantShutDown: true, offset: c.offset - 1 });
    expect(early.shouldShutDown).toBe(false);
    const done = c.heartbeat(1, { wantShutDown: true });
    expect(done).toMatchObject({ errorCode: 0, isFenced: true, shouldShutDown: true });
    expect(c.image.brokers.get(1)!.fenced).toBe(true);
  });

  it("a partition whose only ISR member shuts down goes leaderless", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2]);
    c.createAssigned("solo", [[1]]);
    c.heartbeat(1, { wantShutDown: true });
    expect(c.partition("solo", 0)).toMatchObject({ leader: NO_LEADER, isr: [1] });
  });
});
