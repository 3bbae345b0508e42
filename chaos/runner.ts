// The chaos runner: runs one scenario against one target and judges it.
//
//   setup     Toxiproxy fault plane, cluster (clients reach nodes only through their proxies), topic
//   warmup    workers start (producers, consumers); the cluster settles under load
//   steady    load without faults: the baseline for latency
//   inject    the scenario's fault schedule, each fault a nemesis start/stop pair in the history
//   heal      every network fault removed, every node running again
//   recovery  until each partition is led and fully in sync and sends are acknowledged again
//   drain     workers stopped; one drain reads every partition from the log start to the high watermark
//   check     checkHistory over the history, under the scenario's expectations
//
// Each phase is a `phase` event in the history and a {name, start, end} in the summary. Output:
// reports/summary/chaos-<scenario>-<target>.json and reports/histories/chaos-<scenario>-<target>.jsonl.
// Everything started here is stopped in `finally`; Ctrl-C runs the supervisor's shutdown hooks (cluster
// stop, plane close, worker kill), so nothing outlives the run either way.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { checkHistory } from "../harness/checker/check.ts";
import type { CheckerReport } from "../harness/checker/types.ts";
import { type BackendName, createCluster } from "../harness/cluster/index.ts";
import { formatPartitions, fullyReplicated, waitForPartitions } from "../harness/cluster/leaders.ts";
import { registerShutdownHook } from "../harness/cluster/process-supervisor.ts";
import type { Cluster, TargetName } from "../harness/cluster/types.ts";
import type { ImageProfile } from "../harness/docker/profile.ts";
import { FaultPlane } from "../harness/faults/fault-plane.ts";
import { fileSink, HistoryRecorder } from "../harness/history/recorder.ts";
import type { HistoryEvent } from "../harness/history/types.ts";
import { newSeed, SeededRandom } from "../harness/seed.ts";
import { REPO_ROOT } from "../harness/tools.ts";
import { WorkloadRunner } from "../harness/workloads/runner.ts";
import type { WorkloadSpec } from "../harness/workloads/types.ts";
import { type ReportAttachment, writeAllureResult, writeJunit } from "./report.ts";
import {
  type Applicability,
  type FaultAction,
  formatDuration,
  type Scenario,
  type ScenarioContext,
  type ScenarioExpectations,
} from "./scenario.ts";
import { timelineSvg } from "./timeline.ts";

export const PHASES = ["warmup", "steady", "inject", "heal", "recovery", "drain", "check"] as const;
export type PhaseName = (typeof PHASES)[number];

export type Verdict = "passed" | "failed" | "not applicable";

export interface RunOptions {
  scenario: Scenario;
  target: TargetName;
  /** Default: a fresh random seed (printed at the start). */
  seed?: number;
  /** Default: the scenario's. */
  nodes?: number;
  /** Exactly this many fault rounds (default: as many as fit into the duration). */
  rounds?: number;
  /** Length of the inject phase (default: the scenario's, unless rounds is given). */
  durationMs?: number;
  /** The external target's bootstrap servers. */
  bootstrapServers?: string;
  /** The image target's image and profile (runs on the docker backend). */
  image?: string;
  profile?: ImageProfile;
  /** The profile's file, for the replay command. */
  profilePath?: string;
  /**
   * The external target's Toxiproxy API (e.g. docker-compose.yml's http://127.0.0.1:8474): its proxies
   * named gauntlet-client-<node> / gauntlet-link-<from>-<to>-<purpose> become the fault plane, so network
   * scenarios run against a cluster Gauntlet did not start.
   */
  toxiproxyUrl?: string;
  /** How a local target's nodes run: processes (default) or docker containers. */
  backend?: BackendName;
  /** Where summary/ and histories/ go (default <repo>/reports). */
  reportsDir?: string;
  /** Default 5 s each. */
  warmupMs?: number;
  steadyMs?: number;
  /** Traffic kept running after recovery before the drain (default 3 s). */
  settleMs?: number;
  /**
   * Progress lines (phases, faults) and the workers' status line. Default: on a terminal outside CI.
   * The seed and the verdict are always printed.
   */
  progress?: boolean;
  /** Where lines go (default stderr). */
  write?: (line: string) => void;
  /**
   * Also write an Allure result of the run into this directory (the CLI passes reports/allure-results;
   * vitest wrapper tests leave it out and attach the artifacts through allure-js-commons instead).
   */
  allureResultsDir?: string;
}

export interface PhaseRecord {
  name: PhaseName;
  start: string;
  end: string;
  durationMs: number;
}

export interface FaultRecord {
  kind: string;
  description: string;
  heal: string;
  start: string;
  end: string;
}

export interface LatencyStats {
  count: number;
  p50: number;
  p99: number;
}

/** One planned fault action, as the schedule made it from the seed (before anything ran). */
export interface PlannedFault {
  kind: string;
  delayMs: number;
  holdMs: number;
  plan: string;
}

/** Latency of the sends acknowledged while one fault was in effect (inject to heal). */
export interface FaultLatency extends LatencyStats {
  kind: string;
  start: string;
  end: string;
  /** Sends that failed or ended indeterminate in the window. */
  errors: number;
}

/** Files written next to the summary (relative to the repository root). */
export interface RunArtifacts {
  history?: string;
  checker?: string;
  timeline?: string;
  junit?: string;
  /** node id → the tail of its log, captured before the cluster stopped. */
  logs: Record<string, string>;
}

export interface ChaosSummary {
  scenario: string;
  description: string;
  target: TargetName;
  seed: number;
  nodes: number;
  rf: number;
  minIsr: number;
  partitions: number;
  topic: string;
  workload: Scenario["workload"];
  expectations: ScenarioExpectations;
  startedAt: string;
  durationMs: number;
  setupMs: number;
  phases: PhaseRecord[];
  /** The fault schedule planned from the seed (same seed, same schedule), whether or not it all ran. */
  schedule: PlannedFault[];
  faults: FaultRecord[];
  counts: CheckerReport["counts"] | Record<string, never>;
  longestStallMs: number | null;
  /** Time from the end of the heal phase until the cluster was fully replicated and acknowledging again. */
  recoveryMs: number | null;
  latency: Record<string, LatencyStats>;
  /** Per executed fault: latency and errors of the sends completed while it was in effect. */
  faultLatency: FaultLatency[];
  verdict: Verdict;
  reasons: string[];
  /** Relative to the repository root. */
  history: string | null;
  replay: string;
  artifacts: RunArtifacts;
}

export interface Judgement {
  verdict: "passed" | "failed";
  reasons: string[];
  report: CheckerReport;
}

/**
 * The check step: the checker over a recorded history, under the scenario's expectations, plus what
 * the run itself observed (recovery time, errors). Pure, so a saved history always gets the same verdict.
 */
export function judge(
  events: readonly HistoryEvent[],
  expectations: ScenarioExpectations,
  observed: { recoveryMs?: number | null; errors?: string[] } = {},
): Judgement {
  const report = checkHistory(events, {
    expectations: {
      allowLost: expectations.maxLost > 0,
      allowDuplicates: expectations.maxDuplicates > 0,
      maxStallMs: expectations.maxStallMs,
    },
  });
  const reasons: string[] = [...(observed.errors ?? [])];
  const c = report.counts;
  for (const cls of report.failures) {
    if (cls === "availability") {
      reasons.push(
        `availability: no send was acknowledged for ${formatDuration(report.availability.longestStallMs)} (allowed: ${formatDuration(expectations.maxStallMs ?? 0)})`,
      );
      continue;
    }
    const first = report.anomalies[cls].items[0];
    reasons.push(
      `${cls}: ${report.anomalies[cls].count}${first ? ` (first: ${JSON.stringify(first)})` : ""}`,
    );
  }
  if (c.lost > expectations.maxLost) {
    if (!report.failures.includes("lost")) reasons.push(`lost: ${c.lost} (allowed: ${expectations.maxLost})`);
  }
  if (c.duplicated > expectations.maxDuplicates && !report.failures.includes("duplicated")) {
    reasons.push(`duplicated: ${c.duplicated} (allowed: ${expectations.maxDuplicates})`);
  }
  if (expectations.maxFailedSends !== undefined && c.failedSends > expectations.maxFailedSends) {
    reasons.push(`failed sends: ${c.failedSends} (allowed: ${expectations.maxFailedSends})`);
  }
  if (
    expectations.maxIndeterminateSends !== undefined &&
    c.indeterminateSends > expectations.maxIndeterminateSends
  ) {
    reasons.push(
      `indeterminate sends: ${c.indeterminateSends} (allowed: ${expectations.maxIndeterminateSends})`,
    );
  }
  if (c.acknowledged === 0)
    reasons.push("no send was acknowledged: the workload never ran against the cluster");
  if (observed.recoveryMs === null) {
    reasons.push(
      `recovery: the cluster did not recover within ${formatDuration(expectations.recoveryWithinMs ?? 0)} after heal`,
    );
  }
  return { verdict: reasons.length ? "failed" : "passed", reasons, report };
}

/** How long the workers may take to connect. */
const WORKER_READY_MS = 60_000;
/** How long the final drain may read. */
const DRAIN_DEADLINE_MS = 60_000;

/** The promise's value, or a rejection with `message` after ms (the caller's finally cleans up). */
async function within<T>(ms: number, promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false";
}

const iso = (ms: number) => new Date(ms).toISOString();

export function reportPaths(
  scenario: string,
  target: string,
  reportsDir = join(REPO_ROOT, "reports"),
): { summary: string; history: string; checker: string; timeline: string; logs: string } {
  const base = `chaos-${scenario}-${target}`;
  return {
    summary: join(reportsDir, "summary", `${base}.json`),
    history: join(reportsDir, "histories", `${base}.jsonl`),
    checker: join(reportsDir, "checker", `${base}.json`),
    timeline: join(reportsDir, "timelines", `${base}.svg`),
    logs: join(reportsDir, "logs", base),
  };
}

/** The planned schedule as the summary lists it. */
export function plannedSchedule(actions: readonly FaultAction[]): PlannedFault[] {
  return actions.map((a) => ({
    kind: a.kind,
    delayMs: a.delayMs,
    holdMs: a.holdMs,
    plan: a.plan ?? `${a.kind}, hold ${a.holdMs} ms, after ${a.delayMs} ms`,
  }));
}

/** Latency of acknowledged sends (and the count of failed/indeterminate ones) completed in each window. */
export function latencyInWindows(
  events: readonly HistoryEvent[],
  windows: readonly FaultRecord[],
): FaultLatency[] {
  const invoked = new Map<string, number>();
  const completed: { at: number; ms: number | null }[] = [];
  for (const e of events) {
    if (e.f !== "send") continue;
    if (e.type === "invoke") invoked.set(e.process, e.monoTime);
    else {
      const start = invoked.get(e.process);
      invoked.delete(e.process);
      completed.push({
        at: e.wallTime,
        ms: e.type === "ok" && start !== undefined ? e.monoTime - start : null,
      });
    }
  }
  const pct = (sorted: number[], p: number) =>
    sorted.length
      ? Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] * 10) / 10
      : 0;
  return windows.map((w) => {
    const from = Date.parse(w.start);
    const to = Date.parse(w.end);
    const inside = completed.filter((c) => c.at >= from && c.at <= to);
    const ok = inside.flatMap((c) => (c.ms === null ? [] : [c.ms])).sort((a, b) => a - b);
    return {
      kind: w.kind,
      start: w.start,
      end: w.end,
      count: ok.length,
      p50: pct(ok, 50),
      p99: pct(ok, 99),
      errors: inside.length - ok.length,
    };
  });
}

async function createTopic(
  bootstrap: string,
  topic: string,
  partitions: number,
  rf: number,
  minIsr: number,
): Promise<void> {
  const { Kafka, logLevel } = (await import("kafkajs")).default;
  const kafka = new Kafka({
    clientId: "gauntlet-chaos",
    brokers: bootstrap.split(","),
    logLevel: logLevel.NOTHING,
    requestTimeout: 10_000,
    retry: { retries: 5 },
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: partitions,
          replicationFactor: rf,
          configEntries: [{ name: "min.insync.replicas", value: String(minIsr) }],
        },
      ],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** Saves the tail of every node's log (before the cluster stops and removes them). */
async function saveLogTails(cluster: Cluster, dir: string, into: Record<string, string>): Promise<void> {
  for (const node of cluster.nodes()) {
    try {
      const tail = await cluster.logs(node.nodeId, 200);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `node-${node.nodeId}.log`);
      writeFileSync(file, tail);
      into[String(node.nodeId)] = relative(REPO_ROOT, file);
    } catch {
      // A node that never started has no log; the others still count.
    }
  }
}

/** Runs one scenario end to end, writes the summary and history, and returns the summary. */
export async function runScenario(options: RunOptions): Promise<ChaosSummary> {
  const { scenario, target } = options;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const progress = options.progress ?? (process.stderr.isTTY === true && !isCi());
  const log = (line: string) => {
    if (progress) write(`  ${line}`);
  };
  const seed = options.seed ?? newSeed();
  const nodes = options.nodes ?? scenario.defaults.nodes;
  const rf = Math.min(scenario.defaults.rf, nodes);
  const minIsr = Math.min(scenario.defaults.minIsr, rf);
  const partitions = scenario.defaults.partitions;
  const rounds = options.rounds ?? (options.durationMs === undefined ? scenario.defaults.rounds : undefined);
  const durationMs = options.durationMs ?? scenario.defaults.durationMs;
  // --rounds alone: run them all; otherwise the inject phase ends with the duration.
  const injectDeadlineMs =
    options.rounds !== undefined && options.durationMs === undefined ? Number.POSITIVE_INFINITY : durationMs;
  const topic = `chaos-${scenario.name}-${seed}`;
  const docker = options.backend === "docker";
  // docker runs keep their own report files (chaos-<scenario>-<target>-docker.*)
  const paths = reportPaths(scenario.name, docker ? `${target}-docker` : target, options.reportsDir);
  const replay =
    `npm run chaos -- --scenario ${scenario.name} --target ${target === "image" ? `image:${options.image}` : target} --seed ${seed} --nodes ${nodes}` +
    (options.profilePath ? ` --profile ${options.profilePath}` : "") +
    (docker ? " --backend docker" : "") +
    (options.bootstrapServers ? ` --bootstrap-servers ${options.bootstrapServers}` : "") +
    (options.toxiproxyUrl ? ` --toxiproxy-url ${options.toxiproxyUrl}` : "") +
    (options.rounds !== undefined ? ` --rounds ${options.rounds}` : "") +
    (options.durationMs !== undefined ? ` --duration ${formatDuration(options.durationMs)}` : "");
  write(
    `chaos ${scenario.name} on ${target}${docker ? " (docker)" : ""} (${nodes} node${nodes === 1 ? "" : "s"}), seed ${seed} (replay: ${replay})`,
  );

  const t0 = Date.now();
  const summary: ChaosSummary = {
    scenario: scenario.name,
    description: scenario.description,
    target,
    seed,
    nodes,
    rf,
    minIsr,
    partitions,
    topic,
    workload: scenario.workload,
    expectations: scenario.expectations,
    startedAt: iso(t0),
    durationMs: 0,
    setupMs: 0,
    phases: [],
    schedule: [],
    faults: [],
    counts: {},
    longestStallMs: null,
    recoveryMs: null,
    latency: {},
    faultLatency: [],
    verdict: "not applicable",
    reasons: [],
    history: null,
    replay,
    artifacts: { logs: {} },
  };
  let checkerReport: CheckerReport | undefined;
  let historyEvents: readonly HistoryEvent[] = [];
  const reportsDir = options.reportsDir ?? join(REPO_ROOT, "reports");
  const finish = (): ChaosSummary => {
    summary.durationMs = Date.now() - t0;
    try {
      writeArtifacts();
    } catch (err) {
      write(`writing the chaos reports failed: ${(err as Error).message}`);
    }
    mkdirSync(join(paths.summary, ".."), { recursive: true });
    writeFileSync(paths.summary, `${JSON.stringify(summary, null, 2)}\n`);
    if (options.allureResultsDir) {
      try {
        writeAllureResult(options.allureResultsDir, summary, allureAttachments());
      } catch (err) {
        write(`writing the Allure result failed: ${(err as Error).message}`);
      }
    }
    return summary;
  };
  const rel = (file: string) => relative(REPO_ROOT, file);
  /** Checker report, timeline SVG and JUnit XML next to the summary. */
  const writeArtifacts = () => {
    if (checkerReport) {
      mkdirSync(join(paths.checker, ".."), { recursive: true });
      writeFileSync(paths.checker, `${JSON.stringify(checkerReport, null, 2)}\n`);
      summary.artifacts.checker = rel(paths.checker);
    }
    if (historyEvents.length) {
      mkdirSync(join(paths.timeline, ".."), { recursive: true });
      writeFileSync(
        paths.timeline,
        timelineSvg(historyEvents, {
          title: `chaos ${scenario.name} on ${target}, seed ${seed}`,
          faults: summary.faults.map((f) => ({
            start: Date.parse(f.start),
            end: Date.parse(f.end),
            label: `${f.kind}: ${f.description}`,
          })),
        }),
      );
      summary.artifacts.timeline = rel(paths.timeline);
    }
    if (summary.history) summary.artifacts.history = summary.history;
    summary.artifacts.junit = rel(writeJunit(reportsDir, summary));
  };
  const allureAttachments = (): ReportAttachment[] => {
    const files: ReportAttachment[] = [
      { name: "summary", type: "application/json", ext: "json", content: JSON.stringify(summary, null, 2) },
    ];
    const add = (name: string, file: string | undefined, type: string, ext: string) => {
      if (file) files.push({ name, type, ext, content: readFileSync(join(REPO_ROOT, file)) });
    };
    add("timeline", summary.artifacts.timeline, "image/svg+xml", "svg");
    add("checker report", summary.artifacts.checker, "application/json", "json");
    add("history", summary.artifacts.history, "application/x-ndjson", "jsonl");
    for (const [node, file] of Object.entries(summary.artifacts.logs))
      add(`node ${node} log tail`, file, "text/plain", "txt");
    return files;
  };

  let applies: Applicability = scenario.appliesTo({
    name: target,
    nodes,
    networkFaults: target !== "external" || options.toxiproxyUrl !== undefined,
  });
  if (applies.applicable && target === "image" && scenario.defaults.linkProxies)
    applies = {
      applicable: false,
      reason: `${scenario.name} routes node-to-node links through per-link proxies, which an image target's profile cannot express yet`,
    };
  if (applies.applicable && target === "image" && scenario.defaults.adminEndpoints)
    applies = {
      applicable: false,
      reason: `${scenario.name} reads the reference broker's own metrics and adds a node, which an image target does not offer`,
    };
  if (
    applies.applicable &&
    options.backend === "docker" &&
    scenario.defaults.linkProxies &&
    target === "kafka"
  )
    applies = {
      applicable: false,
      reason: `${scenario.name} routes Kafka's node-to-node links through per-link proxies, which the docker backend does for the reference broker only so far`,
    };
  if (applies.applicable && options.backend === "docker" && scenario.defaults.adminEndpoints)
    applies = {
      applicable: false,
      reason: `${scenario.name} reads node metrics and adds a node, which the docker backend does not support yet`,
    };
  if (!applies.applicable) {
    summary.reasons.push(`not applicable: ${applies.reason}`);
    write(`chaos ${scenario.name} on ${target}: not applicable: ${applies.reason}.`);
    return finish();
  }

  mkdirSync(join(paths.history, ".."), { recursive: true });
  const recorder = new HistoryRecorder({ sink: fileSink(paths.history) });
  summary.history = relative(REPO_ROOT, paths.history);
  const abort = new AbortController();
  const unregisterAbort = registerShutdownHook(async () => abort.abort());
  let plane: FaultPlane | undefined;
  let cluster: Cluster | undefined;
  let runner: WorkloadRunner | undefined;
  let current: { name: PhaseName; start: number } | undefined;
  const phase = (name: PhaseName) => {
    const now = Date.now();
    if (current) {
      summary.phases.push({
        name: current.name,
        start: iso(current.start),
        end: iso(now),
        durationMs: now - current.start,
      });
    }
    current = { name, start: now };
    if (runner) runner.phase(name);
    else recorder.phase(name);
    log(`[${formatDuration(now - t0)}] phase ${name}`);
  };
  const endPhase = () => {
    if (!current) return;
    const now = Date.now();
    summary.phases.push({
      name: current.name,
      start: iso(current.start),
      end: iso(now),
      durationMs: now - current.start,
    });
    current = undefined;
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (abort.signal.aborted || ms <= 0) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        abort.signal.removeEventListener("abort", done);
        resolve();
      }
      abort.signal.addEventListener("abort", done, { once: true });
    });
  const errors: string[] = [];
  let historyClosed = false;

  try {
    // ---- setup
    let bootstrap: string;
    if (target === "external") {
      if (!options.bootstrapServers)
        throw new Error("The external target needs --bootstrap-servers host:port,...");
      cluster = createCluster({ target: "external", bootstrapServers: options.bootstrapServers });
      await cluster.start();
      if (options.toxiproxyUrl) {
        plane = await FaultPlane.adopt({
          url: options.toxiproxyUrl,
          onEvent: (e) => {
            if (!historyClosed) recorder.nemesis(e.fault, `${e.kind}: ${e.description}`);
          },
        });
      }
      bootstrap = options.bootstrapServers;
    } else {
      // on the docker backend Toxiproxy runs as a container on the network the nodes join
      plane = await FaultPlane.open({
        docker: options.backend === "docker" || target === "image",
        onEvent: (e) => {
          if (!historyClosed) recorder.nemesis(e.fault, `${e.kind}: ${e.description}`);
        },
      });
      const common = {
        nodes,
        advertise: plane.advertiseClients(),
        minInsyncReplicas: minIsr,
        config: scenario.defaults.brokerConfig,
        backend: options.backend ?? "process",
        ...(plane.network ? { network: plane.network } : {}),
        ...(scenario.defaults.racks ? { racks: scenario.defaults.racks } : {}),
      };
      const links = scenario.defaults.linkProxies ? { peerAddress: plane.routeLinks() } : {};
      if (target === "image") {
        if (!options.image || !options.profile)
          throw new Error("The image target needs --target image:<name> and --profile <file>.");
        cluster = createCluster({
          target: "image",
          ...common,
          ...links,
          backend: "docker",
          image: options.image,
          profile: options.profile,
        });
      } else if (target === "kafka") {
        cluster = createCluster({ target: "kafka", ...common, ...links });
      } else {
        cluster = createCluster({
          target,
          ...common,
          ...links,
          admin: scenario.defaults.adminEndpoints ?? false,
        });
      }
      await cluster.start();
      bootstrap = cluster.bootstrapServers();
    }
    await createTopic(bootstrap, topic, partitions, rf, minIsr);
    await waitForPartitions(bootstrap, topic, fullyReplicated, { withinMs: 60_000 });
    summary.setupMs = Date.now() - t0;
    log(`cluster up and topic ${topic} created in ${formatDuration(summary.setupMs)}: ${bootstrap}`);

    // ---- warmup: workers start
    const w = scenario.workload;
    const workerBoundMs = 6 * 3_600_000; // workers are stopped explicitly; this only bounds an orphan
    const base = {
      bootstrap,
      topic,
      requestTimeoutMs: w.requestTimeoutMs,
      retries: w.retries,
      durationMs: workerBoundMs,
      seed,
    };
    const producers: WorkloadSpec[] = Array.from({ length: w.producers }, () => ({
      ...base,
      client: w.client,
      role: "producer",
      ratePerSec: w.rate,
      maxInFlight: w.maxInFlight,
      acks: w.acks,
      idempotent: w.idempotence,
      keys: "random",
    }));
    const consumers: WorkloadSpec[] = Array.from({ length: w.consumers }, (_, i) => ({
      ...base,
      client: w.consumerClient ?? w.client,
      role: "consumer",
      ...(w.consumerRacks?.length ? { clientRack: w.consumerRacks[i % w.consumerRacks.length] } : {}),
      groupId: `${topic}-consumers`,
      ratePerSec: 1,
      maxInFlight: 1,
      acks: -1,
      idempotent: false,
      keys: "none",
    }));
    runner = new WorkloadRunner({
      recorder,
      onProgress: progress ? undefined : null,
      readyTimeoutMs: WORKER_READY_MS,
    });
    const workersRunner = runner;
    phase("warmup");
    await workersRunner.start([...producers, ...consumers].map((spec) => ({ spec })));
    await sleep(options.warmupMs ?? 5000);

    // ---- steady
    phase("steady");
    await sleep(options.steadyMs ?? 5000);

    // ---- inject
    phase("inject");
    const rng = new SeededRandom(seed);
    const nodeIds = cluster.nodes().map((n) => n.nodeId);
    const actions = scenario.schedule(
      { target, nodes: nodeIds, durationMs, rounds, topic, partitions },
      rng.fork("schedule"),
    );
    summary.schedule = plannedSchedule(actions);
    const clusterNow = cluster;
    const ctx: ScenarioContext = {
      cluster,
      metricsUrl: (nodeId) => {
        const admin = (clusterNow as { adminUrl?: (id: number) => string }).adminUrl;
        if (!scenario.defaults.adminEndpoints || !admin) return undefined;
        return `${admin.call(clusterNow, nodeId)}/metrics`;
      },
      plane,
      bootstrap,
      topic,
      partitions,
      nodes: nodeIds,
      rng: rng.fork("actions"),
      sleep,
      log,
      signal: abort.signal,
    };
    const injectStart = Date.now();
    try {
      for (const action of actions) {
        if (abort.signal.aborted) break;
        if (Date.now() - injectStart + action.delayMs > injectDeadlineMs) break;
        await sleep(action.delayMs);
        const description = await action.inject(ctx);
        const start = Date.now();
        recorder.nemesis("start", `${action.kind}: ${description}`);
        log(`[${formatDuration(start - t0)}] ${description}`);
        await sleep(action.holdMs);
        const heal = await action.heal(ctx);
        const end = Date.now();
        recorder.nemesis("stop", `${action.kind}: ${heal}`);
        log(`[${formatDuration(end - t0)}] ${heal}`);
        summary.faults.push({ kind: action.kind, description, heal, start: iso(start), end: iso(end) });
      }
    } catch (err) {
      // The fault schedule failed (e.g. a node did not come back): judged as a failure, after healing.
      errors.push(`fault schedule: ${(err as Error).message.split("\n")[0]}`);
      log(`fault schedule failed: ${(err as Error).message}`);
    }

    // ---- heal: no network fault left, every node running
    phase("heal");
    await plane?.heal();
    if (target !== "external") {
      for (const node of cluster.nodes()) {
        if (node.paused) await cluster.resume(node.nodeId);
        if (!node.running) {
          recorder.nemesis("start", `heal: restarting node ${node.nodeId}`);
          await cluster.restart(node.nodeId);
          recorder.nemesis("stop", `heal: node ${node.nodeId} restarted`);
        }
      }
    }

    // ---- recovery: fully replicated and acknowledging again
    phase("recovery");
    const recoveryStart = performance.now();
    const bound = scenario.expectations.recoveryWithinMs ?? 120_000;
    const marker = recorder.events.length;
    let recovered = false;
    try {
      let lastSeen = "";
      const states = await waitForPartitions(bootstrap, topic, fullyReplicated, {
        withinMs: bound,
        onPoll: (seen) => {
          const text = seen instanceof Error ? seen.message : formatPartitions(seen);
          if (text !== lastSeen) log(`[${formatDuration(Date.now() - t0)}] ${text}`);
          lastSeen = text;
        },
      });
      log(`[${formatDuration(Date.now() - t0)}] fully replicated: ${formatPartitions(states)}`);
      const deadline = recoveryStart + bound;
      const ackedSince = () => recorder.events.slice(marker).some((e) => e.f === "send" && e.type === "ok");
      while (!ackedSince() && performance.now() < deadline && !abort.signal.aborted) await sleep(100);
      recovered = ackedSince() || w.producers === 0;
    } catch (err) {
      log((err as Error).message);
    }
    summary.recoveryMs = recovered ? Math.round(performance.now() - recoveryStart) : null;
    log(recovered ? `recovered in ${formatDuration(summary.recoveryMs!)}` : "did not recover");
    await sleep(options.settleMs ?? 3000);

    // ---- drain
    phase("drain");
    await runner.stop();
    const drained = await within(
      DRAIN_DEADLINE_MS + WORKER_READY_MS + 15_000,
      runner.drain({
        client: w.drainClient ?? w.client,
        bootstrap,
        topic,
        deadlineMs: DRAIN_DEADLINE_MS,
        requestTimeoutMs: 10_000,
      }),
      "The drain did not finish in time.",
    );
    log(
      `drained ${drained.values?.length ?? 0} records${drained.description ? ` (${drained.description})` : ""}`,
    );
    await runner.close();

    // ---- check
    phase("check");
    historyClosed = true;
    await recorder.close("RUN_ENDED");
    const judgement = judge(recorder.events, scenario.expectations, {
      recoveryMs: summary.recoveryMs,
      errors,
    });
    endPhase();
    const r = judgement.report;
    checkerReport = r;
    historyEvents = recorder.events;
    summary.faultLatency = latencyInWindows(recorder.events, summary.faults);
    summary.counts = r.counts;
    summary.longestStallMs = Math.round(r.availability.longestStallMs);
    summary.latency = Object.fromEntries([
      ["overall", { count: r.latency.overall.count, p50: r.latency.overall.p50, p99: r.latency.overall.p99 }],
      ...r.latency.phases.map((p) => [p.phase, { count: p.count, p50: p.p50, p99: p.p99 }]),
    ]);
    summary.verdict = judgement.verdict;
    summary.reasons = judgement.reasons;
  } catch (err) {
    endPhase();
    summary.verdict = "failed";
    summary.reasons = [...errors, `error: ${(err as Error).message.split("\n")[0]}`];
    finish();
    throw err;
  } finally {
    unregisterAbort();
    await runner?.close().catch(() => {});
    historyClosed = true;
    await recorder.close("RUN_ENDED").catch(() => {});
    if (!historyEvents.length) historyEvents = recorder.events;
    if (cluster && target !== "external") await saveLogTails(cluster, paths.logs, summary.artifacts.logs);
    await cluster?.stop().catch((err) => write(`stopping the cluster failed: ${(err as Error).message}`));
    await plane?.close().catch((err) => write(`closing the fault plane failed: ${(err as Error).message}`));
  }
  finish();
  const c = summary.counts as CheckerReport["counts"];
  write(
    `chaos ${scenario.name} on ${target}: ${summary.verdict} — acknowledged ${c.acknowledged}, lost ${c.lost}, duplicated ${c.duplicated}, unseen ${c.unseen}, longest stall ${formatDuration(summary.longestStallMs ?? 0)}, ${summary.faults.length} fault(s), ${formatDuration(summary.durationMs)}; summary: ${relative(REPO_ROOT, paths.summary)}`,
  );
  for (const reason of summary.reasons) write(`  - ${reason}`);
  return summary;
}
