// The reference broker's cluster mode: a node added to a running cluster (`--join`) catches up through a
// Raft snapshot. A 3-node cluster (harness, cluster mode, admin endpoints, a Raft snapshot every
// SNAPSHOT_EVERY applied entries) first shows its Raft metrics on every node's /metrics; then it takes
// 10,000 metadata changes (ConfigRecords committed through the controller: IncrementalAlterConfigs SET
// of 4 configs on 25 topics per request, 100 requests), which compacts every node's Raft log; then a 4th
// node joins through node 1's Raft address. It must come up from an installed snapshot (the log no
// longer starts at index 1 anywhere, and its snapshot-install counter moves), be promoted from learner
// to voter, and answer Metadata and DescribeConfigs exactly as the others do. The join time (start of
// node 4 → its Metadata equals the others') is printed and attached, never asserted. Then the leader is
// SIGKILLed (a new controller needs node 4's vote: 3 of 4 voters are left) and node 4 restarts from its
// own data.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LOOPBACK } from "../../harness/cluster/ports.ts";
import { ReferenceCluster } from "../../harness/targets/reference.ts";
import { RawConnection } from "../../protocol/client/connection.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import { waitFor as waitForShared } from "./wait-for.ts";

const SNAPSHOT_EVERY = 25;
const TOPICS = 25;
const CONFIGS = ["retention.ms", "retention.bytes", "segment.bytes", "max.message.bytes"] as const;
const ROUNDS = 100;
const CHANGES = TOPICS * CONFIGS.length * ROUNDS; // 10,000
const RESOURCE_TOPIC = 2;
const OP_SET = 0;

const topicName = (i: number) => `join-${String(i).padStart(2, "0")}`;

let cluster: ReferenceCluster;

beforeAll(async () => {
  cluster = new ReferenceCluster({
    nodes: 3,
    admin: true,
    config: { raftSnapshotThreshold: SNAPSHOT_EVERY },
  });
  await cluster.start();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

function port(nodeId: number): number {
  return cluster.nodes().find((n) => n.nodeId === nodeId)!.port;
}

async function withConnection<T>(nodeId: number, fn: (c: RawConnection) => Promise<T>): Promise<T> {
  const c = await RawConnection.open({ host: LOOPBACK, port: port(nodeId) }, "cluster-join-it");
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000) =>
  waitForShared(what, fn, timeoutMs, 50);

/** Time (epoch ms) of the first log line of `nodeId` whose msg is `msg`, after `since`. */
function logTime(nodeId: number, msg: string, since: number): number | undefined {
  const file = cluster.nodes().find((n) => n.nodeId === nodeId)!.logFile;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.includes(msg)) continue;
    try {
      const o = JSON.parse(line) as { time: number; msg: string };
      if (o.msg === msg && o.time >= since) return o.time;
    } catch {}
  }
  return undefined;
}

/** A node's Metadata (all topics), in a canonical form: sorted, throttle time dropped. */
async function metadataView(nodeId: number): Promise<string> {
  const md = await withConnection(nodeId, (c) =>
    c.request(ApiKey.Metadata, 12, {
      topics: null,
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    }),
  );
  return JSON.stringify({
    clusterId: md.clusterId,
    controllerId: md.controllerId,
    brokers: [...md.brokers].sort((a, b) => a.nodeId - b.nodeId),
    topics: [...md.topics]
      .sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""))
      .map((t) => ({
        ...t,
        partitions: [...t.partitions].sort((a, b) => a.partitionIndex - b.partitionIndex),
      })),
  });
}

/** A node's DescribeConfigs of every test topic (answered from its local, reconciled topics). */
async function configsView(nodeId: number): Promise<string> {
  const r = await withConnection(nodeId, (c) =>
    c.request(ApiKey.DescribeConfigs, 4, {
      resources: Array.from({ length: TOPICS }, (_, i) => ({
        resourceType: RESOURCE_TOPIC,
        resourceName: topicName(i),
        configurationKeys: null,
      })),
      includeSynonyms: false,
      includeDocumentation: false,
    }),
  );
  return JSON.stringify(r.results);
}

/** The value of a metric series of `nodeId`'s /metrics whose labels include all of `labels`. */
type Metrics = (name: string, labels?: Record<string, string>) => number | undefined;
async function metrics(nodeId: number): Promise<Metrics> {
  const text = await (await fetch(`${cluster.adminUrl(nodeId)}/metrics`)).text();
  const series: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    series.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return (name, want = {}) =>
    series.find(
      (s) =>
        s.name === name &&
        s.labels.node === String(nodeId) &&
        Object.entries(want).every(([k, v]) => s.labels[k] === v),
    )?.value;
}

describe("reference cluster: a node joins through a Raft snapshot", () => {
  test("the Raft metrics are on every node's /metrics", async () => {
    for (const n of [1, 2, 3]) {
      const m = await metrics(n);
      for (const name of [
        "gauntlet_raft_term",
        "gauntlet_raft_leader_id",
        "gauntlet_raft_commit_index",
        "gauntlet_raft_applied_index",
        "gauntlet_raft_log_entries",
        "gauntlet_raft_log_bytes",
        "gauntlet_raft_snapshot_index",
        "gauntlet_raft_voters",
        "gauntlet_raft_learners",
        "gauntlet_raft_elections_total",
        "gauntlet_raft_leader_changes_total",
        "gauntlet_raft_snapshots_taken_total",
        "gauntlet_raft_snapshots_installed_total",
        "gauntlet_raft_commit_latency_seconds_count",
        "gauntlet_raft_commit_latency_seconds_sum",
        "gauntlet_raft_ready_seconds_count",
      ]) {
        expect(m(name), `${name} on node ${n}`).toBeTypeOf("number");
      }
      expect(m("gauntlet_raft_commit_latency_seconds_bucket", { le: "+Inf" })).toBeTypeOf("number");
      expect(m("gauntlet_raft_term")).toBeGreaterThan(0);
      expect(m("gauntlet_raft_commit_index")).toBeGreaterThan(0);
      expect(m("gauntlet_raft_applied_index")).toBeGreaterThan(0);
      expect(m("gauntlet_raft_log_bytes")).toBeGreaterThan(0);
      expect(m("gauntlet_raft_voters")).toBe(3);
      expect(m("gauntlet_raft_learners")).toBe(0);
      const roles = ["follower", "preCandidate", "candidate", "leader"].map((role) =>
        m("gauntlet_raft_role", { role }),
      );
      expect(roles.reduce((a, b) => a! + b!, 0)).toBe(1);
    }
    // One leader, known to every node and named as the controller in Metadata (retried: an election
    // may be under way on a loaded machine).
    await waitFor("one Raft leader on every node's /metrics", async () => {
      const ms = await Promise.all([1, 2, 3].map(metrics));
      const leaders = ms.filter((m) => m("gauntlet_raft_role", { role: "leader" }) === 1);
      const known = new Set(ms.map((m) => m("gauntlet_raft_leader_id")));
      const md = JSON.parse(await metadataView(1)) as { controllerId: number };
      return leaders.length === 1 && known.size === 1 && known.has(md.controllerId) ? true : undefined;
    });
  });

  test(`${CHANGES} metadata changes compact every node's Raft log`, async () => {
    const started = Date.now();
    await withConnection(2, async (c) => {
      const r = await c.request(ApiKey.CreateTopics, 7, {
        topics: Array.from({ length: TOPICS }, (_, i) => ({
          name: topicName(i),
          numPartitions: 2,
          replicationFactor: 3,
          assignments: [],
          configs: [],
        })),
        timeoutMs: 30_000,
        validateOnly: false,
      });
      expect(r.topics.map((t) => t.errorCode)).toEqual(Array(TOPICS).fill(0));
    });
    let changes = 0;
    // Spread over the nodes: followers forward to the active controller.
    for (let round = 0; round < ROUNDS; round++) {
      const r = await withConnection(1 + (round % 3), (c) =>
        c.request(
          ApiKey.IncrementalAlterConfigs,
          1,
          {
            resources: Array.from({ length: TOPICS }, (_, i) => ({
              resourceType: RESOURCE_TOPIC,
              resourceName: topicName(i),
              configs: CONFIGS.map((name, k) => ({
                name,
                configOperation: OP_SET,
                // a new value every round, so every SET is a change (a ConfigRecord)
                value: String(10_000_000 + round * 1000 + i * 10 + k),
              })),
            })),
            validateOnly: false,
          },
          30_000,
        ),
      );
      expect(r.responses.map((x) => x.errorCode)).toEqual(Array(TOPICS).fill(0));
      changes += TOPICS * CONFIGS.length;
    }
    expect(changes).toBe(CHANGES);
    const ms = Date.now() - started;
    console.log(`${CHANGES} metadata changes (${ROUNDS} IncrementalAlterConfigs requests) in ${ms} ms`);

    // The controller's proposals were timed (proposal to local apply, on whichever node led).
    const latencyCounts = await Promise.all(
      [1, 2, 3].map(async (n) => (await metrics(n))("gauntlet_raft_commit_latency_seconds_count")!),
    );
    expect(latencyCounts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(ROUNDS);

    // Every node snapshotted its image and dropped the log before the snapshot.
    for (const n of [1, 2, 3]) {
      const m = await waitFor(`node ${n} compacted`, async () => {
        const m = await metrics(n);
        return m("gauntlet_raft_snapshot_index")! > 0 ? m : undefined;
      });
      expect(m("gauntlet_raft_snapshots_taken_total")).toBeGreaterThanOrEqual(1);
      expect(m("gauntlet_raft_commit_index")).toBeGreaterThanOrEqual(ROUNDS);
      // entries on disk after the snapshot: the prefix [1, snapshot index] is gone
      expect(m("gauntlet_raft_log_entries")).toBeLessThanOrEqual(
        m("gauntlet_raft_commit_index")! - m("gauntlet_raft_snapshot_index")! + 64,
      );
      expect(m("gauntlet_raft_log_entries")).toBeLessThan(m("gauntlet_raft_commit_index")!);
    }
  }, 120_000);

  test("a 4th node joins as a learner through a snapshot, is promoted, and sees the same metadata", async (ctx) => {
    const leaderSnapshot = Math.min(
      ...(await Promise.all([1, 2, 3].map(async (n) => (await metrics(n))("gauntlet_raft_snapshot_index")!))),
    );
    expect(leaderSnapshot).toBeGreaterThan(1);

    const t0 = Date.now();
    const added = await cluster.addNode();
    expect(added.nodeId).toBe(4);
    const readyMs = Date.now() - t0;
    const view = await waitFor(
      "node 4's Metadata equal to the others'",
      async () => {
        const views = await Promise.all([1, 2, 3, 4].map(metadataView));
        return views.every((v) => v === views[0]) ? views[0] : undefined;
      },
      60_000,
    );
    const joinMs = Date.now() - t0;
    const parsed = JSON.parse(view) as {
      brokers: { nodeId: number }[];
      topics: {
        name: string;
        partitions: { leaderId: number; replicaNodes: number[]; isrNodes: number[] }[];
      }[];
    };
    expect(parsed.brokers.map((b) => b.nodeId)).toEqual([1, 2, 3, 4]);
    expect(parsed.topics.filter((t) => t.name.startsWith("join-"))).toHaveLength(TOPICS);
    for (const t of parsed.topics) {
      for (const p of t.partitions) {
        expect(p.replicaNodes).toHaveLength(3);
        expect(p.isrNodes).toContain(p.leaderId);
      }
    }

    // (a) node 4 was brought up by an installed snapshot, not by replaying the log from index 1
    const m4 = await metrics(4);
    expect(m4("gauntlet_raft_snapshots_installed_total")).toBeGreaterThanOrEqual(1);
    expect(m4("gauntlet_raft_snapshot_index")).toBeGreaterThanOrEqual(leaderSnapshot);
    const log4 = await cluster.logs(4, 100_000);
    expect(log4).toContain("raft snapshot installed from the leader");
    expect(log4).toContain("joined the cluster as a learner");

    // promoted from learner to voter, on every node's view of the configuration
    for (const n of [1, 2, 3, 4]) {
      await waitFor(`node ${n} sees 4 voters`, async () => {
        const m = await metrics(n);
        return m("gauntlet_raft_voters") === 4 && m("gauntlet_raft_learners") === 0 ? true : undefined;
      });
    }
    const promoted = await Promise.all([1, 2, 3].map((n) => cluster.logs(n, 100_000)));
    expect(promoted.some((l) => l.includes("promoted a learner to voter"))).toBe(true);

    // (b) configs: node 4's local topics were reconciled from the snapshot's image
    const configs = await waitFor("node 4's configs equal to the others'", async () => {
      const views = await Promise.all([1, 2, 3, 4].map(configsView));
      return views.every((v) => v === views[0]) ? views[0] : undefined;
    });
    expect(configs).toContain(String(10_000_000 + (ROUNDS - 1) * 1000));

    // (c) the join time, reported (not asserted), with its steps from node 4's log (ms after t0)
    const step = (msg: string, node = 4) => {
      const t = logTime(node, msg, t0);
      return t === undefined ? "?" : String(t - t0);
    };
    const promotedBy =
      [1, 2, 3].find((n) => logTime(n, "promoted a learner to voter", t0) !== undefined) ?? 1;
    const line =
      `node 4 joined (leader snapshot at index >= ${leaderSnapshot}): Metadata equal to the others' ${joinMs} ms after its start ` +
      `(ready, listing every broker: ${readyMs} ms; steps in ms: raft started ${step("raft node started")}, ` +
      `join answered ${step("joined the cluster as a learner")}, snapshot installed ${step("raft snapshot installed from the leader")}, ` +
      `registered ${step("broker registered")}, unfenced ${step("broker unfenced")}, promoted to voter ${step("promoted a learner to voter", promotedBy)})`;
    console.log(line);
    ctx.annotate(line, "join-time");
  }, 120_000);

  test("the promoted node 4 votes: the cluster keeps a controller after the old leader dies", async () => {
    const md = JSON.parse(await metadataView(4)) as { controllerId: number };
    const old = md.controllerId;
    expect([1, 2, 3, 4]).toContain(old);
    await cluster.kill(old);
    const others = [1, 2, 3, 4].filter((n) => n !== old);
    const next = await waitFor(
      "a new controller",
      async () => {
        const seen = await Promise.all(
          others.map(
            async (n) => (JSON.parse(await metadataView(n)) as { controllerId: number }).controllerId,
          ),
        );
        return seen.every((c) => c === seen[0] && c !== old && c > 0) ? seen[0] : undefined;
      },
      20_000,
    );
    expect(others).toContain(next);
    // 3 of the 4 voters are left, so committing anything needs node 4's acknowledgement.
    await waitFor("a topic created after the kill", async () => {
      const r = await withConnection(4, (c) =>
        c.request(ApiKey.CreateTopics, 7, {
          topics: [
            { name: "after-kill", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] },
          ],
          timeoutMs: 10_000,
          validateOnly: false,
        }),
      );
      const code = r.topics[0]!.errorCode;
      return code === 0 || code === 36 /* TOPIC_ALREADY_EXISTS: an earlier try committed */
        ? true
        : undefined;
    });
    await cluster.restart(old);
  }, 60_000);

  test("node 4 restarts from its own data (its --join is then a no-op) and catches up", async () => {
    await cluster.kill(4);
    await cluster.restart(4);
    await waitFor("node 4's Metadata equal to the others' after its restart", async () => {
      const views = await Promise.all([1, 2, 3, 4].map(metadataView));
      return views.every((v) => v === views[0]) && views[0]!.includes('"after-kill"') ? true : undefined;
    });
    const m4 = await metrics(4);
    expect(m4("gauntlet_raft_voters")).toBe(4);
    expect(m4("gauntlet_raft_leader_id")).toBeGreaterThan(0);
  }, 90_000);
});
