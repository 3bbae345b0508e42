import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { GroupCoordinator, groupPartition } from "../groups/coordinator.ts";
import { FileGroupStore } from "../groups/file-store.ts";
import { MemoryGroupStore } from "../groups/store.ts";
import type { GroupRecord, JoinGroupRequest, RequestContext } from "../groups/types.ts";
import { E, subscription, TEST_CONFIG } from "./groups-harness.ts";

const ctx: RequestContext = { clientId: "app", clientHost: "/127.0.0.1", apiVersion: 9 };
const joinReq = (memberId = "", extra: Partial<JoinGroupRequest> = {}): JoinGroupRequest => ({
  groupId: "g",
  memberId,
  sessionTimeoutMs: 6000,
  rebalanceTimeoutMs: 10_000,
  protocolType: "consumer",
  protocols: [{ name: "range", metadata: subscription("t") }],
  ...extra,
});

/** A store whose appends wait until released. */
class GatedStore extends MemoryGroupStore {
  private gates: (() => void)[] = [];
  override async append(records: GroupRecord[]): Promise<void> {
    await new Promise<void>((resolve) => this.gates.push(resolve));
    await super.append(records);
  }
  release(): void {
    for (const g of this.gates.splice(0)) g();
  }
  get waiting(): number {
    return this.gates.length;
  }
}

const flush = () => new Promise((r) => setImmediate(r));

afterEach(() => {
  vi.useRealTimers();
});

describe("GroupCoordinator (async wrapper)", () => {
  it("answers COORDINATOR_LOAD_IN_PROGRESS until started and NOT_COORDINATOR after stop", async () => {
    const c = new GroupCoordinator({ store: new MemoryGroupStore(), config: TEST_CONFIG });
    expect((await c.heartbeat({ groupId: "g", memberId: "m", generationId: 1 })).errorCode).toBe(
      E.COORDINATOR_LOAD_IN_PROGRESS,
    );
    expect((await c.listGroups({})).errorCode).toBe(E.COORDINATOR_LOAD_IN_PROGRESS);
    expect((await c.offsetFetch({ groups: [{ groupId: "g", topics: null }] })).groups[0]!.errorCode).toBe(
      E.COORDINATOR_LOAD_IN_PROGRESS,
    );
    await c.start();
    expect((await c.listGroups({})).errorCode).toBe(E.NONE);
    await c.stop();
    expect((await c.joinGroup(joinReq(), ctx)).errorCode).toBe(E.NOT_COORDINATOR);
  });

  it("runs a join/sync round and answers the commit only after the store has it", async () => {
    const store = new GatedStore();
    const c = new GroupCoordinator({ store, config: TEST_CONFIG });
    await c.start();
    const first = await c.joinGroup(joinReq(), ctx);
    expect(first.errorCode).toBe(E.MEMBER_ID_REQUIRED);
    const joined = await c.joinGroup(joinReq(first.memberId), ctx);
    expect(joined).toMatchObject({ errorCode: E.NONE, generationId: 1, leader: first.memberId });
    const sync = c.syncGroup(
      {
        groupId: "g",
        memberId: first.memberId,
        generationId: 1,
        assignments: [{ memberId: first.memberId, assignment: Buffer.from("x") }],
      },
      ctx,
    );
    await flush();
    expect(store.waiting).toBe(1);
    store.release();
    expect((await sync).assignment.toString()).toBe("x");

    let committed = false;
    const commit = c
      .offsetCommit(
        {
          groupId: "g",
          generationIdOrMemberEpoch: 1,
          memberId: first.memberId,
          topics: [
            { name: "t", partitions: [{ partitionIndex: 0, committedOffset: 5n, committedMetadata: null }] },
          ],
        },
        ctx,
      )
      .then((r) => {
        committed = true;
        return r;
      });
    await flush();
    expect(committed).toBe(false);
    expect(store.records.filter((r) => r.type === "offset")).toHaveLength(0);
    store.release();
    expect((await commit).topics[0]!.partitions[0]!.errorCode).toBe(E.NONE);
    expect(store.records.filter((r) => r.type === "offset")).toHaveLength(1);
    const fetched = await c.offsetFetch({ groups: [{ groupId: "g", topics: null }] });
    expect(fetched.groups[0]!.topics[0]!.partitions[0]!.committedOffset).toBe(5n);
    expect((await c.describeGroups({ groups: ["g"] })).groups[0]!.groupState).toBe("Stable");
    await c.stop();
  });

  it("maps a failed append to the client error", async () => {
    const store = new MemoryGroupStore();
    const errors: unknown[] = [];
    const c = new GroupCoordinator({ store, config: TEST_CONFIG, onAppendError: (e) => errors.push(e) });
    await c.start();
    store.failNextAppends = 1;
    store.failWith = Object.assign(new Error("no replicas"), { errorCode: E.NOT_ENOUGH_REPLICAS });
    const r = await c.offsetCommit(
      {
        groupId: "g",
        topics: [
          { name: "t", partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: "" }] },
        ],
      },
      ctx,
    );
    expect(r.topics[0]!.partitions[0]!.errorCode).toBe(E.COORDINATOR_NOT_AVAILABLE);
    // The failed commit did not leave a group behind.
    expect((await c.listGroups({})).groups).toEqual([]);
    await c.offsetCommit(
      {
        groupId: "g",
        topics: [
          { name: "t", partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: "" }] },
        ],
      },
      ctx,
    );
    store.failNextAppends = 1;
    store.failWith = new Error("disk on fire");
    const r2 = await c.deleteGroups({ groupsNames: ["g"] });
    expect(r2.results[0]).toEqual({ groupId: "g", errorCode: E.NOT_COORDINATOR });
    expect(errors).toHaveLength(2);
    await c.stop();
  });

  it("its timer expires sessions and holds the initial rebalance delay", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const c = new GroupCoordinator({
      store: new MemoryGroupStore(),
      config: { ...TEST_CONFIG, initialRebalanceDelayMs: 3000 },
    });
    await c.start();
    const first = await c.joinGroup(joinReq(), ctx);
    let done = false;
    const joined = c.joinGroup(joinReq(first.memberId), ctx).then((r) => {
      done = true;
      return r;
    });
    await vi.advanceTimersByTimeAsync(2999);
    expect(done).toBe(false);
    expect(c.parkedRequests).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await joined).generationId).toBe(1);
    // No SyncGroup or heartbeat: the pending sync (10 s) and the session (6 s) run out.
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await c.describeGroups({ groups: ["g"] })).groups[0]!.groupState).toBe("Empty");
    await c.stop();
  });

  it("stop answers parked requests with NOT_COORDINATOR", async () => {
    const c = new GroupCoordinator({
      store: new MemoryGroupStore(),
      config: { ...TEST_CONFIG, initialRebalanceDelayMs: 60_000 },
    });
    await c.start();
    const first = await c.joinGroup(joinReq(), ctx);
    const parked = c.joinGroup(joinReq(first.memberId), ctx);
    await flush();
    await c.stop();
    expect(await parked).toMatchObject({ errorCode: E.NOT_COORDINATOR, memberId: first.memberId });
  });

  it("restarts from a FileGroupStore with the committed offsets", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gauntlet-coord-"));
    try {
      const path = join(dir, "groups.log");
      const c1 = new GroupCoordinator({ store: new FileGroupStore(path), config: TEST_CONFIG });
      await c1.start();
      await c1.offsetCommit(
        {
          groupId: "g",
          topics: [
            { name: "t", partitions: [{ partitionIndex: 2, committedOffset: 77n, committedMetadata: "m" }] },
          ],
        },
        ctx,
      );
      await c1.stop();
      const store = new FileGroupStore(path);
      const c2 = new GroupCoordinator({ store, config: TEST_CONFIG });
      await c2.start();
      const r = await c2.offsetFetch({
        groups: [{ groupId: "g", topics: [{ name: "t", partitionIndexes: [2] }] }],
      });
      expect(r.groups[0]!.topics[0]!.partitions[0]).toMatchObject({ committedOffset: 77n, metadata: "m" });
      await c2.stop();
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("maps group ids to __consumer_offsets partitions like Kafka (abs(hashCode) % n)", () => {
    expect(groupPartition("hello", 50)).toBe(99162322 % 50);
    expect(groupPartition("", 50)).toBe(0);
    // "polygenelubricants".hashCode() is Integer.MIN_VALUE; Kafka's Utils.abs maps it to 0.
    expect(groupPartition("polygenelubricants", 50)).toBe(0);
    for (const id of ["a", "my-group", "консьюмер"]) {
      const p = groupPartition(id, 7);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(7);
    }
  });
});
