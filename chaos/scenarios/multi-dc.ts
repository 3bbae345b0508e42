// multi-dc: the nodes in three datacenters (broker.rack = dc1, dc2, dc3 by node id), 50 ± 10 ms on every
// cross-DC link through the per-link proxies, replicas placed across racks, one consumer per DC with
// client.rack = its DC; then whole DCs are cut off from the others and healed, one at a time.
// Evidence that consumers read in their own DC: under the latency, every partition leader is asked (a
// consumer Fetch v11 with rackId) where a consumer of each other DC should read, and must name the
// in-sync replica in that DC (KIP-392's preferred read replica). A leader that does not fails the run.
import { describePartitions, type PartitionState } from "../../harness/cluster/leaders.ts";
import type { ActiveFault } from "../../harness/faults/fault-plane.ts";
import { RawConnection } from "../../protocol/client/connection.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import type { FaultAction, Scenario, ScenarioContext } from "../scenario.ts";
import {
  CLUSTER_DEFAULTS,
  FAST_FAILOVER,
  healthyPartitions,
  needsNodes,
  roundCount,
  SAFE_WORKLOAD,
  SESSION_TIMEOUT_MS,
  timing,
} from "./common.ts";

export const DATACENTERS = ["dc1", "dc2", "dc3"] as const;
export const CROSS_DC_LATENCY = { latencyMs: 50, jitterMs: 10 };

/** The datacenter (broker.rack) of a node: dc1, dc2, dc3, dc1, … by node id. */
export const datacenterOf = (nodeId: number): string => DATACENTERS[(nodeId - 1) % DATACENTERS.length];

/** Where the leader of `state` sends a consumer in `rack` (a consumer Fetch v11 with rackId; -1 = itself). */
async function preferredReadReplica(
  ctx: ScenarioContext,
  state: PartitionState,
  rack: string,
): Promise<number> {
  const leader = ctx.cluster.nodes().find((n) => n.nodeId === state.leader);
  if (!leader)
    throw new Error(
      `The leader ${state.leader} of ${ctx.topic}-${state.partition} is not a node of the cluster.`,
    );
  const conn = await RawConnection.open({ host: leader.host, port: leader.port }, "gauntlet-multi-dc");
  try {
    const res = await conn.request(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic: ctx.topic,
          partitions: [
            {
              partition: state.partition,
              currentLeaderEpoch: -1,
              fetchOffset: 0n,
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
              partitionMaxBytes: 1 << 20,
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: rack,
    });
    const p = res.responses[0]?.partitions[0];
    if (p?.errorCode !== 0)
      throw new Error(`Fetch of ${ctx.topic}-${state.partition} answered error ${p?.errorCode}.`);
    return p.preferredReadReplica ?? -1;
  } finally {
    conn.close();
  }
}

/** Checks every partition: a consumer of each DC is sent to the in-sync replica in its DC. */
async function checkRackAwareReads(ctx: ScenarioContext): Promise<string> {
  await healthyPartitions(ctx);
  const states = await describePartitions(ctx.bootstrap, [ctx.topic]);
  const seen: string[] = [];
  for (const s of states) {
    for (const dc of DATACENTERS) {
      const local = s.isr.find((r) => datacenterOf(r) === dc);
      if (local === undefined) continue;
      const expected = local === s.leader ? -1 : local;
      const got = await preferredReadReplica(ctx, s, dc);
      if (got !== expected)
        throw new Error(
          `rack-aware reads: the leader of ${ctx.topic}-${s.partition} (node ${s.leader}, ${datacenterOf(s.leader)}) sent a ${dc} consumer to ${got}, not to ${expected === -1 ? "itself" : `node ${expected}`} in ${dc}`,
        );
      if (expected !== -1) seen.push(`p${s.partition}:${dc}→${local}`);
    }
  }
  if (seen.length === 0)
    throw new Error("rack-aware reads: no partition has an in-sync follower in another DC.");
  return `consumers read in their own DC (${seen.join(", ")})`;
}

/** Cross-DC latency on every node-to-node link, then the rack-aware read check under it. */
function crossDcLatency(delayMs: number, holdMs: number): FaultAction {
  return {
    kind: "multi-dc:latency",
    delayMs,
    holdMs,
    plan: `cross-DC latency ${CROSS_DC_LATENCY.latencyMs} ± ${CROSS_DC_LATENCY.jitterMs} ms between ${DATACENTERS.join(", ")}, kept until the heal phase; check rack-aware reads; after ${delayMs} ms`,
    async inject(ctx) {
      const plane = ctx.plane;
      if (!plane) throw new Error("multi-dc needs the fault plane (Toxiproxy).");
      const placement = Object.fromEntries(ctx.nodes.map((n) => [n, datacenterOf(n)]));
      await plane.datacenters(placement, CROSS_DC_LATENCY);
      const reads = await checkRackAwareReads(ctx);
      return `cross-DC latency ${CROSS_DC_LATENCY.latencyMs} ± ${CROSS_DC_LATENCY.jitterMs} ms on; ${reads}`;
    },
    // The latency is the DCs' normal state: it stays through the DC cuts; the heal phase removes it.
    async heal() {
      return "cross-DC latency stays on until the heal phase";
    },
  };
}

/** One whole DC cut off from the other DCs (its nodes' node-to-node links), then healed. */
function dcCut(dc: string, round: number, delayMs: number, holdMs: number): FaultAction {
  let cut: ActiveFault | undefined;
  return {
    kind: "multi-dc:dc-cut",
    delayMs,
    holdMs,
    plan: `round ${round}: cut ${dc} off from the other DCs, hold ${holdMs} ms, after ${delayMs} ms`,
    async inject(ctx) {
      const plane = ctx.plane;
      if (!plane) throw new Error("multi-dc needs the fault plane (Toxiproxy).");
      await healthyPartitions(ctx);
      const inside = ctx.nodes.filter((n) => datacenterOf(n) === dc);
      const outside = ctx.nodes.filter((n) => datacenterOf(n) !== dc);
      cut = await plane.partition(inside, outside);
      return `round ${round}: ${dc} [${inside.join(", ")}] cut off from [${outside.join(", ")}]`;
    },
    async heal() {
      await cut?.stop();
      cut = undefined;
      return `round ${round}: ${dc} reconnected`;
    },
  };
}

export const multiDc: Scenario = {
  name: "multi-dc",
  description:
    "3 datacenters (racks), 50±10 ms cross-DC latency, consumers reading in their own DC (KIP-392); cut a whole DC off, heal",
  defaults: {
    ...CLUSTER_DEFAULTS,
    linkProxies: true,
    racks: datacenterOf,
    brokerConfig: {
      ...FAST_FAILOVER,
      "replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector",
    },
  },
  workload: {
    ...SAFE_WORKLOAD,
    consumers: DATACENTERS.length,
    consumerRacks: [...DATACENTERS],
    // node-rdkafka (librdkafka 2.x) consumers reading from a follower re-read from an older offset
    // after the follower answers OFFSET_OUT_OF_RANGE (seen against Apache Kafka 4.3.1 as against the
    // reference broker: offsets 77 → 0 within one poll); kafkajs follows the preferred replica cleanly.
    consumerClient: "kafkajs",
  },
  expectations: { maxLost: 0, maxDuplicates: 0, maxStallMs: 30_000, recoveryWithinMs: 60_000 },
  setupSteps: 1,
  schedule(ctx, rng) {
    const rounds = roundCount(ctx, 20_000);
    const first = rng.int(0, DATACENTERS.length - 1);
    const actions: FaultAction[] = [crossDcLatency(1000, 5000)];
    for (let i = 0; i < rounds; i++) {
      const [delay, hold] = timing(rng, [2000, 5000], [SESSION_TIMEOUT_MS + 2000, SESSION_TIMEOUT_MS + 6000]);
      actions.push(dcCut(DATACENTERS[(first + i) % DATACENTERS.length], i + 1, delay, hold));
    }
    return actions;
  },
  appliesTo: needsNodes("multi-dc", 3, "place its nodes in racks"),
};
