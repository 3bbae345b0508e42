import { describe, expect, it } from "vitest";
import { E, Harness } from "./groups-harness.ts";

/** Two static members a (leader) and b in a Stable group with assignments "A" and "B". */
function staticGroup(h: Harness, o: { sessionTimeoutMs?: number } = {}) {
  const ja = h.join("g", { instanceId: "ia", clientId: "ca", ...o });
  const a = h.joinResponse(ja)!.memberId;
  const jb = h.join("g", { instanceId: "ib", clientId: "cb", ...o }); // rebalances a out of CompletingRebalance
  const ja2 = h.join("g", { instanceId: "ia", memberId: a, ...o });
  const b = h.joinResponse(jb)!.memberId;
  const gen = h.joinResponse(ja2)!.generationId;
  h.sync("g", b, gen, {}, { instanceId: "ib" });
  h.sync("g", a, gen, { [a]: "A", [b]: "B" }, { instanceId: "ia" });
  expect(h.sm.groupState("g")).toBe("Stable");
  return { a, b, gen };
}

describe("group coordinator: static membership", () => {
  it("static members join without MEMBER_ID_REQUIRED; their ids start with the instance id", () => {
    const h = new Harness();
    const rid = h.join("g", { instanceId: "inst-1", clientId: "c" });
    expect(h.joinResponse(rid)).toMatchObject({ errorCode: E.NONE, memberId: "inst-1-1", generationId: 1 });
  });

  it("a static member rejoining a Stable group replaces its old id without a rebalance", () => {
    const h = new Harness();
    const { a, b, gen } = staticGroup(h);
    const recordsBefore = h.records.length;
    // b restarts: unknown member id, same instance id and protocols.
    const rj = h.join("g", { instanceId: "ib", clientId: "cb" });
    const r = h.joinResponse(rj)!;
    expect(r).toMatchObject({
      errorCode: E.NONE,
      generationId: gen,
      leader: a,
      members: [],
      skipAssignment: false,
    });
    expect(r.memberId).not.toBe(b);
    expect(h.sm.groupState("g")).toBe("Stable");
    expect(h.sm.groupGeneration("g")).toBe(gen);
    // The replacement was persisted before the member was answered.
    const rec = h.records.slice(recordsBefore).find((x) => x.type === "group");
    expect(rec?.type === "group" && rec.value?.members.map((m) => m.memberId)).toContain(r.memberId);
    // The new id gets the old assignment; the old id is fenced.
    const s = h.sync("g", r.memberId, gen, {}, { instanceId: "ib" });
    expect(h.syncResponse(s)?.assignment.toString()).toBe("B");
    expect(h.heartbeat("g", r.memberId, gen, "ib")).toBe(E.NONE);
    expect(h.heartbeat("g", b, gen, "ib")).toBe(E.FENCED_INSTANCE_ID);
    expect(h.syncResponse(h.sync("g", b, gen, {}, { instanceId: "ib" }))?.errorCode).toBe(
      E.FENCED_INSTANCE_ID,
    );
    expect(
      h.commitErrors(h.commit("g", { t: { 0: 1 } }, { generationId: gen, memberId: b, instanceId: "ib" })),
    ).toEqual({
      "t/0": E.FENCED_INSTANCE_ID,
    });
    expect(h.heartbeat("g", a, gen, "ia")).toBe(E.NONE);
  });

  it("a static leader rejoining gets skipAssignment with the members at v9, nothing to assign before", () => {
    const h = new Harness();
    const { gen } = staticGroup(h);
    const r9 = h.joinResponse(h.join("g", { instanceId: "ia", clientId: "ca", apiVersion: 9 }))!;
    expect(r9).toMatchObject({ errorCode: E.NONE, generationId: gen, skipAssignment: true });
    expect(r9.leader).toBe(r9.memberId);
    expect(r9.members).toHaveLength(2);
    const r8 = h.joinResponse(h.join("g", { instanceId: "ia", clientId: "ca", apiVersion: 8 }))!;
    expect(r8).toMatchObject({ errorCode: E.NONE, generationId: gen, skipAssignment: false, members: [] });
    expect(r8.leader).toBe(r8.memberId);
    expect(h.sm.groupState("g")).toBe("Stable");
  });

  it("a static member rejoining with protocols that keep the selection does not rebalance", () => {
    const h = new Harness();
    const { gen } = staticGroup(h);
    const p = (names: string[]) => names.map((name) => ({ name, metadata: Buffer.from("x") }));
    // b now lists only range: still the protocol everyone supports and prefers.
    h.join("g", { instanceId: "ib", protocols: p(["range"]) });
    expect(h.sm.groupState("g")).toBe("Stable");
    expect(h.sm.groupGeneration("g")).toBe(gen);
    // A protocol type mismatch is rejected outright.
    const bad = h.join("g", { instanceId: "ib", protocolType: "connect" });
    expect(h.joinResponse(bad)?.errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
  });

  it("selection change on static rejoin rebalances", () => {
    const h = new Harness();
    const p = (names: string[]) => names.map((name) => ({ name, metadata: Buffer.from("x") }));
    const ja = h.join("g", { instanceId: "ia", protocols: p(["range", "sticky"]) });
    const a = h.joinResponse(ja)!.memberId;
    h.sync("g", a, 1, { [a]: "A" }, { instanceId: "ia" });
    expect(h.joinResponse(ja)?.protocolName).toBe("range");
    const rj = h.join("g", { instanceId: "ia", protocols: p(["sticky", "range"]) });
    // The only member rejoined, so the rebalance completes at once with the new selection.
    expect(h.joinResponse(rj)).toMatchObject({ errorCode: E.NONE, generationId: 2, protocolName: "sticky" });
    expect(h.heartbeat("g", a, 1, "ia")).toBe(E.FENCED_INSTANCE_ID);
  });

  it("a static member that does not rejoin stays through the rebalance until its session expires", () => {
    const h = new Harness();
    const { a, b, gen } = staticGroup(h, { sessionTimeoutMs: 20_000 });
    const ra = h.join("g", {
      instanceId: "ia",
      memberId: a,
      sessionTimeoutMs: 20_000,
      rebalanceTimeoutMs: 5000,
    });
    // The rebalance timeout is the longest of the members' (b's 30 s), but b neither heartbeats nor
    // rejoins: its session expires at 20 s, after which everyone left has rejoined.
    h.advance(19_999);
    expect(h.joinResponse(ra)).toBeUndefined();
    h.advance(1);
    const r = h.joinResponse(ra)!;
    expect(r.generationId).toBe(gen + 1);
    expect(r.members.map((m) => m.memberId)).toEqual([a]);
    expect(h.heartbeat("g", b, gen, "ib")).toBe(E.UNKNOWN_MEMBER_ID);
  });

  it("static members silent at the rebalance deadline are kept while their session lasts", () => {
    const h = new Harness();
    const { a, b, gen } = staticGroup(h, { sessionTimeoutMs: 60_000 });
    const ra = h.join("g", { instanceId: "ia", memberId: a, sessionTimeoutMs: 60_000 });
    h.advance(30_000); // rebalance timeout: b is static, so it stays in the new generation
    const r = h.joinResponse(ra)!;
    expect(r.generationId).toBe(gen + 1);
    expect(r.members.map((m) => m.memberId).sort()).toEqual([a, b].sort());
    expect(h.heartbeat("g", b, gen + 1, "ib")).toBe(E.NONE);
  });

  it("LeaveGroup by instance id removes a static member; mismatched ids are fenced", () => {
    const h = new Harness();
    const { a, b } = staticGroup(h);
    const res = h.leave("g", [
      { memberId: "", groupInstanceId: "ib" },
      { memberId: "wrong", groupInstanceId: "ia" },
      { memberId: "", groupInstanceId: "nobody" },
    ]);
    expect(res.members).toEqual([
      { memberId: "", groupInstanceId: "ib", errorCode: E.NONE },
      { memberId: "wrong", groupInstanceId: "ia", errorCode: E.FENCED_INSTANCE_ID },
      { memberId: "", groupInstanceId: "nobody", errorCode: E.UNKNOWN_MEMBER_ID },
    ]);
    expect(h.sm.groupState("g")).toBe("PreparingRebalance");
    expect(h.describe("g")[0]!.members.map((m) => m.memberId)).toEqual([a]);
    expect(b).toBeTruthy();
  });

  it("a static rejoin during CompletingRebalance fences the old id's pending sync and rebalances", () => {
    const h = new Harness();
    const ja = h.join("g", { instanceId: "ia" });
    const a = h.joinResponse(ja)!.memberId;
    const sa = h.sync("g", a, 1, {}, { instanceId: "ia" }); // leader syncs but store is slow
    expect(h.sm.groupState("g")).toBe("Stable");
    // Now force CompletingRebalance with a pending follower sync.
    const jb = h.join("g", { instanceId: "ib" });
    const ja2 = h.join("g", { instanceId: "ia", memberId: a });
    const b = h.joinResponse(jb)!.memberId;
    const gen = h.joinResponse(ja2)!.generationId;
    const sb = h.sync("g", b, gen, {}, { instanceId: "ib" });
    expect(h.syncResponse(sb)).toBeUndefined();
    const jb2 = h.join("g", { instanceId: "ib" }); // b restarts with an unknown member id
    expect(h.syncResponse(sb)?.errorCode).toBe(E.FENCED_INSTANCE_ID);
    expect(h.sm.groupState("g")).toBe("PreparingRebalance");
    h.join("g", { instanceId: "ia", memberId: a });
    expect(h.joinResponse(jb2)).toMatchObject({ errorCode: E.NONE, generationId: gen + 1 });
    expect(h.syncResponse(sa)?.errorCode).toBe(E.NONE);
  });

  it("a failed write of the replacement restores the old member id", () => {
    const h = new Harness();
    const { b, gen } = staticGroup(h);
    h.autoAck = false;
    const rj = h.join("g", { instanceId: "ib" });
    expect(h.joinResponse(rj)).toBeUndefined();
    h.failAppends(E.NOT_ENOUGH_REPLICAS);
    expect(h.joinResponse(rj)).toMatchObject({ errorCode: E.COORDINATOR_NOT_AVAILABLE, memberId: "" });
    expect(h.heartbeat("g", b, gen, "ib")).toBe(E.NONE);
  });

  it("JoinGroup with a known static member id and the wrong instance mapping is fenced", () => {
    const h = new Harness();
    const { a } = staticGroup(h);
    expect(h.joinResponse(h.join("g", { instanceId: "ib", memberId: a }))?.errorCode).toBe(
      E.FENCED_INSTANCE_ID,
    );
    expect(h.joinResponse(h.join("g", { instanceId: "nobody", memberId: a }))?.errorCode).toBe(
      E.UNKNOWN_MEMBER_ID,
    );
  });
});
