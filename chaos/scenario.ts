// What a chaos scenario is: a small declarative module (cluster shape, workload, fault schedule,
// expectations, applicability) that chaos/runner.ts executes. Scenarios never start processes, open
// connections or sleep themselves: their fault actions get everything through the ScenarioContext.
import type { Cluster, TargetName } from "../harness/cluster/types.ts";
import type { FaultPlane } from "../harness/faults/fault-plane.ts";
import type { SeededRandom } from "../harness/seed.ts";
import type { Acks, ClientName } from "../harness/workloads/types.ts";

/** The cluster and topic a scenario wants (each overridable from the command line where it says so). */
export interface ScenarioDefaults {
  /** Cluster size (--nodes). */
  nodes: number;
  /** Replication factor of the workload topic. */
  rf: number;
  /** min.insync.replicas of the workload topic. */
  minIsr: number;
  /** Partitions of the workload topic. */
  partitions: number;
  /** How long the inject phase lasts when neither --rounds nor --duration is given. */
  durationMs: number;
  /** Fault rounds; undefined = as many as fit into the duration. */
  rounds?: number;
  /** Extra broker configuration for the targets Gauntlet starts (e.g. faster failure detection). */
  brokerConfig?: Record<string, string | number | boolean>;
  /** Route node-to-node traffic through per-link proxies too (needed for network partitions). */
  linkProxies?: boolean;
  /** broker.rack (here: the datacenter) of each node, by node id (nodes added later included). */
  racks?: (nodeId: number) => string;
  /** Serve each reference node's admin endpoint (/metrics), so actions can read its metrics. */
  adminEndpoints?: boolean;
}

export interface WorkloadDefaults {
  /** Producer workers, each one client with `maxInFlight` sends outstanding. */
  producers: number;
  /** Group consumers reading while the faults happen (the final drain is separate). */
  consumers: number;
  /** Client library of producers and consumers. */
  client: ClientName;
  acks: Acks;
  idempotence: boolean;
  /** Sends started per second, per producer. */
  rate: number;
  /** Sends outstanding per producer. */
  maxInFlight: number;
  /** Per-request timeout of the clients. */
  requestTimeoutMs: number;
  /** Client retries per send (the producer's delivery bound grows with them). */
  retries: number;
  /** Client library of the final drain (default: `client`). */
  drainClient?: ClientName;
  /** Client library of the group consumers (default: `client`). */
  consumerClient?: ClientName;
  /** client.rack of the consumers, consumer i getting entry i modulo the list (fetch from follower). */
  consumerRacks?: string[];
}

/** What a passing run promises. Anything not allowed here fails the run. */
export interface ScenarioExpectations {
  /** Acknowledged writes missing from the final drain (almost always 0). */
  maxLost: number;
  /** Values read at two or more offsets (0 for idempotent producers). */
  maxDuplicates: number;
  /** Longest interval without an acknowledged send, over the whole run. */
  maxStallMs?: number;
  /** Sends that definitely failed (an error returned to the producer); unbounded when undefined. */
  maxFailedSends?: number;
  /** Sends with an indeterminate outcome (timeouts, lost connections); unbounded when undefined. */
  maxIndeterminateSends?: number;
  /** After the heal phase: every partition led and fully in sync, and sends acknowledged again, within this. */
  recoveryWithinMs?: number;
}

/** What the fault schedule is given to plan with. */
export interface PlanContext {
  target: TargetName;
  nodes: number[];
  /** How long the inject phase may last. */
  durationMs: number;
  /** Exactly this many rounds, when given. */
  rounds?: number;
  topic: string;
  partitions: number;
}

/** What a fault action gets at run time. */
export interface ScenarioContext {
  cluster: Cluster;
  /** The metrics URL of a node (reference nodes with `adminEndpoints`), else undefined. */
  metricsUrl(nodeId: number): string | undefined;
  /** The Toxiproxy fault plane; undefined for the external target (no proxies). */
  plane: FaultPlane | undefined;
  /** Bootstrap servers clients use (the client proxies). */
  bootstrap: string;
  topic: string;
  partitions: number;
  /** Node ids of the cluster. */
  nodes: number[];
  rng: SeededRandom;
  /** Waits ms, or less when the run is aborted. */
  sleep(ms: number): Promise<void>;
  /** A line of progress for humans (shown on a terminal only). */
  log(message: string): void;
  /** Aborted on Ctrl-C or a fatal error: actions should return promptly. */
  signal: AbortSignal;
}

/**
 * One timed fault: wait `delayMs` (after the previous action's heal, or the start of the inject phase),
 * `inject`, keep it for `holdMs`, `heal`. The runner records a nemesis start after inject and a stop
 * after heal, each with the description the step returned.
 */
export interface FaultAction {
  /** Short machine name of the fault, e.g. "leader-kill". */
  kind: string;
  /**
   * What the schedule planned, before anything runs (e.g. "SIGKILL the leader of partition 2, hold
   * 3000 ms, after 2000 ms"): a pure function of the seed, listed in the summary's `schedule` so two
   * runs can be compared.
   */
  plan?: string;
  delayMs: number;
  holdMs: number;
  /** Applies the fault; returns what it did, e.g. "SIGKILL node 2 (leader of t-0)". */
  inject(ctx: ScenarioContext): Promise<string>;
  /** Removes the fault (restart the node, heal the network); returns what it did. */
  heal(ctx: ScenarioContext): Promise<string>;
}

/** What a scenario is asked to run against. */
export interface ScenarioTarget {
  name: TargetName;
  nodes: number;
  /**
   * Whether a fault plane with per-node client and link proxies exists: always for local targets; for
   * the external target only with a Toxiproxy (docker-compose.yml's). Default: name !== "external".
   */
  networkFaults?: boolean;
}

export type Applicability = { applicable: true } | { applicable: false; reason: string };

export interface Scenario {
  /** Lower-case, dash-separated; the --scenario name. */
  name: string;
  /** One line for `npm run chaos -- --list`. */
  description: string;
  defaults: ScenarioDefaults;
  workload: WorkloadDefaults;
  /** The fault schedule: the actions of the inject phase, in order, planned from the seed. */
  schedule(ctx: PlanContext, rng: SeededRandom): FaultAction[];
  expectations: ScenarioExpectations;
  /** Actions the schedule puts before its fault rounds (a node joining, latency set up): --rounds does not count them. */
  setupSteps?: number;
  /** Whether the scenario can run against a target of this shape; the reason says why not. */
  appliesTo(target: ScenarioTarget): Applicability;
}

export const applicable: Applicability = { applicable: true };
export const notApplicable = (reason: string): Applicability => ({ applicable: false, reason });

/** "60s", "5m", "1m30s", "1500ms", "2h" → milliseconds; throws one sentence for anything else. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * units[m[2]];
    matched = re.lastIndex;
  }
  if (!trimmed || matched !== trimmed.length || !(total > 0) || !Number.isFinite(total)) {
    throw new RangeError(
      `Invalid duration "${text}": expected a positive duration such as 90s, 5m, 1m30s or 1500ms.`,
    );
  }
  return Math.round(total);
}

/** 61500 → "1m1.5s"; for logs and summaries. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(1))}s`;
  const m = Math.floor(s / 60);
  const rest = Number((s - m * 60).toFixed(1));
  return rest ? `${m}m${rest}s` : `${m}m`;
}
