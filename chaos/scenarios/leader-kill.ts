// leader-kill: SIGKILL the leader of a partition under load, keep it down a few seconds, restart it,
// and repeat. With acks=all, min.insync.replicas=2 and idempotent producers no acknowledged write may be
// lost or duplicated: the new leader comes from the ISR, which holds every acknowledged record.
import { describePartitions, fullyReplicated, waitForPartitions } from "../../harness/cluster/leaders.ts";
import {
  applicable,
  type FaultAction,
  notApplicable,
  type PlanContext,
  type Scenario,
  type ScenarioContext,
} from "../scenario.ts";

/** A round's fault part that is not delay or hold: restart and readiness of a JVM node, roughly. */
const RESTART_ESTIMATE_MS = 10_000;

function killRound(round: number, partition: number, delayMs: number, holdMs: number): FaultAction {
  let killed: number | undefined;
  return {
    kind: "leader-kill",
    delayMs,
    holdMs,
    async inject(ctx: ScenarioContext): Promise<string> {
      // Kill the leader of a healthy partition: wait for the previous round's node to be back in sync.
      await waitForPartitions(ctx.bootstrap, ctx.topic, fullyReplicated, { withinMs: 60_000 });
      const states = await describePartitions(ctx.bootstrap, [ctx.topic]);
      const state = states.find((s) => s.partition === partition);
      if (!state || state.leader < 0)
        throw new Error(`Partition ${ctx.topic}-${partition} has no leader to kill.`);
      killed = state.leader;
      await ctx.cluster.kill(killed);
      return `round ${round}: SIGKILL node ${killed}, leader of ${ctx.topic}-${partition} (isr [${state.isr.join(", ")}])`;
    },
    async heal(ctx: ScenarioContext): Promise<string> {
      if (killed === undefined) return `round ${round}: nothing to restart`;
      const t0 = Date.now();
      await ctx.cluster.restart(killed);
      return `round ${round}: node ${killed} restarted and ready in ${Date.now() - t0} ms`;
    },
  };
}

export const leaderKill: Scenario = {
  name: "leader-kill",
  description:
    "SIGKILL the leader of a partition under load, restart it, repeat; nothing acknowledged may be lost",
  defaults: {
    nodes: 3,
    rf: 3,
    minIsr: 2,
    partitions: 3,
    durationMs: 60_000,
    brokerConfig: {
      // Fence a dead broker and elect new leaders within seconds (defaults: 9 s session, 2 s heartbeat).
      "broker.session.timeout.ms": 6000,
      "broker.heartbeat.interval.ms": 1000,
      "replica.lag.time.max.ms": 10_000,
      "unclean.leader.election.enable": false,
    },
  },
  workload: {
    producers: 2,
    consumers: 1,
    client: "rdkafka",
    acks: -1,
    idempotence: true,
    rate: 100,
    maxInFlight: 4,
    // A send may have to outlive a leader failover (fencing + election + metadata refresh, ~10 s):
    // librdkafka's delivery bound is requestTimeoutMs × (retries + 1) + backoff, here about 50 s.
    requestTimeoutMs: 5000,
    retries: 8,
  },
  expectations: {
    maxLost: 0,
    maxDuplicates: 0,
    maxStallMs: 45_000,
    recoveryWithinMs: 60_000,
  },
  schedule(ctx: PlanContext, rng): FaultAction[] {
    // Without --rounds: enough rounds for the duration even if every round is short; the runner starts
    // no round past the duration.
    const rounds =
      ctx.rounds ?? Math.max(1, Math.ceil(ctx.durationMs / (2000 + 2000 + RESTART_ESTIMATE_MS / 2)));
    return Array.from({ length: rounds }, (_, i) =>
      killRound(i + 1, rng.int(0, ctx.partitions - 1), rng.int(2000, 6000), rng.int(2000, 6000)),
    );
  },
  appliesTo({ name, nodes }) {
    if (name === "external") {
      return notApplicable(
        "the external target's nodes run outside Gauntlet, so it cannot kill and restart them",
      );
    }
    if (nodes < 3) {
      return notApplicable(
        `leader-kill needs at least 3 nodes (replication factor 3, min.insync.replicas 2), not ${nodes}`,
      );
    }
    return applicable;
  },
};
