// Consumer groups: join/sync/heartbeat, assignment (range, roundrobin, cooperative-sticky), rebalance
// on member join, leave and crash (session timeout), static membership, commit and fetch offsets
// (also across a coordinator restart), list/describe/delete groups.
import { expect } from "vitest";
import { ERROR_CODES as E } from "../../protocol/error-codes.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import type { Assignment, GroupMember } from "../clients/types.ts";
import { clientMatrix, expectKafkaError, rawSuite } from "../context.ts";
import { restartNode } from "../control.ts";
import { RawMember, rawCommit, rawFetchOffset } from "../raw/group.ts";
import { codeName, waitFor } from "../raw/kafka.ts";

const parts = (a: Assignment) => a.map((x) => x.partition);
const sizeIs = (n: number) => (a: Assignment) => a.length === n;

async function leaveAll(...members: (GroupMember | undefined)[]): Promise<void> {
  for (const m of members) await m?.leave().catch(() => {});
}

clientMatrix("Consumer groups", (test) => {
  test("a single member is assigned every partition and consumes every record", {}, async ({
    client,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic({ partitions: 3 });
    await client.produce(
      topic,
      [0, 1, 2].map((p) => ({ value: `p${p}`, partition: p })),
    );
    const a = await client.joinGroup({ groupId: topicName("g"), topics: [topic] });
    try {
      expect(parts(await a.waitForAssignment(sizeIs(3)))).toEqual([0, 1, 2]);
      const got = await a.waitForMessages(3);
      expect(got.map((m) => m.value?.toString()).sort()).toEqual(["p0", "p1", "p2"]);
    } finally {
      await leaveAll(a);
    }
  });

  test("a joining member triggers a rebalance that splits the partitions disjointly and completely", {}, async ({
    client,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic({ partitions: 4 });
    const groupId = topicName("g");
    const a = await client.joinGroup({ groupId, topics: [topic] });
    let b: GroupMember | undefined;
    try {
      await a.waitForAssignment(sizeIs(4));
      const before = a.generations;
      b = await client.joinGroup({ groupId, topics: [topic] });
      const bParts = parts(await b.waitForAssignment(sizeIs(2)));
      const aParts = parts(await a.waitForAssignment(sizeIs(2)));
      expect(a.generations).toBeGreaterThan(before);
      expect([...aParts, ...bParts].sort()).toEqual([0, 1, 2, 3]);
    } finally {
      await leaveAll(a, b);
    }
  });

  test("the client's default assignor shapes the split (rdkafka range: contiguous; kafkajs roundrobin: alternating)", {}, async ({
    client,
    kind,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic({ partitions: 4 });
    const groupId = topicName("g");
    const a = await client.joinGroup({ groupId, topics: [topic] });
    let b: GroupMember | undefined;
    try {
      await a.waitForAssignment(sizeIs(4));
      b = await client.joinGroup({ groupId, topics: [topic] });
      await b.waitForAssignment(sizeIs(2));
      await a.waitForAssignment(sizeIs(2));
      const shapes = [parts(a.assignment()), parts(b.assignment())].map((p) => p.join(",")).sort();
      expect(shapes).toEqual(kind === "rdkafka" ? ["0,1", "2,3"] : ["0,2", "1,3"]);
    } finally {
      await leaveAll(a, b);
    }
  });

  test("when a member leaves, the remaining member gets every partition", {}, async ({
    client,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic({ partitions: 4 });
    const groupId = topicName("g");
    const a = await client.joinGroup({ groupId, topics: [topic] });
    let b: GroupMember | undefined;
    try {
      await a.waitForAssignment(sizeIs(4));
      b = await client.joinGroup({ groupId, topics: [topic] });
      await b.waitForAssignment(sizeIs(2));
      await a.waitForAssignment(sizeIs(2));
      await b.leave();
      expect(parts(await a.waitForAssignment(sizeIs(4)))).toEqual([0, 1, 2, 3]);
    } finally {
      await leaveAll(a, b);
    }
  });

  test("when a member crashes (stops heartbeating), its partitions move to the survivor after the session timeout", {
    timeout: 90_000,
  }, async ({ client, raw, newTopic, topicName }) => {
    const topic = await newTopic({ partitions: 4 });
    const groupId = topicName("g");
    const a = await client.joinGroup({ groupId, topics: [topic] });
    try {
      await a.waitForAssignment(sizeIs(4));
      const crashing = new RawMember(raw, groupId, [topic], {
        sessionTimeoutMs: 6000,
        protocols: ["range", "RoundRobinAssigner", "roundrobin"],
      });
      const join = await crashing.join();
      expect(codeName(join.errorCode)).toBe(codeName(0));
      const sync = await crashing.sync(join, { [topic]: 4 });
      expect(codeName(sync.errorCode)).toBe(codeName(0));
      await a.waitForAssignment((x) => x.length < 4);
      // the raw member now sends nothing: no heartbeat, no LeaveGroup
      const t0 = Date.now();
      expect(parts(await a.waitForAssignment(sizeIs(4), 40_000))).toEqual([0, 1, 2, 3]);
      expect(Date.now() - t0).toBeGreaterThan(2000);
    } finally {
      await leaveAll(a);
    }
  });

  test("cooperative-sticky: a joining member takes partitions without the others being revoked wholesale", {
    clientOps: ["cooperativeSticky"],
  }, async ({ client, newTopic, topicName }) => {
    const topic = await newTopic({ partitions: 4 });
    const groupId = topicName("g");
    const a = await client.joinGroup({ groupId, topics: [topic], assignor: "cooperative-sticky" });
    let b: GroupMember | undefined;
    try {
      const first = parts(await a.waitForAssignment(sizeIs(4)));
      b = await client.joinGroup({ groupId, topics: [topic], assignor: "cooperative-sticky" });
      await b.waitForAssignment(sizeIs(2));
      const kept = parts(await a.waitForAssignment(sizeIs(2)));
      for (const p of kept) expect(first).toContain(p);
      const afterFirst = a.history().slice(a.history().findIndex((h) => h.length === 4));
      expect(
        afterFirst.every((h) => h.length >= 2),
        JSON.stringify(a.history()),
      ).toBe(true);
    } finally {
      await leaveAll(a, b);
    }
  });

  test("static membership: a static member that restarts within the session timeout gets its partitions back without a rebalance", {
    clientOps: ["staticMembership"],
    timeout: 90_000,
  }, async ({ client, newTopic, topicName }) => {
    const topic = await newTopic({ partitions: 4 });
    const groupId = topicName("g");
    const a = await client.joinGroup({
      groupId,
      topics: [topic],
      instanceId: "static-a",
      sessionTimeoutMs: 30_000,
    });
    let a2: GroupMember | undefined;
    let b: GroupMember | undefined;
    try {
      await a.waitForAssignment(sizeIs(4));
      b = await client.joinGroup({ groupId, topics: [topic], sessionTimeoutMs: 30_000 });
      await b.waitForAssignment(sizeIs(2));
      const aParts = parts(await a.waitForAssignment(sizeIs(2)));
      const bGenerations = b.generations;
      await a.leave(); // a static member closes without LeaveGroup
      a2 = await client.joinGroup({
        groupId,
        topics: [topic],
        instanceId: "static-a",
        sessionTimeoutMs: 30_000,
      });
      expect(parts(await a2.waitForAssignment(sizeIs(2)))).toEqual(aParts);
      expect(b.generations).toBe(bGenerations);
      expect(b.assignment().length).toBe(2);
    } finally {
      await leaveAll(a2, b);
    }
  });

  test("a new member resumes at the group's committed offset", {}, async ({
    client,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic({ partitions: 1 });
    const groupId = topicName("g");
    await client.produce(
      topic,
      Array.from({ length: 6 }, (_, i) => ({ value: `c${i}`, partition: 0 })),
    );
    const a = await client.joinGroup({ groupId, topics: [topic] });
    let b: GroupMember | undefined;
    try {
      await a.waitForMessages(6);
      await a.commit([{ topic, partition: 0, offset: 4n }]);
      await a.leave();
      b = await client.joinGroup({ groupId, topics: [topic] });
      const got = await b.waitForMessages(2);
      expect(got.map((m) => m.offset)).toEqual([4n, 5n]);
    } finally {
      await leaveAll(a, b);
    }
  });

  test("committed offsets are returned by an offset fetch", {}, async ({ client, newTopic, topicName }) => {
    const topic = await newTopic({ partitions: 2 });
    const groupId = topicName("g");
    await client.produce(
      topic,
      [0, 1].map((p) => ({ value: "x", partition: p })),
    );
    const a = await client.joinGroup({ groupId, topics: [topic] });
    try {
      await a.waitForAssignment(sizeIs(2));
      await a.commit([{ topic, partition: 0, offset: 1n }]);
    } finally {
      await leaveAll(a);
    }
    const offsets = await client.fetchOffsets(groupId, topic);
    expect(offsets.get(0)).toBe(1n);
    expect(offsets.get(1)).toBe(-1n);
  });

  test("committed offsets survive a restart of the group coordinator", {
    requires: ["nodeControl"],
    timeout: 120_000,
  }, async ({ client, raw, run, newTopic, topicName }) => {
    const topic = await newTopic({ partitions: 1 });
    const groupId = topicName("g");
    await client.produce(topic, [{ value: "x", partition: 0 }]);
    const a = await client.joinGroup({ groupId, topics: [topic] });
    try {
      await a.waitForAssignment(sizeIs(1));
      await a.commit([{ topic, partition: 0, offset: 1n }]);
    } finally {
      await leaveAll(a);
    }
    const coordinator = await raw.coordinator(groupId);
    const md = await raw.metadata([]);
    const node = md.brokers.find(
      (b) => b.port === coordinator.endpoint.port && b.host === coordinator.endpoint.host,
    )!;
    await restartNode(run.controlUrl!, node.nodeId);
    const offset = await waitFor(
      "committed offset after the coordinator restart",
      async () => (await client.fetchOffsets(groupId, topic)).get(0),
      60_000,
      500,
    );
    expect(offset).toBe(1n);
  });

  test("listGroups includes an active group", {
    requires: ["listGroups"],
    clientOps: ["listGroups"],
  }, async ({ client, newTopic, topicName }) => {
    const topic = await newTopic();
    const groupId = topicName("g");
    const a = await client.joinGroup({ groupId, topics: [topic] });
    try {
      await a.waitForAssignment(sizeIs(1));
      const groups = await client.listGroups();
      expect(groups.find((g) => g.groupId === groupId)?.protocolType).toBe("consumer");
    } finally {
      await leaveAll(a);
    }
  });

  test("describeGroups reports a stable group, its protocol and each member's assignment", {
    requires: ["describeGroups"],
    clientOps: ["describeGroups"],
  }, async ({ client, newTopic, topicName }) => {
    const topic = await newTopic({ partitions: 2 });
    const groupId = topicName("g");
    const a = await client.joinGroup({ groupId, topics: [topic] });
    try {
      await a.waitForAssignment(sizeIs(2));
      const [g] = await client.describeGroups([groupId]);
      expect(g.state).toBe("Stable");
      expect(g.protocolType).toBe("consumer");
      expect(g.protocol.length).toBeGreaterThan(0);
      expect(g.members.length).toBe(1);
      expect(g.members[0].assignment).toEqual([{ topic, partitions: [0, 1] }]);
    } finally {
      await leaveAll(a);
    }
  });

  test("deleteGroups deletes an empty group and refuses a non-empty one with NON_EMPTY_GROUP", {
    requires: ["deleteGroups", "listGroups"],
    clientOps: ["deleteGroups", "listGroups"],
  }, async ({ client, raw, newTopic, topicName }) => {
    const topic = await newTopic();
    const busy = topicName("busy");
    const idle = topicName("idle");
    expect(await rawCommit(raw, idle, topic, 0, 0n)).toBe(0);
    const a = await client.joinGroup({ groupId: busy, topics: [topic] });
    try {
      await a.waitForAssignment(sizeIs(1));
      await expectKafkaError(() => client.deleteGroups([busy]), "NON_EMPTY_GROUP");
      await client.deleteGroups([idle]);
      expect((await client.listGroups()).map((g) => g.groupId)).not.toContain(idle);
    } finally {
      await leaveAll(a);
    }
  });
});

rawSuite("Consumer groups", (test) => {
  test("JoinGroup without a member id answers MEMBER_ID_REQUIRED with an id to use", {}, async ({
    raw,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic();
    const m = new RawMember(raw, topicName("g"), [topic]);
    const res = await m.joinOnce("");
    expect(codeName(res.errorCode)).toBe(codeName(E.MEMBER_ID_REQUIRED));
    expect(res.memberId.length).toBeGreaterThan(0);
  });

  test("join, sync and heartbeat: a lone member leads generation 1+ and gets its assignment", {}, async ({
    raw,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic({ partitions: 2 });
    const m = new RawMember(raw, topicName("g"), [topic]);
    const join = await m.join();
    expect(codeName(join.errorCode)).toBe(codeName(0));
    expect(join.leader).toBe(m.memberId);
    expect(join.generationId).toBeGreaterThanOrEqual(1);
    expect(join.protocolName).toBe("range");
    expect(join.members.map((x) => x.memberId)).toEqual([m.memberId]);
    const sync = await m.sync(join, { [topic]: 2 });
    expect(codeName(sync.errorCode)).toBe(codeName(0));
    expect(sync.assignment).toEqual([{ topic, partitions: [0, 1] }]);
    expect(codeName(await m.heartbeat())).toBe(codeName(0));
    expect((await m.leave()).map(codeName)).toEqual([codeName(0), codeName(0)]);
  });

  test("Heartbeat from an unknown member fails with UNKNOWN_MEMBER_ID", {}, async ({
    raw,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic();
    const m = new RawMember(raw, topicName("g"), [topic]);
    const join = await m.join();
    await m.sync(join, { [topic]: 1 });
    expect(codeName(await m.heartbeat(m.generationId, "no-such-member"))).toBe(codeName(E.UNKNOWN_MEMBER_ID));
    await m.leave();
  });

  test("Heartbeat with a stale generation fails with ILLEGAL_GENERATION", {}, async ({
    raw,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic();
    const m = new RawMember(raw, topicName("g"), [topic]);
    const join = await m.join();
    await m.sync(join, { [topic]: 1 });
    expect(codeName(await m.heartbeat(m.generationId + 5))).toBe(codeName(E.ILLEGAL_GENERATION));
    await m.leave();
  });

  test("a JoinGroup session timeout outside the broker's bounds fails with INVALID_SESSION_TIMEOUT", {}, async ({
    raw,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic();
    const m = new RawMember(raw, topicName("g"), [topic], { sessionTimeoutMs: 1 });
    const res = await m.join();
    expect(codeName(res.errorCode)).toBe(codeName(E.INVALID_SESSION_TIMEOUT));
  });

  test("static membership: a rejoin with the same group.instance.id fences the old member id (FENCED_INSTANCE_ID)", {}, async ({
    raw,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic();
    const groupId = topicName("g");
    const first = new RawMember(raw, groupId, [topic], { instanceId: "inst-1" });
    const j1 = await first.join();
    expect(codeName(j1.errorCode)).toBe(codeName(0));
    await first.sync(j1, { [topic]: 1 });
    const oldId = first.memberId;
    const second = new RawMember(raw, groupId, [topic], { instanceId: "inst-1" });
    const j2 = await second.join();
    expect(codeName(j2.errorCode)).toBe(codeName(0));
    expect(second.memberId).not.toBe(oldId);
    expect(codeName(await first.heartbeat(first.generationId, oldId))).toBe(codeName(E.FENCED_INSTANCE_ID));
  });

  test("OffsetCommit then OffsetFetch returns the committed offset; an uncommitted partition answers -1", {}, async ({
    raw,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic({ partitions: 2 });
    const groupId = topicName("g");
    expect(codeName(await rawCommit(raw, groupId, topic, 0, 42n))).toBe(codeName(0));
    expect((await rawFetchOffset(raw, groupId, topic, 0)).offset).toBe(42n);
    const none = await rawFetchOffset(raw, groupId, topic, 1);
    expect([none.offset, codeName(none.errorCode)]).toEqual([-1n, codeName(0)]);
  });

  test("OffsetCommit with an unknown member id of an active group fails with UNKNOWN_MEMBER_ID", {}, async ({
    raw,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic();
    const groupId = topicName("g");
    const m = new RawMember(raw, groupId, [topic]);
    const join = await m.join();
    await m.sync(join, { [topic]: 1 });
    const code = await rawCommit(raw, groupId, topic, 0, 1n, {
      generationId: m.generationId,
      memberId: "intruder",
    });
    expect(codeName(code)).toBe(codeName(E.UNKNOWN_MEMBER_ID));
    await m.leave();
  });

  test("DescribeGroups of an unknown group answers state Dead without error", {
    requires: ["describeGroups"],
  }, async ({ raw, topicName }) => {
    const groupId = topicName("none");
    const conn = await raw.coordinator(groupId);
    const v = await raw.version(ApiKey.DescribeGroups, 5);
    const res = await conn.request(ApiKey.DescribeGroups, v, {
      groups: [groupId],
      includeAuthorizedOperations: false,
    });
    const g = res.groups[0];
    expect([codeName(g.errorCode), g.groupState, g.members]).toEqual([codeName(0), "Dead", []]);
  });

  test("DeleteGroups of an unknown group fails with GROUP_ID_NOT_FOUND", {
    requires: ["deleteGroups"],
  }, async ({ raw, topicName }) => {
    const groupId = topicName("none");
    const conn = await raw.coordinator(groupId);
    const v = await raw.version(ApiKey.DeleteGroups);
    const res = await conn.request(ApiKey.DeleteGroups, v, { groupsNames: [groupId] });
    expect(codeName(res.results[0].errorCode)).toBe(codeName(E.GROUP_ID_NOT_FOUND));
  });

  test("LeaveGroup of an unknown member fails with UNKNOWN_MEMBER_ID", {}, async ({
    raw,
    newTopic,
    topicName,
  }) => {
    const topic = await newTopic();
    const m = new RawMember(raw, topicName("g"), [topic]);
    const join = await m.join();
    await m.sync(join, { [topic]: 1 });
    const [top, member] = await m.leave("someone-else");
    expect([top, member].map(codeName)).toContain(codeName(E.UNKNOWN_MEMBER_ID));
    await m.leave();
  });

  test("FindCoordinator answers a broker listed in Metadata", {}, async ({ raw, topicName }) => {
    const conn = await raw.bootstrap();
    const v = await raw.version(ApiKey.FindCoordinator);
    const key = topicName("g");
    const res = await conn.request(
      ApiKey.FindCoordinator,
      v,
      v >= 4 ? { keyType: 0, coordinatorKeys: [key] } : { key, keyType: 0 },
    );
    const c =
      v >= 4 ? res.coordinators![0] : { nodeId: res.nodeId!, errorCode: res.errorCode!, port: res.port! };
    expect(codeName(c.errorCode)).toBe(codeName(0));
    const brokers = (await raw.metadata([])).brokers;
    expect(brokers.find((b) => b.nodeId === c.nodeId)?.port).toBe(c.port);
  });
});
