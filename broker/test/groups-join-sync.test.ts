import { describe, expect, it } from "vitest";
import { consumerProtocols, E, Harness, subscription } from "./groups-harness.ts";

describe("group coordinator: JoinGroup / SyncGroup", () => {
  it("one member: MEMBER_ID_REQUIRED, rejoin, leader of generation 1, sync returns its assignment", () => {
    const h = new Harness();
    const first = h.join("g", { clientId: "app" });
    expect(h.joinResponse(first)).toMatchObject({ errorCode: E.MEMBER_ID_REQUIRED, memberId: "app-1" });
    expect(h.sm.groupState("g")).toBe("Empty");

    const rid = h.join("g", { clientId: "app", memberId: "app-1", topics: ["orders"] });
    const r = h.joinResponse(rid)!;
    expect(r).toMatchObject({
      errorCode: E.NONE,
      generationId: 1,
      memberId: "app-1",
      leader: "app-1",
      protocolType: "consumer",
      protocolName: "range",
      skipAssignment: false,
    });
    expect(r.members).toEqual([
      { memberId: "app-1", groupInstanceId: null, metadata: subscription("orders") },
    ]);
    expect(h.sm.groupState("g")).toBe("CompletingRebalance");

    const s = h.sync("g", "app-1", 1, { "app-1": "mine" });
    expect(h.syncResponse(s)).toEqual({
      errorCode: E.NONE,
      protocolType: "consumer",
      protocolName: "range",
      assignment: Buffer.from("mine"),
    });
    expect(h.sm.groupState("g")).toBe("Stable");
    // The assignment was persisted as the group's metadata.
    const rec = h.records.find((x) => x.type === "group");
    expect(rec?.type === "group" && rec.value?.members[0]?.assignment.toString()).toBe("mine");
    expect(h.heartbeat("g", "app-1", 1)).toBe(E.NONE);
  });

  it("JoinGroup v3 and older join at once without MEMBER_ID_REQUIRED", () => {
    const h = new Harness();
    const rid = h.join("g", { clientId: "old", apiVersion: 3 });
    expect(h.joinResponse(rid)).toMatchObject({ errorCode: E.NONE, memberId: "old-1", generationId: 1 });
  });

  it("three members: leader gets every member's metadata, followers wait for the leader's SyncGroup", () => {
    const h = new Harness({ initialRebalanceDelayMs: 1000 });
    const a = h.joinNew("g", { clientId: "a", topics: ["x"] });
    h.advance(100);
    const b = h.joinNew("g", { clientId: "b", topics: ["y"] });
    const c = h.joinNew("g", { clientId: "c", topics: ["x", "y"] });
    // Held during the initial delay (extended once because members kept arriving).
    expect(h.joinResponse(a.rid)).toBeUndefined();
    h.advance(900);
    expect(h.joinResponse(a.rid)).toBeUndefined();
    h.advance(1000);
    const ra = h.joinResponse(a.rid)!;
    const rb = h.joinResponse(b.rid)!;
    const rc = h.joinResponse(c.rid)!;
    for (const r of [ra, rb, rc])
      expect(r).toMatchObject({ errorCode: E.NONE, generationId: 1, leader: a.memberId });
    expect(ra.members.map((m) => m.memberId)).toEqual([a.memberId, b.memberId, c.memberId]);
    expect(ra.members[2]!.metadata).toEqual(subscription("x", "y"));
    expect(rb.members).toEqual([]);
    expect(rc.members).toEqual([]);

    const sb = h.sync("g", b.memberId, 1);
    const sc = h.sync("g", c.memberId, 1);
    expect(h.syncResponse(sb)).toBeUndefined();
    expect(h.heartbeat("g", b.memberId, 1)).toBe(E.NONE); // heartbeats are fine in CompletingRebalance
    const sa = h.sync("g", a.memberId, 1, { [a.memberId]: "A", [b.memberId]: "B" });
    expect(h.syncResponse(sa)?.assignment.toString()).toBe("A");
    expect(h.syncResponse(sb)?.assignment.toString()).toBe("B");
    // A member the leader left out gets an empty assignment.
    expect(h.syncResponse(sc)).toMatchObject({ errorCode: E.NONE, assignment: Buffer.alloc(0) });
    expect(h.sm.groupState("g")).toBe("Stable");
    // A late SyncGroup in Stable returns the stored assignment.
    expect(h.syncResponse(h.sync("g", b.memberId, 1))?.assignment.toString()).toBe("B");
  });

  it("the initial delay holds the first rebalance of a new group; later rebalances are not delayed", () => {
    const h = new Harness({ initialRebalanceDelayMs: 3000 });
    const a = h.joinNew("g");
    h.advance(2999);
    expect(h.joinResponse(a.rid)).toBeUndefined();
    h.advance(1);
    expect(h.joinResponse(a.rid)?.generationId).toBe(1);
  });

  it("a new member joining a Stable group triggers a rebalance; the others rejoin", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 2);
    const [a, b] = members as [string, string];
    const c = h.joinNew("g", { clientId: "late" });
    expect(h.sm.groupState("g")).toBe("PreparingRebalance");
    expect(h.joinResponse(c.rid)).toBeUndefined();
    expect(h.heartbeat("g", a, generation)).toBe(E.REBALANCE_IN_PROGRESS);
    // Sync in PreparingRebalance is refused too.
    expect(h.syncResponse(h.sync("g", b, generation))?.errorCode).toBe(E.REBALANCE_IN_PROGRESS);
    const ra = h.join("g", { memberId: a });
    expect(h.joinResponse(ra)).toBeUndefined();
    const rb = h.join("g", { memberId: b });
    for (const rid of [ra, rb, c.rid]) expect(h.joinResponse(rid)?.generationId).toBe(generation + 1);
    expect(h.joinResponse(ra)?.leader).toBe(a);
    expect(h.joinResponse(ra)?.members).toHaveLength(3);
  });

  it("a leaving member triggers a rebalance; when the leader leaves another member leads", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 3);
    const [a, b, c] = members as [string, string, string];
    const res = h.leave("g", [{ memberId: a }]);
    expect(res).toEqual({
      errorCode: E.NONE,
      members: [{ memberId: a, groupInstanceId: null, errorCode: E.NONE }],
    });
    expect(h.sm.groupState("g")).toBe("PreparingRebalance");
    const rb = h.join("g", { memberId: b });
    const rc = h.join("g", { memberId: c });
    expect(h.joinResponse(rb)).toMatchObject({ generationId: generation + 1, leader: b });
    expect(h.joinResponse(rc)).toMatchObject({ generationId: generation + 1, leader: b, members: [] });
    expect(h.heartbeat("g", a, generation + 1)).toBe(E.UNKNOWN_MEMBER_ID);
  });

  it("LeaveGroup v3+ removes a batch and reports unknown members", () => {
    const h = new Harness();
    const { members } = h.stableGroup("g", 3);
    const res = h.leave("g", [{ memberId: members[0]! }, { memberId: "nobody" }, { memberId: members[1]! }]);
    expect(res.members.map((m) => m.errorCode)).toEqual([E.NONE, E.UNKNOWN_MEMBER_ID, E.NONE]);
    expect(h.leave("missing", [{ memberId: "x" }]).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
  });

  it("the last member leaving empties the group and bumps the generation", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 1);
    h.leave("g", [{ memberId: members[0]! }]);
    expect(h.sm.groupState("g")).toBe("Empty");
    expect(h.sm.groupGeneration("g")).toBe(generation + 1);
    const last = h.records.at(-1);
    expect(last?.type === "group" && last.value).toMatchObject({ generation: generation + 1, members: [] });
  });

  it("session timeout removes a silent member and rebalances the rest", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 2, { sessionTimeoutMs: 5000 });
    const [a, b] = members as [string, string];
    h.advance(4000);
    expect(h.heartbeat("g", a, generation)).toBe(E.NONE);
    h.advance(1000); // b's session expires at 5000
    expect(h.sm.groupState("g")).toBe("PreparingRebalance");
    expect(h.heartbeat("g", b, generation)).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.heartbeat("g", a, generation)).toBe(E.REBALANCE_IN_PROGRESS);
    const ra = h.join("g", { memberId: a });
    expect(h.joinResponse(ra)).toMatchObject({ generationId: generation + 1, leader: a });
    expect(h.joinResponse(ra)?.members.map((m) => m.memberId)).toEqual([a]);
  });

  it("rebalance timeout completes the join without members that did not rejoin", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 3, {
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 8000,
    });
    const [a, b, c] = members as [string, string, string];
    const ra = h.join("g", { memberId: a, rebalanceTimeoutMs: 8000 }); // leader rejoins: rebalance
    const rb = h.join("g", { memberId: b, rebalanceTimeoutMs: 8000 });
    // c keeps heartbeating but never rejoins.
    for (let t = 0; t < 7; t++) {
      h.advance(1000);
      expect(h.heartbeat("g", c, generation)).toBe(E.REBALANCE_IN_PROGRESS);
    }
    expect(h.joinResponse(ra)).toBeUndefined();
    h.advance(1000);
    expect(h.joinResponse(ra)?.members.map((m) => m.memberId)).toEqual([a, b]);
    expect(h.joinResponse(rb)?.generationId).toBe(generation + 1);
    expect(h.heartbeat("g", c, generation)).toBe(E.UNKNOWN_MEMBER_ID);
  });

  it("a member id handed out with MEMBER_ID_REQUIRED holds the rebalance until it joins or expires", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 1);
    const first = h.join("g", { clientId: "slow", sessionTimeoutMs: 6000 });
    expect(h.joinResponse(first)?.errorCode).toBe(E.MEMBER_ID_REQUIRED);
    const ra = h.join("g", { memberId: members[0]! }); // leader rejoin → rebalance
    expect(h.joinResponse(ra)).toBeUndefined();
    h.advance(6000); // the pending member never came back
    expect(h.joinResponse(ra)).toMatchObject({ generationId: generation + 1 });
  });

  it("a leader's JoinGroup in Stable rebalances; a follower's with unchanged metadata gets the current generation", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 2);
    const rf = h.join("g", { memberId: members[1]! });
    expect(h.joinResponse(rf)).toMatchObject({ errorCode: E.NONE, generationId: generation, members: [] });
    expect(h.sm.groupState("g")).toBe("Stable");
    // A follower with new metadata forces a rebalance.
    h.join("g", { memberId: members[1]!, topics: ["other"] });
    expect(h.sm.groupState("g")).toBe("PreparingRebalance");
  });

  it("a member repeating its JoinGroup in CompletingRebalance gets this generation's response again", () => {
    const h = new Harness();
    const a = h.joinNew("g");
    const gen = h.joinResponse(a.rid)!.generationId;
    const again = h.join("g", { memberId: a.memberId });
    expect(h.joinResponse(again)).toMatchObject({ generationId: gen, leader: a.memberId });
    expect(h.joinResponse(again)?.members).toHaveLength(1);
    expect(h.sm.groupState("g")).toBe("CompletingRebalance");
  });

  it("a rebalance during CompletingRebalance answers waiting followers with REBALANCE_IN_PROGRESS", () => {
    const h = new Harness();
    const a = h.joinNew("g", { clientId: "a" });
    const b = h.joinNew("g", { clientId: "b" });
    // Both joined gen 1 (delay 0 → a alone first, then b's join rebalances).
    const genA = h.joinResponse(a.rid)!.generationId;
    expect(h.joinResponse(b.rid)).toBeUndefined();
    const ra = h.join("g", { memberId: a.memberId });
    expect(h.joinResponse(b.rid)?.generationId).toBe(genA + 1);
    const sb = h.sync("g", b.memberId, genA + 1);
    expect(h.syncResponse(sb)).toBeUndefined();
    h.joinNew("g", { clientId: "c" }); // new member → rebalance
    expect(h.syncResponse(sb)?.errorCode).toBe(E.REBALANCE_IN_PROGRESS);
    expect(h.joinResponse(ra)?.errorCode).toBe(E.NONE);
  });

  it("a leader that never syncs is removed after the rebalance timeout (pending sync expiry)", () => {
    const h = new Harness();
    const a = h.joinNew("g", { clientId: "a", rebalanceTimeoutMs: 5000 });
    h.join("g", { memberId: a.memberId, rebalanceTimeoutMs: 5000 }); // same metadata: resend
    const gen = h.joinResponse(a.rid)!.generationId;
    h.advance(4000);
    expect(h.heartbeat("g", a.memberId, gen)).toBe(E.NONE);
    h.advance(1000);
    expect(h.heartbeat("g", a.memberId, gen)).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.sm.groupState("g")).toBe("Empty");
  });

  it("selects the protocol all members support that most prefer", () => {
    const h = new Harness({ initialRebalanceDelayMs: 100 });
    const p = (names: string[]) => names.map((name) => ({ name, metadata: Buffer.from(name) }));
    const a = h.joinNew("g", { protocols: p(["range", "roundrobin", "sticky"]) });
    h.joinNew("g", { protocols: p(["roundrobin", "range"]) });
    h.joinNew("g", { protocols: p(["sticky", "roundrobin", "range"]) });
    h.joinNew("g", { protocols: p(["roundrobin"]) });
    h.advance(100); // members arrived during the delay: it is extended once
    expect(h.joinResponse(a.rid)).toBeUndefined();
    h.advance(100);
    const r = h.joinResponse(a.rid)!;
    expect(r.protocolName).toBe("roundrobin");
    // The leader sees each member's metadata for the selected protocol.
    expect(r.members.map((m) => m.metadata.toString())).toEqual([
      "roundrobin",
      "roundrobin",
      "roundrobin",
      "roundrobin",
    ]);
    // A member without a common protocol cannot join.
    const bad = h.join("g", { protocols: p(["sticky"]) });
    expect(h.joinResponse(bad)).toMatchObject({ errorCode: E.INCONSISTENT_GROUP_PROTOCOL, memberId: "" });
  });

  it("INCONSISTENT_GROUP_PROTOCOL: protocol type mismatch, empty type or protocols, SyncGroup v5 checks", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 1);
    expect(h.joinResponse(h.join("g", { protocolType: "connect" }))?.errorCode).toBe(
      E.INCONSISTENT_GROUP_PROTOCOL,
    );
    expect(h.joinResponse(h.join("new", { protocolType: "" }))?.errorCode).toBe(
      E.INCONSISTENT_GROUP_PROTOCOL,
    );
    expect(h.joinResponse(h.join("new2", { protocols: [] }))?.errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    const m = members[0]!;
    const bad1 = h.sync("g", m, generation, {}, { protocolType: "connect" });
    const bad2 = h.sync("g", m, generation, {}, { protocolName: "roundrobin" });
    const ok = h.sync("g", m, generation, {}, { protocolType: "consumer", protocolName: "range" });
    expect(h.syncResponse(bad1)?.errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    expect(h.syncResponse(bad2)?.errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    expect(h.syncResponse(ok)?.errorCode).toBe(E.NONE);
  });

  it("ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID on JoinGroup, SyncGroup and Heartbeat", () => {
    const h = new Harness();
    const { members, generation } = h.stableGroup("g", 1);
    const m = members[0]!;
    expect(h.heartbeat("g", m, generation + 1)).toBe(E.ILLEGAL_GENERATION);
    expect(h.heartbeat("g", "ghost", generation)).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.heartbeat("nope", m, generation)).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.syncResponse(h.sync("g", m, generation - 1))?.errorCode).toBe(E.ILLEGAL_GENERATION);
    expect(h.syncResponse(h.sync("g", "ghost", generation))?.errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.syncResponse(h.sync("nope", m, generation))?.errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.joinResponse(h.join("g", { memberId: "ghost" }))).toMatchObject({
      errorCode: E.UNKNOWN_MEMBER_ID,
      memberId: "ghost",
    });
    expect(h.joinResponse(h.join("nope", { memberId: "ghost" }))?.errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.sm.groupState("nope")).toBeUndefined();
  });

  it("validates the group id and the session timeout", () => {
    const h = new Harness({ minSessionTimeoutMs: 6000, maxSessionTimeoutMs: 60_000 });
    expect(h.joinResponse(h.join("", {}))?.errorCode).toBe(E.INVALID_GROUP_ID);
    expect(h.joinResponse(h.join("g", { sessionTimeoutMs: 5999 }))?.errorCode).toBe(
      E.INVALID_SESSION_TIMEOUT,
    );
    expect(h.joinResponse(h.join("g", { sessionTimeoutMs: 60_001 }))?.errorCode).toBe(
      E.INVALID_SESSION_TIMEOUT,
    );
    expect(h.syncResponse(h.sync("", "m", 1))?.errorCode).toBe(E.INVALID_GROUP_ID);
    expect(h.heartbeat("", "m", 1)).toBe(E.INVALID_GROUP_ID);
  });

  it("GROUP_MAX_SIZE_REACHED beyond group.max.size", () => {
    const h = new Harness({ maxGroupSize: 2 });
    h.stableGroup("g", 2);
    const r = h.join("g", { clientId: "third" });
    expect(h.joinResponse(r)).toMatchObject({ errorCode: E.GROUP_MAX_SIZE_REACHED, memberId: "" });
    expect(h.sm.groupState("g")).toBe("Stable");
  });

  it("a new member whose JoinGroup waits too long is dropped (new member join timeout)", () => {
    const h = new Harness({ newMemberJoinTimeoutMs: 20_000 });
    const { members } = h.stableGroup("g", 1, { rebalanceTimeoutMs: 60_000, sessionTimeoutMs: 30_000 });
    const late = h.joinNew("g", { clientId: "late", rebalanceTimeoutMs: 60_000, sessionTimeoutMs: 30_000 });
    h.advance(10_000);
    expect(h.heartbeat("g", members[0]!, 1)).toBe(E.REBALANCE_IN_PROGRESS);
    h.advance(10_000);
    expect(h.joinResponse(late.rid)).toMatchObject({ errorCode: E.UNKNOWN_MEMBER_ID, memberId: "" });
  });

  it("uses protocol metadata of the member's own protocols for the selected protocol", () => {
    const h = new Harness();
    const a = h.joinNew("g", { protocols: consumerProtocols(["t1"], ["cooperative-sticky", "range"]) });
    expect(h.joinResponse(a.rid)?.protocolName).toBe("cooperative-sticky");
  });
});
