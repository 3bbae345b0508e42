// The result file's shape, the ratios reference / Kafka, and the short table printed on stdout.
import type { BenchOptions, BenchTarget } from "./args.ts";
import type { PerfToolSummary } from "./perf-tool.ts";
import type { LatencySummary } from "./stats.ts";

export interface CpuFigures {
  /** Each producer worker's CPU over the window, percent of one core (all its threads). */
  perWorkerPercent: number[];
  totalPercent: number;
}

export interface PhaseResult {
  kind: "max" | "fixed";
  topic: string;
  /** Total requested rate (fixed phase), msg/s. */
  requestedRate?: number;
  producers: number;
  windowMs: number;
  /** Deliveries acknowledged inside the window. */
  messages: number;
  msgPerSec: number;
  /** MB = 2^20 bytes of record values, as ProducerPerformance counts. */
  mbPerSec: number;
  /** produce() calls inside the window per second (the offered load). */
  producedPerSec: number;
  errors: number;
  firstError?: string;
  produceLatencyMs: LatencySummary;
  e2eLatencyMs?: LatencySummary;
  generatorCpu: CpuFigures;
  e2eConsumerCpuPercent?: number;
  /** The broker process(es)' CPU over the window, percent of one core, summed over nodes. */
  brokerCpuPercent?: number;
  /** Busy percent of all cores together (100 = every core busy). */
  machineBusyPercent?: number;
  /** CPU the rest of the machine used over the window (busy minus broker, generator and consumer), percent of one core. */
  otherCpuPercent?: number;
  /** Followers behind their leaders over the window (3+ nodes). */
  replicationLag?: ReplicationLagFigures;
}

/** Replication lag sampled with DescribeLogDirs on every node (bench/replication-lag.ts). */
export interface ReplicationLagFigures {
  /** Rounds in which every node answered, and rounds in which one did not. */
  samples: number;
  failedSamples: number;
  /** Per round, the worst partition's leader bytes minus its slowest follower's. */
  bytes: { p50: number; p99: number; max: number };
  /** The same at that partition's mean write rate over the window. */
  ms: { p50: number; p99: number; max: number };
  /** Median time between a round's first request and last answer (the sizes' read skew). */
  readSpreadMsMedian: number;
}

export interface ReadbackResult {
  topic: string;
  messages: number;
  bytes: number;
  /** From the first message read to the last. */
  elapsedMs: number;
  /** From consuming start (assignment) to the last message. */
  totalMs: number;
  msgPerSec: number;
  mbPerSec: number;
  consumerCpuPercent: number;
  brokerCpuPercent?: number;
  errors: number;
  firstError?: string;
}

export interface PerfToolFigures {
  topic: string;
  command: string;
  records: number;
  summary?: PerfToolSummary;
  error?: string;
  brokerCpuPercent?: number;
  wallMs: number;
}

export interface RecoveryFigures {
  nodeId: number;
  /** Bytes in the node's data dir when it was killed. */
  logBytes: number;
  /** From the start of the killed node until it serves Metadata (the harness's ready check). */
  readyMs: number;
  /** From the start until it is back in the ISR of every partition it replicates. */
  inIsrMs: number;
}

export interface FailoverFigures {
  /** Per SIGKILL of the partition leader: ms from the signal to the first acknowledgement after it. */
  rounds: number[];
  /** Lower median of rounds. */
  medianMs: number;
}

export interface TargetResult {
  target: BenchTarget;
  nodes: number;
  startupMs?: number;
  max?: PhaseResult;
  readback?: ReadbackResult;
  fixed?: PhaseResult;
  perfTool?: PerfToolFigures;
  recovery?: RecoveryFigures;
  failover?: FailoverFigures;
  /** Set when the target failed; the figures before the failure are kept. */
  error?: string;
}

export interface Environment {
  node: string;
  platform: string;
  arch: string;
  osRelease: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  hostname: string;
  kafkaVersion: string;
  librdkafkaVersion: string;
  commit: string;
  /** Whether the working tree had uncommitted changes. */
  dirty: boolean;
}

export interface Ratio {
  label: string;
  kafka: number | null;
  reference: number | null;
  /** reference / kafka. */
  ratio: number | null;
  /** Whether a higher value is better (throughput) or worse (latency). */
  higherIsBetter: boolean;
}

export interface BenchResult {
  schema: 1;
  /** The command line that produced it, e.g. "npm run bench -- --target both ...". */
  command: string;
  date: string;
  configName: string;
  config: Omit<BenchOptions, "targets" | "outDir">;
  environment: Environment;
  targets: TargetResult[];
  /** reference / Kafka, when both ran. */
  ratios?: Record<string, Ratio>;
}

interface Metric {
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  get: (t: TargetResult) => number | undefined;
}

export const METRICS: Metric[] = [
  {
    key: "maxMsgPerSec",
    label: "produce (max)",
    unit: "msg/s",
    higherIsBetter: true,
    get: (t) => t.max?.msgPerSec,
  },
  {
    key: "maxMbPerSec",
    label: "produce (max)",
    unit: "MB/s",
    higherIsBetter: true,
    get: (t) => t.max?.mbPerSec,
  },
  {
    key: "maxP50",
    label: "produce latency p50 (max)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.max?.produceLatencyMs.p50,
  },
  {
    key: "maxP99",
    label: "produce latency p99 (max)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.max?.produceLatencyMs.p99,
  },
  {
    key: "maxP999",
    label: "produce latency p99.9 (max)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.max?.produceLatencyMs.p999,
  },
  {
    key: "maxE2eP99",
    label: "end-to-end p99 (max)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.max?.e2eLatencyMs?.p99,
  },
  {
    key: "fixedRate",
    label: "fixed rate achieved",
    unit: "msg/s",
    higherIsBetter: true,
    get: (t) => t.fixed?.msgPerSec,
  },
  {
    key: "fixedP50",
    label: "produce latency p50 (fixed rate)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.fixed?.produceLatencyMs.p50,
  },
  {
    key: "fixedP99",
    label: "produce latency p99 (fixed rate)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.fixed?.produceLatencyMs.p99,
  },
  {
    key: "fixedP999",
    label: "produce latency p99.9 (fixed rate)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.fixed?.produceLatencyMs.p999,
  },
  {
    key: "fixedE2eP99",
    label: "end-to-end p99 (fixed rate)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.fixed?.e2eLatencyMs?.p99,
  },
  {
    key: "readbackMsgPerSec",
    label: "consume from the beginning",
    unit: "msg/s",
    higherIsBetter: true,
    get: (t) => t.readback?.msgPerSec,
  },
  {
    key: "readbackMbPerSec",
    label: "consume from the beginning",
    unit: "MB/s",
    higherIsBetter: true,
    get: (t) => t.readback?.mbPerSec,
  },
  {
    key: "perfRecordsPerSec",
    label: "ProducerPerformance",
    unit: "records/s",
    higherIsBetter: true,
    get: (t) => t.perfTool?.summary?.recordsPerSec,
  },
  {
    key: "perfMbPerSec",
    label: "ProducerPerformance",
    unit: "MB/s",
    higherIsBetter: true,
    get: (t) => t.perfTool?.summary?.mbPerSec,
  },
  {
    key: "perfP50",
    label: "ProducerPerformance p50",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.perfTool?.summary?.p50Ms,
  },
  {
    key: "perfP99",
    label: "ProducerPerformance p99",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.perfTool?.summary?.p99Ms,
  },
  {
    key: "maxLagP99",
    label: "replication lag p99 (max)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.max?.replicationLag?.ms.p99,
  },
  {
    key: "maxLagMax",
    label: "replication lag, largest (max)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.max?.replicationLag?.ms.max,
  },
  {
    key: "fixedLagP99",
    label: "replication lag p99 (fixed rate)",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.fixed?.replicationLag?.ms.p99,
  },
  {
    key: "failoverMs",
    label: "failover: SIGKILL of the leader → first ack, median",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.failover?.medianMs,
  },
  {
    key: "recoveryLogGiB",
    label: "restart recovery: data on the killed node",
    unit: "GiB",
    higherIsBetter: true,
    get: (t) => (t.recovery ? Math.round((t.recovery.logBytes / 2 ** 30) * 100) / 100 : undefined),
  },
  {
    key: "recoveryReadyMs",
    label: "restart recovery: start → serving",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.recovery?.readyMs,
  },
  {
    key: "recoveryIsrMs",
    label: "restart recovery: start → back in every ISR",
    unit: "ms",
    higherIsBetter: false,
    get: (t) => t.recovery?.inIsrMs,
  },
  {
    key: "maxBrokerCpu",
    label: "broker CPU (max)",
    unit: "% core",
    higherIsBetter: false,
    get: (t) => t.max?.brokerCpuPercent,
  },
  {
    key: "maxGeneratorCpu",
    label: "generator CPU (max)",
    unit: "% core",
    higherIsBetter: false,
    get: (t) => t.max?.generatorCpu.totalPercent,
  },
];

const finite = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);

/** reference / Kafka for every metric both have. */
export function computeRatios(targets: TargetResult[]): Record<string, Ratio> | undefined {
  const kafka = targets.find((t) => t.target === "kafka");
  const reference = targets.find((t) => t.target === "reference");
  if (!kafka || !reference) return undefined;
  const out: Record<string, Ratio> = {};
  for (const m of METRICS) {
    const k = finite(m.get(kafka));
    const r = finite(m.get(reference));
    if (k === null && r === null) continue;
    out[m.key] = {
      label: `${m.label} (${m.unit})`,
      kafka: k,
      reference: r,
      ratio: k !== null && r !== null && k !== 0 ? Math.round((r / k) * 1000) / 1000 : null,
      higherIsBetter: m.higherIsBetter,
    };
  }
  return out;
}

/** A compact number: 12345 → "12.3k", 0.1234 → "0.123", 1.5e6 → "1.50M". */
export function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "-";
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

function pad(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "))
    .join("\n");
}

/** The short table printed at the end of a run. */
export function formatSummary(result: BenchResult): string {
  const header = ["", ...result.targets.map((t) => t.target)];
  if (result.ratios) header.push("ref/kafka");
  const rows: string[][] = [header];
  for (const m of METRICS) {
    const values = result.targets.map((t) => m.get(t));
    if (values.every((v) => v === undefined)) continue;
    const row = [`${m.label} (${m.unit})`, ...values.map((v) => fmt(v))];
    if (result.ratios) row.push(fmt(result.ratios[m.key]?.ratio));
    rows.push(row);
  }
  const lines = [`${result.configName} (${result.date})`, pad(rows)];
  for (const t of result.targets) {
    if (t.max)
      lines.push(
        `${t.target}: generator CPU per producer worker (max phase): ${t.max.generatorCpu.perWorkerPercent.map((p) => `${p}%`).join(", ")}`,
      );
    if (t.perfTool?.error) lines.push(`${t.target}: ProducerPerformance: ${t.perfTool.error.split("\n")[0]}`);
    if (t.error) lines.push(`${t.target}: FAILED: ${t.error}`);
  }
  return lines.join("\n");
}
