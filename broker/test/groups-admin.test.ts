import { describe, expect, it } from "vitest";
import {
  AUTHORIZED_OPERATIONS_OMITTED,
  errorResponses,
  leaveGroupV0ErrorCode,
  normalizeAppendError,
} from "../groups/state-machine.ts";
import { E, Harness, subscription } from "./groups-harness.ts";

describe("group coordinator: ListGroups / DescribeGroups / DeleteGroups", () => {
  it("lists groups with protocol type and state; filters states case-insensitively and by type", () => {
    const h = new Harness();
    h.stableGroup("stable", 1);
    h.commit("simple", { t: { 0: 1 } });
    h.join("preparing", { clientId: "x", apiVersion: 3, rebalanceTimeoutMs: 30_000 });
    h.joinNew("preparing", { clientId: "y" }); // pending second member → rebalance waits
    const all = h.list();
    expect(all).toEqual(
      expect.arrayContaining([
        { groupId: "stable", protocolType: "consumer", groupState: "Stable", groupType: "classic" },
        { groupId: "simple", protocolType: "", groupState: "Empty", groupType: "classic" },
      ]),
    );
    expect(all).toHaveLength(3);
    expect(
      h
        .list(["stable", "EMPTY"])
        .map((g) => g.groupId)
        .sort(),
    ).toEqual(["simple", "stable"]);
    expect(h.list(["Dead"])).toEqual([]);
    expect(h.list([], ["Classic"])).toHaveLength(3);
    expect(h.list([], ["consumer"])).toEqual([]);
  });

  it("describes a Stable group with member metadata and assignments", () => {
    const h = new Harness();
    const { members } = h.stableGroup("g", 2, { topics: ["orders"] });
    const [d] = h.describe("g");
    expect(d).toMatchObject({
      errorCode: E.NONE,
      groupId: "g",
      groupState: "Stable",
      protocolType: "consumer",
      protocolData: "range",
      authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
    });
    expect(d!.members).toEqual(
      members.map((m, i) => ({
        memberId: m,
        groupInstanceId: null,
        clientId: `c${i}`,
        clientHost: "/127.0.0.1",
        memberMetadata: subscription("orders"),
        memberAssignment: Buffer.from(`a-${m}`),
      })),
    );
  });

  it("describes other states without metadata, unknown groups as Dead", () => {
    const h = new Harness();
    const { members } = h.stableGroup("g", 1);
    h.joinNew("g", { clientId: "late" });
    const [d, unknown, invalid] = h.describe("g", "nope", "");
    expect(d).toMatchObject({ groupState: "PreparingRebalance", protocolType: "consumer", protocolData: "" });
    expect(d!.members.find((m) => m.memberId === members[0])).toMatchObject({
      memberMetadata: Buffer.alloc(0),
      memberAssignment: Buffer.alloc(0),
    });
    expect(unknown).toMatchObject({ errorCode: E.NONE, groupState: "Dead", protocolType: "", members: [] });
    expect(invalid!.errorCode).toBe(E.INVALID_GROUP_ID);
  });

  it("deletes Empty groups with their offsets; NON_EMPTY_GROUP and GROUP_ID_NOT_FOUND otherwise", () => {
    const h = new Harness();
    h.stableGroup("busy", 1);
    h.commit("idle", { t: { 0: 1, 1: 2 } });
    const res = h.deleteGroups("idle", "busy", "nope", "");
    expect(res?.results).toEqual([
      { groupId: "idle", errorCode: E.NONE },
      { groupId: "busy", errorCode: E.NON_EMPTY_GROUP },
      { groupId: "nope", errorCode: E.GROUP_ID_NOT_FOUND },
      { groupId: "", errorCode: E.INVALID_GROUP_ID },
    ]);
    expect(h.sm.groupState("idle")).toBeUndefined();
    expect(h.fetchAll("idle")).toEqual({});
    expect(h.records.slice(-3)).toEqual([
      { type: "offset", groupId: "idle", topic: "t", partition: 0, value: null },
      { type: "offset", groupId: "idle", topic: "t", partition: 1, value: null },
      { type: "group", groupId: "idle", value: null },
    ]);
    expect(h.deleteGroups("idle")?.results[0]?.errorCode).toBe(E.GROUP_ID_NOT_FOUND);
  });

  it("a failed delete brings the group back", () => {
    const h = new Harness();
    h.commit("idle", { t: { 0: 1 } });
    h.autoAck = false;
    expect(h.deleteGroups("idle")).toBeUndefined();
    h.failAppends(E.NOT_LEADER_OR_FOLLOWER);
    expect(h.responses.get(2)?.response).toEqual({
      results: [{ groupId: "idle", errorCode: E.NOT_COORDINATOR }],
    });
    expect(h.sm.groupState("idle")).toBe("Empty");
    expect(h.fetchAll("idle")).toEqual({ "t/0": 1 });
  });

  it("helpers: LeaveGroup v0 error, whole-request errors, append error mapping", () => {
    expect(
      leaveGroupV0ErrorCode({
        errorCode: 0,
        members: [{ memberId: "m", groupInstanceId: null, errorCode: 25 }],
      }),
    ).toBe(25);
    expect(leaveGroupV0ErrorCode({ errorCode: 16, members: [] })).toBe(16);
    expect(
      errorResponses.offsetCommit(
        {
          groupId: "g",
          topics: [
            { name: "t", partitions: [{ partitionIndex: 3, committedOffset: 1n, committedMetadata: null }] },
          ],
        },
        E.COORDINATOR_LOAD_IN_PROGRESS,
      ),
    ).toEqual({
      topics: [{ name: "t", partitions: [{ partitionIndex: 3, errorCode: E.COORDINATOR_LOAD_IN_PROGRESS }] }],
    });
    expect(errorResponses.describeGroups({ groups: ["a"] }, E.NOT_COORDINATOR).groups[0]!.errorCode).toBe(
      E.NOT_COORDINATOR,
    );
    expect(normalizeAppendError(E.REQUEST_TIMED_OUT)).toBe(E.COORDINATOR_NOT_AVAILABLE);
    expect(normalizeAppendError(E.MESSAGE_TOO_LARGE)).toBe(E.UNKNOWN_SERVER_ERROR);
    expect(normalizeAppendError(E.MESSAGE_TOO_LARGE, true)).toBe(E.INVALID_COMMIT_OFFSET_SIZE);
  });
});
