// Building blocks shared by the scenario modules: the broker settings every fault scenario runs with,
// the workload, applicability rules, round counts, and the fault actions themselves (each a small
// factory whose inject/heal act only through the ScenarioContext and find nodes through the protocol).
import {
  describePartitions,
  findController,
  fullyReplicated,
  type PartitionState,
  waitForPartitions,
} from "../../harness/cluster/leaders.ts";
import type { ActiveFault } from "../../harness/faults/fault-plane.ts";
import type { SeededRandom } from "../../harness/seed.ts";
import {
  type Applicability,
  applicable,
  type FaultAction,
  notApplicable,
  type PlanContext,
  type ScenarioContext,
  type ScenarioDefaults,
  type ScenarioTarget,
  type WorkloadDefaults,
} from "../scenario.ts";

/** Fence a dead or cut-off broker and elect new leaders within seconds (defaults: 9 s session, 2 s heartbeat). */
export const FAST_FAILOVER: Record<string, string | number | boolean> = {
  "broker.session.timeout.ms": 6000,
  "broker.heartbeat.interval.ms": 1000,
  "replica.lag.time.max.ms": 10_000,
  "unclean.leader.election.enable": false,
};

/** The broker session timeout above: a paused or partitioned node is fenced after this. */
export const SESSION_TIMEOUT_MS = 6000;

export const CLUSTER_DEFAULTS: ScenarioDefaults = {
  nodes: 3,
  rf: 3,
  minIsr: 2,
  partitions: 3,
  durationMs: 60_000,
  brokerConfig: FAST_FAILOVER,
};

/** acks=all, idempotent producers whose delivery bound outlives a failover (about 50 s). */
export const SAFE_WORKLOAD: WorkloadDefaults = {
  producers: 2,
  consumers: 1,
  client: "rdkafka",
  acks: -1,
  idempotence: true,
  rate: 100,
  maxInFlight: 4,
  requestTimeoutMs: 5000,
  retries: 8,
};

/** Applicability of a scenario that needs `min` nodes and process (or network) control of them. */
export function needsNodes(
  scenario: string,
  min: number,
  what = "kill and restart them",
): (target: { name: string; nodes: number }) => Applicability {
  return ({ name, nodes }) => {
    if (name === "external") {
      return notApplicable(`the external target's nodes run outside Gauntlet, so it cannot ${what}`);
    }
    if (nodes < min) {
      return notApplicable(
        `${scenario} needs at least ${min} nodes (replication factor 3, min.insync.replicas 2), not ${nodes}`,
      );
    }
    return applicable;
  };
}

/**
 * Network faults need per-link proxies: every local target has them; the external target has them
 * when it comes with its Toxiproxy (docker-compose.yml), which only the network is under control of.
 */
export function needsLinks(scenario: string): (target: ScenarioTarget) => Applicability {
  const nodes = needsNodes(scenario, 3, "route their node-to-node traffic through proxies");
  return (target) => {
    if (target.name === "external" && target.networkFaults) return nodes({ ...target, name: "reference" });
    return nodes(target);
  };
}

/** Rounds for the plan: --rounds, or enough for the duration even if every round is short. */
export function roundCount(ctx: PlanContext, minRoundMs: number): number {
  return ctx.rounds ?? Math.max(1, Math.ceil(ctx.durationMs / minRoundMs));
}

/** The partition states of the workload topic once every partition is led and fully in sync. */
export async function healthyPartitions(ctx: ScenarioContext): Promise<PartitionState[]> {
  return waitForPartitions(ctx.bootstrap, ctx.topic, fullyReplicated, { withinMs: 60_000 });
}

async function partitionState(ctx: ScenarioContext, partition: number): Promise<PartitionState> {
  const states = await describePartitions(ctx.bootstrap, [ctx.topic]);
  const state = states.find((s) => s.partition === partition);
  if (!state || state.leader < 0) throw new Error(`Partition ${ctx.topic}-${partition} has no leader.`);
  return state;
}

/** How the node of a process fault is chosen (at inject time, from what the cluster says). */
export type Victim =
  | { of: "leader"; partition: number }
  /** The `pick`-th follower (modulo their count) of the partition. */
  | { of: "follower"; partition: number; pick: number }
  /** The active KRaft controller (DescribeQuorum), else DescribeCluster's controller id. */
  | { of: "controller" }
  | { of: "node"; node: number };

export function describeVictim(v: Victim): string {
  switch (v.of) {
    case "leader":
      return `leader of partition ${v.partition}`;
    case "follower":
      return `follower #${v.pick} of partition ${v.partition}`;
    case "controller":
      return "active controller";
    case "node":
      return `node ${v.node}`;
  }
}

/** Resolves the victim against the healthy cluster; returns the node and a description. */
export async function resolveVictim(ctx: ScenarioContext, v: Victim): Promise<[number, string]> {
  await healthyPartitions(ctx);
  switch (v.of) {
    case "leader": {
      const s = await partitionState(ctx, v.partition);
      return [s.leader, `leader of ${ctx.topic}-${v.partition} (isr [${s.isr.join(", ")}])`];
    }
    case "follower": {
      const s = await partitionState(ctx, v.partition);
      const followers = s.replicas.filter((r) => r !== s.leader);
      if (!followers.length) throw new Error(`Partition ${ctx.topic}-${v.partition} has no follower.`);
      const node = followers[v.pick % followers.length];
      return [
        node,
        `follower of ${ctx.topic}-${v.partition} (leader ${s.leader}, isr [${s.isr.join(", ")}])`,
      ];
    }
    case "controller": {
      const c = await findController(ctx.bootstrap);
      const node = c.activeController ?? c.controllerId;
      if (node === undefined || node < 0) throw new Error("No active controller found.");
      return [
        node,
        c.activeController !== undefined
          ? `active controller (DescribeQuorum, epoch ${c.quorumEpoch}, voters [${c.voters.join(", ")}])`
          : "controller (DescribeCluster)",
      ];
    }
    case "node":
      return [v.node, `node ${v.node}`];
  }
}

export type ProcessFault = "kill" | "terminate" | "pause";

const VERB: Record<ProcessFault, string> = { kill: "SIGKILL", terminate: "SIGTERM", pause: "SIGSTOP" };

/**
 * A process fault on one node: SIGKILL (heal: restart), SIGTERM (heal: restart; the node shuts down
 * cleanly, moving its leaderships first) or SIGSTOP (heal: SIGCONT).
 */
export function processFault(
  kind: string,
  label: string,
  fault: ProcessFault,
  victim: Victim,
  delayMs: number,
  holdMs: number,
): FaultAction {
  let node: number | undefined;
  return {
    kind,
    delayMs,
    holdMs,
    plan: `${label}: ${VERB[fault]} the ${describeVictim(victim)}, hold ${holdMs} ms, after ${delayMs} ms`,
    async inject(ctx) {
      const [victimNode, what] = await resolveVictim(ctx, victim);
      node = victimNode;
      if (fault === "kill") {
        await ctx.cluster.kill(node);
        return `${label}: SIGKILL node ${node}, ${what}`;
      }
      if (fault === "pause") {
        await ctx.cluster.pause(node);
        return `${label}: SIGSTOP node ${node}, ${what}`;
      }
      const r = await ctx.cluster.terminate(node, 30_000);
      return `${label}: SIGTERM node ${node}, ${what}: ${r.clean ? "exited cleanly" : "needed SIGKILL"} after ${r.ms} ms`;
    },
    async heal(ctx) {
      if (node === undefined) return `${label}: nothing to heal`;
      const t0 = Date.now();
      if (fault === "pause") {
        await ctx.cluster.resume(node);
        return `${label}: SIGCONT node ${node}`;
      }
      await ctx.cluster.restart(node);
      return `${label}: node ${node} restarted and ready in ${Date.now() - t0} ms`;
    },
  };
}

export type NetworkShape =
  /** The partition leader cut off from every peer and every client. */
  | { shape: "leader-isolated"; partition: number }
  /** A minority (⌊(n−1)/2⌋ nodes, chosen by `picks`) cut off from the rest; clients still reach everyone. */
  | { shape: "minority"; picks: number[] }
  /**
   * Majorities ring: every node still sees a majority (itself included), but no two see the same one.
   * On 3 nodes that is a bridge: one link (chosen by `picks`) cut, the third node sees both sides.
   */
  | { shape: "majorities-ring"; picks: number[] }
  /** Latency with jitter on every client link and every node-to-node link. */
  | { shape: "latency"; latencyMs: number; jitterMs: number };

export function describeShape(s: NetworkShape): string {
  switch (s.shape) {
    case "leader-isolated":
      return `isolate the leader of partition ${s.partition}`;
    case "minority":
      return `partition a minority from the majority (picks ${s.picks.join(", ")})`;
    case "majorities-ring":
      return `majorities ring (picks ${s.picks.join(", ")})`;
    case "latency":
      return `latency ${s.latencyMs} ± ${s.jitterMs} ms on every client and node-to-node link`;
  }
}

/** The node order of the plan's `picks`: node ids rotated/permuted by index choices. */
function choose(nodes: number[], picks: number[], count: number): number[] {
  const pool = [...nodes].sort((a, b) => a - b);
  const out: number[] = [];
  for (let i = 0; i < count && pool.length; i++)
    out.push(pool.splice(picks[i % picks.length] % pool.length, 1)[0]);
  return out;
}

/** Pairs to cut for a majorities ring over `ring` (node order): links between nodes too far apart. */
export function majoritiesRingCuts(ring: number[]): [number, number][] {
  const n = ring.length;
  const majority = Math.floor(n / 2) + 1;
  const reach = Math.ceil((majority - 1) / 2);
  const cuts: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = Math.min(j - i, n - (j - i));
      if (d > reach) cuts.push([ring[i], ring[j]]);
    }
  }
  // 3 nodes: everyone is within reach of everyone; a single cut link (a bridge) is the ring.
  if (!cuts.length && n >= 3) cuts.push([ring[0], ring[1]]);
  return cuts;
}

/** A network fault through the fault plane; heal stops exactly the faults it started. */
export function networkFault(
  kind: string,
  shape: NetworkShape,
  delayMs: number,
  holdMs: number,
): FaultAction {
  let active: ActiveFault[] = [];
  return {
    kind,
    delayMs,
    holdMs,
    plan: `${kind}: ${describeShape(shape)}, hold ${holdMs} ms, after ${delayMs} ms`,
    async inject(ctx) {
      const plane = ctx.plane;
      if (!plane) throw new Error(`${kind} needs the fault plane (Toxiproxy).`);
      await healthyPartitions(ctx);
      active = [];
      switch (shape.shape) {
        case "leader-isolated": {
          const [node, what] = await resolveVictim(ctx, { of: "leader", partition: shape.partition });
          active.push(await plane.isolate(node));
          return `${kind}: isolated node ${node}, ${what}, from its peers and clients`;
        }
        case "minority": {
          const size = Math.max(1, Math.floor((ctx.nodes.length - 1) / 2));
          const minority = choose(ctx.nodes, shape.picks, size);
          const rest = ctx.nodes.filter((n) => !minority.includes(n));
          active.push(await plane.partition(minority, rest));
          return `${kind}: partitioned [${minority.join(", ")}] | [${rest.join(", ")}] (clients reach every node)`;
        }
        case "majorities-ring": {
          const ring = choose(ctx.nodes, shape.picks, ctx.nodes.length);
          const cuts = majoritiesRingCuts(ring);
          for (const [a, b] of cuts) active.push(await plane.partition([a], [b]));
          return `${kind}: majorities ring over [${ring.join(", ")}]: cut ${cuts.map(([a, b]) => `${a}↔${b}`).join(", ")}`;
        }
        case "latency": {
          const spec = { latencyMs: shape.latencyMs, jitterMs: shape.jitterMs };
          // Every node its own "datacenter": latency on every node-to-node link, in one fault.
          active.push(await plane.datacenters(Object.fromEntries(ctx.nodes.map((n) => [n, `n${n}`])), spec));
          for (const n of ctx.nodes) active.push(await plane.latency({ client: n }, spec));
          return `${kind}: ${describeShape(shape)}`;
        }
      }
    },
    async heal() {
      const faults = active;
      active = [];
      for (const f of faults.reverse()) await f.stop();
      return `${kind}: healed ${faults.length} network fault(s)`;
    },
  };
}

/** A uniformly drawn delay/hold pair. */
export function timing(rng: SeededRandom, delay: [number, number], hold: [number, number]): [number, number] {
  return [rng.int(delay[0], delay[1]), rng.int(hold[0], hold[1])];
}
