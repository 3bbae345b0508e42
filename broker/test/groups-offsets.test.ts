import { describe, expect, it } from "vitest";
import { decodeSubscription, encodeSubscription, subscribedTopicsOf } from "../groups/consumer-protocol.ts";
import { E, Harness } from "./groups-harness.ts";

const DAY = 24 * 60 * 60 * 1000;

describe("group coordinator: OffsetCommit / OffsetFetch", () => {
  it("a simple commit (generation -1, no member) creates an Empty group; fetch returns offset, epoch, metadata", () => {
    const h = new Harness();
    const rid = h.commit("simple", { orders: { 0: 10, 1: 20 } }, { leaderEpoch: 7, metadata: "m" });
    expect(h.commitErrors(rid)).toEqual({ "orders/0": E.NONE, "orders/1": E.NONE });
    expect(h.sm.groupState("simple")).toBe("Empty");
    const { response } = h.sm.offsetFetch(
      { groups: [{ groupId: "simple", topics: [{ name: "orders", partitionIndexes: [1, 5] }] }] },
      h.now,
    );
    expect(response.groups[0]).toEqual({
      groupId: "simple",
      errorCode: E.NONE,
      topics: [
        {
          name: "orders",
          partitions: [
            {
              partitionIndex: 1,
              committedOffset: 20n,
              committedLeaderEpoch: 7,
              metadata: "m",
              errorCode: E.NONE,
            },
            {
              partitionIndex: 5,
              committedOffset: -1n,
              committedLeaderEpoch: -1,
              metadata: "",
              errorCode: E.NONE,
            },
          ],
        },
      ],
    });
  });

  it("fetch with null topics returns every committed partition; several groups at once (v8+)", () => {
    const h = new Harness();
    h.commit("g1", { b: { 1: 5 }, a: { 2: 3, 0: 1 } }, { metadata: null });
    h.commit("g2", { c: { 0: 9 } });
    const { response } = h.sm.offsetFetch(
      {
        groups: [
          { groupId: "g1", topics: null },
          { groupId: "g2", topics: [{ name: "c", partitionIndexes: [0] }] },
          { groupId: "unknown", topics: null },
          { groupId: "unknown2", topics: [{ name: "c", partitionIndexes: [0] }] },
        ],
      },
      h.now,
    );
    const [g1, g2, u, u2] = response.groups;
    expect(
      g1!.topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, Number(p.committedOffset)])]),
    ).toEqual([
      [
        "a",
        [
          [0, 1],
          [2, 3],
        ],
      ],
      ["b", [[1, 5]]],
    ]);
    expect(g1!.topics[0]!.partitions[0]!.metadata).toBe("");
    expect(g2!.topics[0]!.partitions[0]!.committedOffset).toBe(9n);
    expect(u).toEqual({ groupId: "unknown", topics: [], errorCode: E.NONE });
    expect(u2!.topics[0]!.partitions[0]!.committedOffset).toBe(-1n);
    const bad = h.sm.offsetFetch({ groups: [{ groupId: "", topics: null }] }, h.now).response;
    expect(bad.groups[0]!.errorCode).toBe(E.INVALID_GROUP_ID);
  });

  it("the commit is answered only after its records are persisted; fetch sees only persisted offsets", () => {
    const h = new Harness();
    h.autoAck = false;
    const rid = h.commit("g", { t: { 0: 42 } });
    expect(h.commitResponse(rid)).toBeUndefined();
    expect(h.pendingAppends).toHaveLength(1);
    expect(h.fetchAll("g")).toEqual({});
    h.ackAppends();
    expect(h.commitErrors(rid)).toEqual({ "t/0": E.NONE });
    expect(h.fetchAll("g")).toEqual({ "t/0": 42 });
  });

  it("a failed write answers with the normalised error and commits nothing", () => {
    const h = new Harness();
    h.autoAck = false;
    const r1 = h.commit("g", { t: { 0: 1 } });
    h.failAppends(E.KAFKA_STORAGE_ERROR);
    expect(h.commitErrors(r1)).toEqual({ "t/0": E.NOT_COORDINATOR });
    const r2 = h.commit("g", { t: { 0: 2 } });
    h.failAppends(E.NOT_ENOUGH_REPLICAS);
    expect(h.commitErrors(r2)).toEqual({ "t/0": E.COORDINATOR_NOT_AVAILABLE });
    const r3 = h.commit("g", { t: { 0: 3 } });
    h.failAppends(E.RECORD_LIST_TOO_LARGE);
    expect(h.commitErrors(r3)).toEqual({ "t/0": E.INVALID_COMMIT_OFFSET_SIZE });
    expect(h.fetchAll("g")).toEqual({});
  });

  it("group member commits: generation and member checks", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 2);
    const [a, b] = members as [string, string];
    const ok = h.commit("g", { t: { 0: 5 } }, { generationId: generation, memberId: a });
    expect(h.commitErrors(ok)).toEqual({ "t/0": E.NONE });
    const errs = (o: Parameters<Harness["commit"]>[2]) =>
      h.commitErrors(h.commit("g", { t: { 0: 6 } }, o))["t/0"];
    expect(errs({ generationId: generation + 1, memberId: a })).toBe(E.ILLEGAL_GENERATION);
    expect(errs({ generationId: generation, memberId: "ghost" })).toBe(E.UNKNOWN_MEMBER_ID);
    expect(errs({ generationId: -1, memberId: "" })).toBe(E.UNKNOWN_MEMBER_ID); // simple commit, non-empty group
    expect(errs({ generationId: generation, memberId: a, instanceId: "nope" })).toBe(E.UNKNOWN_MEMBER_ID);
    // PreparingRebalance: members of the current generation may still commit (e.g. on revocation).
    h.joinNew("g", { clientId: "new" });
    expect(h.sm.groupState("g")).toBe("PreparingRebalance");
    expect(errs({ generationId: generation, memberId: b })).toBe(E.NONE);
    // CompletingRebalance: REBALANCE_IN_PROGRESS.
    h.join("g", { memberId: a });
    h.join("g", { memberId: b });
    expect(h.sm.groupState("g")).toBe("CompletingRebalance");
    expect(errs({ generationId: generation + 1, memberId: a })).toBe(E.REBALANCE_IN_PROGRESS);
    expect(h.fetchAll("g")).toEqual({ "t/0": 6 });
  });

  it("a member id with generation -1 on an Empty group is accepted; generation >= 0 to an unknown group is not", () => {
    const h = new Harness();
    expect(
      h.commitErrors(h.commit("nope", { t: { 0: 1 } }, { generationId: 3, memberId: "m", apiVersion: 8 })),
    ).toEqual({
      "t/0": E.ILLEGAL_GENERATION,
    });
    expect(
      h.commitErrors(h.commit("nope", { t: { 0: 1 } }, { generationId: 3, memberId: "m", apiVersion: 9 })),
    ).toEqual({
      "t/0": E.GROUP_ID_NOT_FOUND,
    });
    expect(h.sm.groupState("nope")).toBeUndefined();
    h.commit("e", { t: { 0: 1 } });
    expect(h.commitErrors(h.commit("e", { t: { 0: 2 } }, { generationId: -1, memberId: "whoever" }))).toEqual(
      {
        "t/0": E.NONE,
      },
    );
    expect(h.commitErrors(h.commit("e", { t: { 0: 2 } }, { generationId: 0, memberId: "whoever" }))).toEqual({
      "t/0": E.UNKNOWN_MEMBER_ID,
    });
    expect(h.commitErrors(h.commit("", { t: { 0: 2 } }))).toEqual({ "t/0": E.INVALID_GROUP_ID });
  });

  it("OFFSET_METADATA_TOO_LARGE rejects only the partitions with oversized metadata", () => {
    const h = new Harness({ offsetMetadataMaxBytes: 5 });
    const rid = ++(h as unknown as { rid: number }).rid;
    h.process(
      h.sm.offsetCommit(
        rid,
        {
          groupId: "g",
          topics: [
            {
              name: "t",
              partitions: [
                { partitionIndex: 0, committedOffset: 1n, committedMetadata: "12345" },
                { partitionIndex: 1, committedOffset: 1n, committedMetadata: "123456" },
              ],
            },
          ],
        },
        h.ctx("c", 2),
        h.now,
      ),
    );
    expect(h.commitErrors(rid)).toEqual({ "t/0": E.NONE, "t/1": E.OFFSET_METADATA_TOO_LARGE });
    expect(h.fetchAll("g")).toEqual({ "t/0": 1 });
  });

  it("a member's commit keeps its session alive in Stable", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 1, { sessionTimeoutMs: 5000 });
    for (let i = 0; i < 4; i++) {
      h.advance(4000);
      h.commit("g", { t: { 0: i } }, { generationId: generation, memberId: members[0] });
    }
    expect(h.sm.groupState("g")).toBe("Stable");
    h.advance(5000);
    expect(h.sm.groupState("g")).toBe("Empty");
  });
});

describe("group coordinator: OffsetDelete", () => {
  it("GROUP_ID_NOT_FOUND, INVALID_GROUP_ID and NON_EMPTY_GROUP for active non-consumer groups", () => {
    const h = new Harness();
    expect(h.offsetDelete("nope", { t: [0] })).toEqual({ errorCode: E.GROUP_ID_NOT_FOUND, topics: [] });
    expect(h.offsetDelete("", { t: [0] })?.errorCode).toBe(E.INVALID_GROUP_ID);
    const p = [{ name: "p", metadata: Buffer.from("x") }];
    h.stableGroup("connect", 1, { protocolType: "connect", protocols: p });
    expect(h.offsetDelete("connect", { t: [0] })?.errorCode).toBe(E.NON_EMPTY_GROUP);
  });

  it("a consumer group cannot delete offsets of topics its members subscribe to", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 2, { topics: ["subscribed"] });
    h.commit(
      "g",
      { subscribed: { 0: 1 }, other: { 0: 2, 1: 3 } },
      { generationId: generation, memberId: members[0] },
    );
    const res = h.offsetDelete("g", { subscribed: [0], other: [0, 7] });
    expect(res).toEqual({
      errorCode: E.NONE,
      topics: [
        { name: "subscribed", partitions: [{ partitionIndex: 0, errorCode: E.GROUP_SUBSCRIBED_TO_TOPIC }] },
        {
          name: "other",
          partitions: [
            { partitionIndex: 0, errorCode: E.NONE },
            { partitionIndex: 7, errorCode: E.NONE },
          ],
        },
      ],
    });
    expect(h.fetchAll("g")).toEqual({ "subscribed/0": 1, "other/1": 3 });
    const tombstones = h.records.filter((r) => r.type === "offset" && r.value === null);
    expect(tombstones).toEqual([{ type: "offset", groupId: "g", topic: "other", partition: 0, value: null }]);
  });

  it("an Empty group deletes any of its offsets", () => {
    const h = new Harness();
    const { members } = h.stableGroup("g", 1, { topics: ["t"] });
    h.commit("g", { t: { 0: 1 } }, { generationId: 1, memberId: members[0] });
    h.leave("g", [{ memberId: members[0]! }]);
    expect(h.offsetDelete("g", { t: [0] })?.topics[0]?.partitions[0]?.errorCode).toBe(E.NONE);
    expect(h.fetchAll("g")).toEqual({});
  });

  it("the response waits for the tombstones to be persisted", () => {
    const h = new Harness();
    h.commit("g", { t: { 0: 1 } });
    h.autoAck = false;
    expect(h.offsetDelete("g", { t: [0] })).toBeUndefined();
    expect(h.fetchAll("g")).toEqual({ "t/0": 1 });
    h.ackAppends();
    expect(h.fetchAll("g")).toEqual({});
  });
});

describe("group coordinator: offset retention", () => {
  it("offsets of an Empty consumer group expire a retention period after the group became Empty", () => {
    const h = new Harness({ offsetsRetentionMs: DAY, offsetsRetentionCheckIntervalMs: 60_000 });
    const { members } = h.stableGroup("g", 1);
    h.commit("g", { t: { 0: 1 } }, { generationId: 1, memberId: members[0] });
    h.advance(2 * DAY); // Stable consumer group subscribed to t: kept
    expect(h.fetchAll("g")).toEqual({ "t/0": 1 });
    h.leave("g", [{ memberId: members[0]! }]);
    h.advance(DAY - 60_000);
    expect(h.fetchAll("g")).toEqual({ "t/0": 1 });
    h.advance(120_000);
    expect(h.fetchAll("g")).toEqual({});
    // Every offset expired and the group is Empty: the group is deleted too.
    expect(h.sm.groupState("g")).toBeUndefined();
    expect(h.records.at(-1)).toEqual({ type: "group", groupId: "g", value: null });
  });

  it("simple groups expire per commit time; a Stable group expires only unsubscribed topics", () => {
    const h = new Harness({ offsetsRetentionMs: DAY, offsetsRetentionCheckIntervalMs: 60_000 });
    const { members } = h.stableGroup("g", 1, { topics: ["mine"], sessionTimeoutMs: 600_000 });
    h.commit("g", { mine: { 0: 1 }, old: { 0: 1 } }, { generationId: 1, memberId: members[0] });
    h.commit("simple", { t: { 0: 1 } });
    const step = DAY / 300;
    for (let i = 1; i <= 310; i++) {
      h.advance(step);
      expect(h.heartbeat("g", members[0]!, 1)).toBe(E.NONE);
      if (i === 150) h.commit("simple", { t: { 1: 1 } });
    }
    expect(h.fetchAll("simple")).toEqual({ "t/1": 1 });
    expect(h.fetchAll("g")).toEqual({ "mine/0": 1 });
    expect(h.sm.groupState("g")).toBe("Stable");
  });

  it("a commit's retention time (OffsetCommit v2-4) sets its expiry", () => {
    const h = new Harness({ offsetsRetentionMs: DAY, offsetsRetentionCheckIntervalMs: 1000 });
    h.commit("g", { t: { 0: 1 } }, { retentionTimeMs: 5000n });
    h.commit("g", { t: { 1: 1 } });
    h.advance(6000);
    expect(h.fetchAll("g")).toEqual({ "t/1": 1 });
  });
});

describe("consumer protocol subscription decoding", () => {
  it("reads the topics of every version and tolerates newer ones", () => {
    for (const v of [0, 1, 2, 3]) {
      const buf = encodeSubscription(
        {
          topics: ["a", "b"],
          userData: Buffer.from("u"),
          ownedPartitions: [{ topic: "a", partitions: [1] }],
          generationId: 4,
          rackId: "r",
        },
        v,
      );
      expect(decodeSubscription(buf)).toMatchObject({ version: v, topics: ["a", "b"] });
    }
    const future = Buffer.concat([encodeSubscription({ topics: ["x"] }, 3), Buffer.from([1, 2, 3])]);
    future.writeInt16BE(9, 0);
    expect(subscribedTopicsOf(future)).toEqual(["x"]);
  });

  it("rejects malformed metadata", () => {
    expect(subscribedTopicsOf(Buffer.from([0]))).toBeUndefined();
    expect(subscribedTopicsOf(Buffer.from([0xff, 0xff, 0, 0, 0, 0]))).toBeUndefined();
    expect(subscribedTopicsOf(Buffer.from([0, 0, 0x7f, 0xff, 0xff, 0xff]))).toBeUndefined();
  });

  it("a group whose metadata is unreadable is treated as subscribed to nothing", () => {
    const h = new Harness();
    h.stableGroup("g", 1, { protocols: [{ name: "range", metadata: Buffer.from("junk") }] });
    expect(h.offsetDelete("g", { t: [0] })?.topics[0]?.partitions[0]?.errorCode).toBe(E.NONE);
  });
});
