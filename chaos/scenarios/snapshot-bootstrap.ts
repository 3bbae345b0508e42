// snapshot-bootstrap: under load, a 4th node joins the 3-node cluster and bootstraps its metadata from a
// snapshot (the metadata log is compacted often: the reference broker's --raft-snapshot-threshold,
// Kafka's metadata.log.max.record.bytes.between.snapshots), one replica of every partition is
// reassigned to it (AlterPartitionReassignments), and then original nodes are SIGKILLed and restarted.
// The new node must really hold an in-sync replica of every partition; on the reference broker its
// metrics must show the installed snapshot. Nothing acknowledged may be lost.
import kafkajs from "kafkajs";
import { describePartitions } from "../../harness/cluster/leaders.ts";
import type { FaultAction, Scenario, ScenarioContext } from "../scenario.ts";
import {
  CLUSTER_DEFAULTS,
  FAST_FAILOVER,
  healthyPartitions,
  needsNodes,
  processFault,
  roundCount,
  SAFE_WORKLOAD,
  timing,
} from "./common.ts";

const SNAPSHOT_METRIC = "gauntlet_raft_snapshots_installed_total";

/** The id of the node the join action added (shared by the actions of one run). */
interface JoinState {
  nodeId?: number;
}

async function snapshotsInstalled(ctx: ScenarioContext, nodeId: number): Promise<number | undefined> {
  const url = ctx.metricsUrl(nodeId);
  if (!url) return undefined;
  const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
  const line = text.split("\n").find((l) => l.startsWith(SNAPSHOT_METRIC));
  return line ? Number(line.trim().split(/\s+/).pop()) : 0;
}

/** Metadata changes enough to pass the snapshot thresholds below (config changes of a scratch topic). */
const CHURN_CHANGES = 80;

function admin(ctx: ScenarioContext) {
  return new kafkajs.Kafka({
    clientId: "gauntlet-chaos-snapshot-bootstrap",
    brokers: ctx.bootstrap.split(","),
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
}

/** Writes CHURN_CHANGES metadata records (topic config changes), so the metadata log gets compacted. */
async function churnMetadata(ctx: ScenarioContext): Promise<void> {
  const a = admin(ctx);
  await a.connect();
  try {
    const topic = `${ctx.topic}-metadata-churn`;
    await a.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    });
    for (let i = 0; i < CHURN_CHANGES && !ctx.signal.aborted; i++) {
      await a.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: kafkajs.ConfigResourceTypes.TOPIC,
            name: topic,
            configEntries: [{ name: "retention.ms", value: String(3_600_000 + i) }],
          },
        ],
      });
    }
  } finally {
    await a.disconnect();
  }
}

function join(state: JoinState, delayMs: number, holdMs: number): FaultAction {
  return {
    kind: "snapshot-bootstrap:join",
    delayMs,
    holdMs,
    plan: `${CHURN_CHANGES} metadata changes, then add a node that bootstraps from a metadata snapshot, after ${delayMs} ms, settle ${holdMs} ms`,
    async inject(ctx) {
      await churnMetadata(ctx);
      const t0 = Date.now();
      const info = await ctx.cluster.addNode();
      state.nodeId = info.nodeId;
      // addNode() resolves once the node serves (its Metadata lists every broker)
      const installed = await snapshotsInstalled(ctx, info.nodeId);
      if (installed === 0)
        throw new Error(
          `node ${info.nodeId} joined without installing a metadata snapshot (${SNAPSHOT_METRIC} 0)`,
        );
      const how =
        installed === undefined
          ? "metadata from the controller quorum"
          : `${installed} metadata snapshot(s) installed`;
      return `node ${info.nodeId} joined in ${Date.now() - t0} ms (${how})`;
    },
    async heal() {
      return `node ${state.nodeId} stays in the cluster`;
    },
  };
}

function reassign(state: JoinState, pick: number, delayMs: number, holdMs: number): FaultAction {
  return {
    kind: "snapshot-bootstrap:reassign",
    delayMs,
    holdMs,
    plan: `reassign one replica (#${pick} of each partition's followers) of every partition to the new node, after ${delayMs} ms, hold ${holdMs} ms`,
    async inject(ctx) {
      const added = state.nodeId;
      if (added === undefined) throw new Error("No node was added before the reassignment.");
      const before = await healthyPartitions(ctx);
      const moves = before.map((s) => {
        const followers = s.replicas.filter((r) => r !== s.leader);
        const out = followers[pick % followers.length];
        return { partition: s.partition, replicas: s.replicas.map((r) => (r === out ? added : r)), out };
      });
      const a = admin(ctx);
      await a.connect();
      const t0 = Date.now();
      try {
        await a.alterPartitionReassignments({
          topics: [
            {
              topic: ctx.topic,
              partitionAssignment: moves.map(({ partition, replicas }) => ({ partition, replicas })),
            },
          ],
        });
        const deadline = Date.now() + 90_000;
        for (;;) {
          const listed = await a.listPartitionReassignments({
            topics: [{ topic: ctx.topic, partitions: moves.map((m) => m.partition) }],
          });
          const states = await describePartitions(ctx.bootstrap, [ctx.topic]);
          const done =
            listed.topics.every((t) => t.partitions.length === 0) &&
            states.every(
              (s) =>
                s.replicas.includes(added) &&
                s.isr.includes(added) &&
                s.replicas.length === before[0].replicas.length,
            );
          if (done) break;
          if (Date.now() > deadline)
            throw new Error(
              `the reassignment to node ${added} did not complete in 90 s: ${JSON.stringify(states.map((s) => [s.partition, s.replicas, s.isr]))}`,
            );
          await ctx.sleep(500);
        }
      } finally {
        await a.disconnect();
      }
      return `moved ${moves.map((m) => `p${m.partition}: ${m.out}→${added}`).join(", ")}; node ${added} in every ISR after ${Date.now() - t0} ms`;
    },
    async heal() {
      return `node ${state.nodeId} keeps its replicas`;
    },
  };
}

export const snapshotBootstrap: Scenario = {
  name: "snapshot-bootstrap",
  description:
    "a 4th node joins under load from a metadata snapshot, one replica of every partition moves to it, then original nodes are killed",
  defaults: {
    ...CLUSTER_DEFAULTS,
    adminEndpoints: true,
    brokerConfig: {
      ...FAST_FAILOVER,
      // compact the metadata log often, so a joining node needs a snapshot (reference / Kafka names)
      raftSnapshotThreshold: 50,
      "metadata.log.max.record.bytes.between.snapshots": 4096,
    },
  },
  workload: SAFE_WORKLOAD,
  expectations: { maxLost: 0, maxDuplicates: 0, maxStallMs: 30_000, recoveryWithinMs: 60_000 },
  setupSteps: 2,
  schedule(ctx, rng) {
    const state: JoinState = {};
    const kills = roundCount(ctx, 30_000);
    const actions: FaultAction[] = [join(state, 1000, 3000), reassign(state, rng.int(0, 1), 1000, 3000)];
    for (let i = 0; i < kills; i++) {
      const node = ctx.nodes[rng.int(0, ctx.nodes.length - 1)];
      const [delay, hold] = timing(rng, [1000, 3000], [2000, 6000]);
      actions.push(
        processFault("snapshot-bootstrap:kill", `round ${i + 1}`, "kill", { of: "node", node }, delay, hold),
      );
    }
    return actions;
  },
  appliesTo: needsNodes("snapshot-bootstrap", 3, "add a node to it"),
};
