import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeFrame, FileGroupStore } from "../groups/file-store.ts";
import { decodeRecord, encodeRecord } from "../groups/records.ts";
import { compactRecords, MemoryGroupStore } from "../groups/store.ts";
import type { GroupRecord } from "../groups/types.ts";
import { E, Harness } from "./groups-harness.ts";

const offset = (groupId: string, topic: string, partition: number, off: number | null): GroupRecord => ({
  type: "offset",
  groupId,
  topic,
  partition,
  value:
    off === null
      ? null
      : {
          offset: BigInt(off),
          leaderEpoch: 3,
          metadata: `m${off}`,
          commitTimestamp: 1000,
          expireTimestamp: -1,
        },
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gauntlet-groups-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("group records", () => {
  it("round-trip through the JSON encoding", () => {
    const g: GroupRecord = {
      type: "group",
      groupId: "g",
      value: {
        protocolType: "consumer",
        generation: 4,
        protocol: "range",
        leader: "m1",
        currentStateTimestamp: 123,
        members: [
          {
            memberId: "m1",
            groupInstanceId: "i1",
            clientId: "c",
            clientHost: "/1.2.3.4",
            rebalanceTimeoutMs: 1,
            sessionTimeoutMs: 2,
            subscription: Buffer.from([0, 1, 2]),
            assignment: Buffer.from([9]),
          },
        ],
      },
    };
    for (const r of [g, offset("g", "t", 1, 2 ** 53 + 5), offset("g", "t", 1, null), { ...g, value: null }]) {
      expect(decodeRecord(encodeRecord(r))).toEqual(r);
    }
    const big = offset("g", "t", 0, 0);
    if (big.type === "offset" && big.value) big.value.offset = 9_223_372_036_854_775_807n;
    expect(decodeRecord(encodeRecord(big))).toEqual(big);
  });

  it("compaction keeps the latest value per key and drops tombstoned keys", () => {
    const out = compactRecords([
      offset("g", "t", 0, 1),
      offset("g", "t", 1, 1),
      offset("g", "t", 0, 2),
      offset("g", "t", 1, null),
      { type: "group", groupId: "g", value: null },
    ]);
    expect(out).toEqual([offset("g", "t", 0, 2)]);
  });
});

describe("FileGroupStore", () => {
  it("appends survive a reopen", async () => {
    const path = join(dir, "groups.log");
    const s1 = new FileGroupStore(path);
    expect(await s1.load()).toEqual([]);
    await s1.append([offset("g", "t", 0, 1), offset("g", "t", 1, 5)]);
    await s1.append([offset("g", "t", 0, 2)]);
    await s1.close();
    const s2 = new FileGroupStore(path);
    expect(await s2.load()).toEqual([offset("g", "t", 1, 5), offset("g", "t", 0, 2)]);
    // Superseded records were compacted away on load.
    expect(s2.lastLoad).toEqual({ recordsRead: 3, truncatedBytes: 0, compacted: true });
    expect(s2.recordsInFile).toBe(2);
    await s2.close();
    const s3 = new FileGroupStore(path);
    await s3.load();
    expect(s3.lastLoad?.compacted).toBe(false);
    await s3.close();
  });

  it("truncates a torn tail and keeps appending after it", async () => {
    const path = join(dir, "groups.log");
    const s1 = new FileGroupStore(path);
    await s1.load();
    await s1.append([offset("g", "t", 0, 1)]);
    await s1.close();
    const good = (await stat(path)).size;
    const frame = encodeFrame(offset("g", "t", 0, 2));
    await appendFile(path, frame.subarray(0, frame.length - 3)); // crash mid-write
    const s2 = new FileGroupStore(path);
    expect(await s2.load()).toEqual([offset("g", "t", 0, 1)]);
    expect(s2.lastLoad?.truncatedBytes).toBe(frame.length - 3);
    expect((await stat(path)).size).toBe(good);
    await s2.append([offset("g", "t", 1, 7)]);
    await s2.close();
    const s3 = new FileGroupStore(path);
    expect(await s3.load()).toEqual([offset("g", "t", 0, 1), offset("g", "t", 1, 7)]);
    await s3.close();
  });

  it("stops at a frame whose CRC does not match", async () => {
    const path = join(dir, "groups.log");
    const s1 = new FileGroupStore(path);
    await s1.load();
    await s1.append([offset("g", "t", 0, 1)]);
    await s1.append([offset("g", "t", 1, 1)]);
    await s1.close();
    const buf = await readFile(path);
    buf[buf.length - 2] ^= 0xff; // flip a byte in the last payload
    await writeFile(path, buf);
    const s2 = new FileGroupStore(path);
    expect(await s2.load()).toEqual([offset("g", "t", 0, 1)]);
    expect(s2.lastLoad?.truncatedBytes).toBeGreaterThan(0);
    await s2.close();
  });

  it("compacts at the threshold, keeping the latest values", async () => {
    const path = join(dir, "groups.log");
    const s = new FileGroupStore(path, { compactMinRecords: 10, compactRatio: 2, fsync: false });
    await s.load();
    for (let i = 0; i < 9; i++) await s.append([offset("g", "t", i % 2, i)]);
    expect(s.compactions).toBe(0);
    await s.append([offset("g", "t", 0, 100)]);
    expect(s.compactions).toBe(1);
    expect(s.recordsInFile).toBe(2);
    await s.append([offset("g", "t", 1, 200), offset("h", "t", 0, null)]);
    await s.close();
    const s2 = new FileGroupStore(path);
    expect(await s2.load()).toEqual([offset("g", "t", 0, 100), offset("g", "t", 1, 200)]);
    await s2.close();
  });

  it("refuses a file that is not a group log; recovers a torn header", async () => {
    const bad = join(dir, "bad.log");
    await writeFile(bad, "hello world, not a log");
    await expect(new FileGroupStore(bad).load()).rejects.toThrow(/bad magic/);
    const torn = join(dir, "torn.log");
    await writeFile(torn, "GGR");
    const s = new FileGroupStore(torn);
    expect(await s.load()).toEqual([]);
    await s.append([offset("g", "t", 0, 1)]);
    await s.close();
    expect(await new FileGroupStore(torn).load()).toEqual([offset("g", "t", 0, 1)]);
  });

  it("rejects appends before load", async () => {
    await expect(new FileGroupStore(join(dir, "x.log")).append([offset("g", "t", 0, 1)])).rejects.toThrow(
      /load/,
    );
  });
});

describe("group state survives a restart", () => {
  /** Runs a harness whose acknowledged records go to the store, then restores a new harness from it. */
  async function persistAndReload(store: FileGroupStore, h: Harness): Promise<Harness> {
    await store.append(h.records);
    await store.close();
    const reopened = new FileGroupStore(store.path);
    const records = await reopened.load();
    await reopened.close();
    return new Harness({}, records);
  }

  it("committed offsets and Stable membership are restored from the FileGroupStore", async () => {
    const store = new FileGroupStore(join(dir, "groups.log"));
    await store.load();
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 2, { topics: ["orders"] });
    h.commit(
      "g",
      { orders: { 0: 10, 1: 11 } },
      { generationId: generation, memberId: members[0], leaderEpoch: 2 },
    );
    h.commit("g", { orders: { 0: 12 } }, { generationId: generation, memberId: members[0], metadata: "x" });
    h.commit("simple", { t: { 0: 1 } });
    h.autoAck = false;
    h.commit("simple", { t: { 0: 2 } }); // never acknowledged: not durable
    const h2 = await persistAndReload(store, h);
    expect(h2.fetchAll("g")).toEqual({ "orders/0": 12, "orders/1": 11 });
    const { response } = h2.sm.offsetFetch(
      { groups: [{ groupId: "g", topics: [{ name: "orders", partitionIndexes: [0, 1] }] }] },
      h2.now,
    );
    expect(
      response.groups[0]!.topics[0]!.partitions.map((p) => [p.metadata, p.committedLeaderEpoch]),
    ).toEqual([
      ["x", -1],
      ["", 2],
    ]);
    expect(h2.fetchAll("simple")).toEqual({ "t/0": 1 });
    expect(h2.sm.groupState("g")).toBe("Stable");
    expect(h2.sm.groupGeneration("g")).toBe(generation);
    // Members carry on: heartbeats work and SyncGroup returns the persisted assignment.
    expect(h2.heartbeat("g", members[1]!, generation)).toBe(E.NONE);
    expect(h2.syncResponse(h2.sync("g", members[1]!, generation))?.assignment.toString()).toBe(
      `a-${members[1]}`,
    );
    // The restored consumer group still knows its subscriptions.
    expect(h2.offsetDelete("g", { orders: [0] })?.topics[0]?.partitions[0]?.errorCode).toBe(
      E.GROUP_SUBSCRIBED_TO_TOPIC,
    );
    // Restored members that stay silent expire after their session timeout.
    h2.advance(5000);
    expect(h2.heartbeat("g", members[1]!, generation)).toBe(E.NONE);
    h2.advance(5000);
    expect(h2.sm.groupState("g")).toBe("PreparingRebalance");
  });

  it("deleted groups and offsets stay deleted", async () => {
    const store = new FileGroupStore(join(dir, "groups.log"));
    await store.load();
    const h = new Harness();
    h.commit("a", { t: { 0: 1 } });
    h.commit("b", { t: { 0: 1, 1: 2 } });
    h.deleteGroups("a");
    h.offsetDelete("b", { t: [1] });
    const h2 = await persistAndReload(store, h);
    expect(h2.sm.groupIds()).toEqual(["b"]);
    expect(h2.fetchAll("b")).toEqual({ "t/0": 1 });
  });

  it("MemoryGroupStore loads what it was given and can fail appends", async () => {
    const m = new MemoryGroupStore();
    await m.append([offset("g", "t", 0, 1), offset("g", "t", 0, 2)]);
    expect(await m.load()).toEqual([offset("g", "t", 0, 2)]);
    m.failNextAppends = 1;
    await expect(m.append([])).rejects.toThrow();
    await m.append([]);
  });
});
