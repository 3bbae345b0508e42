// The second opinion: Apache Kafka's own org.apache.kafka.tools.ProducerPerformance from the installed
// jars, run against a target, and the parser of its summary line.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerCleanupPath, spawnManaged } from "../harness/cluster/process-supervisor.ts";
import { javaBin, kafkaLibsDir } from "../harness/tools.ts";

/** ProducerPerformance's final summary (MB is 2^20 bytes there, as in the rest of the benchmark). */
export interface PerfToolSummary {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
}

const NUM = String.raw`(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)`;
const SUMMARY = new RegExp(
  String.raw`^(\d+) records sent, ${NUM} records/sec \(${NUM} MB/sec\), ${NUM} ms avg latency, ${NUM} ms max latency, ${NUM} ms 50th, ${NUM} ms 95th, ${NUM} ms 99th, ${NUM} ms 99\.9th\.?\s*$`,
);

/**
 * Finds the summary line in ProducerPerformance's output (the one with percentiles; the periodic
 * progress lines have none) and parses it; undefined when there is none (the run failed).
 */
export function parsePerfToolOutput(output: string): PerfToolSummary | undefined {
  for (const line of output.split(/\r?\n/).reverse()) {
    const m = SUMMARY.exec(line.trim());
    if (!m) continue;
    const n = m.slice(1).map(Number);
    return {
      records: n[0],
      recordsPerSec: n[1],
      mbPerSec: n[2],
      avgLatencyMs: n[3],
      maxLatencyMs: n[4],
      p50Ms: n[5],
      p95Ms: n[6],
      p99Ms: n[7],
      p999Ms: n[8],
    };
  }
  return undefined;
}

export interface PerfToolRun {
  bootstrap: string;
  topic: string;
  records: number;
  recordSize: number;
  acks: "1" | "all";
  lingerMs: number;
  timeoutMs?: number;
}

export interface PerfToolResult {
  command: string;
  summary?: PerfToolSummary;
  /** Why there is no summary, with the output's tail. */
  error?: string;
  /** The broker-side CPU is measured by the caller; this is the tool's own wall time. */
  wallMs: number;
}

/** The java arguments, as documented in the README (exposed for the result file). */
export function perfToolArgs(run: PerfToolRun, libs: string): string[] {
  return [
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-cp",
    `${libs}/*`,
    "org.apache.kafka.tools.ProducerPerformance",
    "--topic",
    run.topic,
    "--num-records",
    String(run.records),
    "--record-size",
    String(run.recordSize),
    "--throughput",
    "-1",
    // --producer-props is deprecated in Kafka 4.x in favour of --command-property (same meaning).
    "--command-property",
    `bootstrap.servers=${run.bootstrap}`,
    `acks=${run.acks}`,
    `linger.ms=${run.lingerMs}`,
    "enable.idempotence=false",
    "compression.type=none",
  ];
}

/** Runs ProducerPerformance under the harness supervisor (so Ctrl-C or a crash cannot leave it running). */
export async function runPerfTool(run: PerfToolRun): Promise<PerfToolResult> {
  const libs = kafkaLibsDir();
  const args = perfToolArgs(run, libs);
  const command = `java ${args.map((a) => (a.includes("*") ? `'${a}'` : a)).join(" ")}`;
  const dir = mkdtempSync(join(tmpdir(), "gauntlet-bench-perf-"));
  const unregister = registerCleanupPath(dir);
  const logFile = join(dir, "producer-performance.log");
  const t0 = Date.now();
  try {
    const proc = await spawnManaged({ name: "ProducerPerformance", command: javaBin(), args, logFile });
    const timeoutMs = run.timeoutMs ?? 600_000;
    const timer = setTimeout(() => void proc.kill(), timeoutMs);
    const exit = await proc.exited;
    clearTimeout(timer);
    const output = readFileSync(logFile, "utf8");
    const summary = parsePerfToolOutput(output);
    const wallMs = Date.now() - t0;
    if (summary) return { command, summary, wallMs };
    const tail = output.trimEnd().split("\n").slice(-10).join("\n");
    return {
      command,
      wallMs,
      error: `ProducerPerformance printed no summary (exit ${exit.exitCode ?? exit.signal}): ${tail}`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    unregister();
  }
}
