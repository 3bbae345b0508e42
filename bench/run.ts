// One target's benchmark: start the cluster through the harness, then the phases — maximum-rate
// produce (closed loop), read-back from the beginning, fixed-rate produce, ProducerPerformance — and
// stop the cluster whatever happens.
import { randomBytes } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import kafkajs from "kafkajs";
import { type Cluster, createCluster } from "../harness/cluster/index.ts";
import { describePartitions } from "../harness/cluster/leaders.ts";
import { AckLoop, until } from "./ack-loop.ts";
import type { BenchOptions, BenchTarget } from "./args.ts";
import { runPerfTool } from "./perf-tool.ts";
import { CpuMeter, round1 } from "./procstat.ts";
import { sampleReplicationLag } from "./replication-lag.ts";
import type {
  FailoverFigures,
  PerfToolFigures,
  PhaseResult,
  ReadbackResult,
  RecoveryFigures,
  TargetResult,
} from "./report.ts";
import { Histogram, summarizeMicros } from "./stats.ts";
import { monoMs, sleep } from "./workers/clock.ts";
import { CONSUMER_WORKER, PRODUCER_WORKER, Worker } from "./workers/pool.ts";
import type { ConsumerResult } from "./workers/protocol.ts";

const { Kafka, logLevel } = kafkajs;

const MB = 1024 * 1024;
const READY_TIMEOUT_MS = 60_000;

export type Log = (line: string) => void;

/** Creates (does not start) the cluster for a target, with benchmark settings. */
export function benchCluster(target: BenchTarget, opts: BenchOptions): Cluster {
  if (target === "kafka") {
    // Full JIT (not the harness's C1-only fast start-up) and a heap fit for throughput.
    // The reference cluster's session timing (harness REFERENCE_CLUSTER_FLAGS), so failover compares alike.
    const session: Record<string, number> =
      opts.nodes > 1 ? { "broker.session.timeout.ms": 3000, "broker.heartbeat.interval.ms": 300 } : {};
    return createCluster({
      target: "kafka",
      nodes: opts.nodes,
      fastStartup: false,
      heap: "1g",
      config: session,
    });
  }
  const nodeArgs = opts.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(opts.cpuProfDir)}`] : [];
  return createCluster({ target: "reference", nodes: opts.nodes, nodeArgs });
}

/** Closed-loop in-flight bound per producer worker: about 2 MiB of values, 500 to 20000 messages. */
export function maxInFlightFor(size: number): number {
  return Math.min(20_000, Math.max(500, Math.ceil((2 * MB) / size)));
}

function brokerPids(cluster: Cluster): number[] {
  return cluster.nodes().flatMap((n) => (n.pid !== undefined ? [n.pid] : []));
}

async function createTopic(
  bootstrap: string,
  topic: string,
  partitions: number,
  nodes: number,
): Promise<void> {
  const admin = new Kafka({
    clientId: "gauntlet-bench",
    brokers: bootstrap.split(","),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: Math.min(3, nodes) }],
      waitForLeaders: true,
      timeout: 30_000,
    });
  } finally {
    await admin.disconnect();
  }
}

async function topicMessages(bootstrap: string, topic: string): Promise<number> {
  const admin = new Kafka({
    clientId: "gauntlet-bench",
    brokers: bootstrap.split(","),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, o) => sum + (Number(o.high) - Number(o.low)), 0);
  } finally {
    await admin.disconnect();
  }
}

const cpuPercent = (cpu: { user: number; system: number }, windowMs: number): number =>
  windowMs > 0 ? round1(((cpu.user + cpu.system) / 1000 / windowMs) * 100) : 0;

/** A produce phase: producer workers (max or fixed rate) and, optionally, the end-to-end consumer. */
async function producePhase(
  cluster: Cluster,
  opts: BenchOptions,
  kind: "max" | "fixed",
  topic: string,
  totalRate: number,
  log: Log,
): Promise<PhaseResult> {
  const bootstrap = cluster.bootstrapServers();
  await createTopic(bootstrap, topic, opts.partitions, opts.nodes);
  const workers: Worker[] = [];
  try {
    let e2e: Worker | undefined;
    if (opts.e2e) {
      e2e = new Worker("end-to-end consumer", CONSUMER_WORKER);
      workers.push(e2e);
      e2e.send({ type: "init", bootstrap, topic, partitions: opts.partitions, mode: "e2e" });
    }
    const producers = Array.from({ length: opts.producers }, (_, i) => {
      const w = new Worker(`producer worker ${i + 1}`, PRODUCER_WORKER);
      workers.push(w);
      w.send({
        type: "init",
        workerId: i + 1,
        bootstrap,
        topic,
        acks: opts.acks,
        size: opts.size,
        lingerMs: opts.lingerMs,
        maxInFlight: maxInFlightFor(opts.size),
      });
      return w;
    });
    await Promise.all(workers.map((w) => w.next("ready", READY_TIMEOUT_MS)));

    const startAt = monoMs() + 300;
    const windowStart = startAt + opts.warmupMs;
    const windowEnd = windowStart + opts.durationMs;
    e2e?.send({ type: "window", from: windowStart, to: windowEnd });
    const perWorkerRate = totalRate / opts.producers;
    for (const p of producers) {
      p.send({
        type: "run",
        startAt,
        warmupMs: opts.warmupMs,
        durationMs: opts.durationMs,
        rate: perWorkerRate,
      });
    }
    const rateText = kind === "max" ? "maximum rate" : `${Math.round(totalRate)} msg/s`;
    log(
      `  ${kind === "max" ? "max" : "fixed-rate"} phase: ${opts.producers} producers at ${rateText}, ${opts.warmupMs / 1000} s warm-up + ${opts.durationMs / 1000} s`,
    );

    // Broker and machine CPU over exactly the window.
    let meter: CpuMeter | undefined;
    let brokerCpu: ReturnType<CpuMeter["stop"]> | undefined;
    const pids = brokerPids(cluster);
    const t1 = setTimeout(() => {
      meter = new CpuMeter(pids);
    }, windowStart - monoMs());
    const t2 = setTimeout(() => {
      brokerCpu = meter?.stop();
    }, windowEnd - monoMs());

    // Followers behind leaders, sampled over the window (3+ nodes, where topics are replicated).
    const lag =
      opts.nodes >= 3 && opts.lag
        ? sampleReplicationLag(cluster, topic, opts.partitions, windowStart, windowEnd).catch(
            (err: Error) => {
              log(`    replication lag not measured: ${err.message}`);
              return undefined;
            },
          )
        : undefined;
    const timeout = opts.warmupMs + opts.durationMs + 120_000;
    const results = await Promise.all(producers.map((p) => p.next("produced", timeout)));
    const replicationLag = await lag;
    clearTimeout(t1);
    clearTimeout(t2);
    brokerCpu ??= meter?.stop();

    const totalDelivered = results.reduce((s, r) => s + r.totalDelivered, 0);
    let e2eResult: ConsumerResult | undefined;
    if (e2e) {
      e2e.send({ type: "stop", expected: totalDelivered });
      e2eResult = await e2e.next("consumed", 60_000);
    }

    const latency = new Histogram();
    for (const r of results) latency.merge(r.latency);
    const windowMs = results.reduce((s, r) => s + r.windowMs, 0) / results.length;
    const messages = results.reduce((s, r) => s + r.delivered, 0);
    const produced = results.reduce((s, r) => s + r.produced, 0);
    const errors = results.reduce((s, r) => s + r.errors, 0);
    const perWorkerPercent = results.map((r) => cpuPercent(r.cpu, r.windowMs));
    const msgPerSec = (messages * 1000) / windowMs;
    const phase: PhaseResult = {
      kind,
      topic,
      ...(kind === "fixed" ? { requestedRate: Math.round(totalRate) } : {}),
      producers: opts.producers,
      windowMs: Math.round(windowMs),
      messages,
      msgPerSec: Math.round(msgPerSec),
      mbPerSec: Math.round(((msgPerSec * opts.size) / MB) * 100) / 100,
      producedPerSec: Math.round((produced * 1000) / windowMs),
      errors,
      firstError: results.find((r) => r.firstError)?.firstError,
      produceLatencyMs: summarizeMicros(latency),
      generatorCpu: {
        perWorkerPercent,
        totalPercent: round1(perWorkerPercent.reduce((a, b) => a + b, 0)),
      },
      brokerCpuPercent: brokerCpu?.processPercent,
      machineBusyPercent: brokerCpu?.machineBusyPercent,
      ...(replicationLag ? { replicationLag } : {}),
    };
    if (e2eResult) {
      phase.e2eLatencyMs = summarizeMicros(Histogram.from(e2eResult.latency));
      phase.e2eConsumerCpuPercent = cpuPercent(e2eResult.cpu, opts.durationMs);
    }
    if (phase.machineBusyPercent !== undefined && phase.brokerCpuPercent !== undefined) {
      // What the rest of the (shared) machine used meanwhile: the noise to judge the figures by.
      const ours =
        phase.brokerCpuPercent + phase.generatorCpu.totalPercent + (phase.e2eConsumerCpuPercent ?? 0);
      phase.otherCpuPercent = Math.max(0, round1(phase.machineBusyPercent * cpus().length - ours));
    }
    log(
      `    ${phase.msgPerSec} msg/s, ${phase.mbPerSec} MB/s, produce p50 ${phase.produceLatencyMs.p50} ms, p99 ${phase.produceLatencyMs.p99} ms` +
        (phase.e2eLatencyMs ? `, end-to-end p99 ${phase.e2eLatencyMs.p99} ms` : "") +
        `; generator CPU ${perWorkerPercent.map((p) => `${p}%`).join(" + ")}${phase.e2eConsumerCpuPercent !== undefined ? `, e2e consumer CPU ${phase.e2eConsumerCpuPercent}%` : ""}, broker CPU ${phase.brokerCpuPercent ?? "?"}%, machine busy ${phase.machineBusyPercent ?? "?"}% (others ${phase.otherCpuPercent ?? "?"}% of a core)` +
        (replicationLag
          ? `; replication lag p50 ${replicationLag.ms.p50} ms, p99 ${replicationLag.ms.p99} ms, max ${replicationLag.ms.max} ms (${replicationLag.samples} samples)`
          : "") +
        (errors ? `; ${errors} errors (${phase.firstError})` : ""),
    );
    return phase;
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

/** Reads a topic from the beginning with one consumer worker and times it. */
async function readback(
  cluster: Cluster,
  opts: BenchOptions,
  topic: string,
  log: Log,
): Promise<ReadbackResult> {
  const bootstrap = cluster.bootstrapServers();
  const expected = await topicMessages(bootstrap, topic);
  const w = new Worker("read-back consumer", CONSUMER_WORKER);
  try {
    const meter = new CpuMeter(brokerPids(cluster));
    w.send({ type: "init", bootstrap, topic, partitions: opts.partitions, mode: "readback", expected });
    await w.next("ready", READY_TIMEOUT_MS);
    // Bounded: a generous 20 s plus 2 µs per expected byte... in practice a few seconds.
    const r = await w.next("consumed", 120_000 + (expected * opts.size) / 500);
    const broker = meter.stop();
    const seconds = r.elapsedMs / 1000;
    const result: ReadbackResult = {
      topic,
      messages: r.messages,
      bytes: r.bytes,
      elapsedMs: Math.round(r.elapsedMs),
      totalMs: Math.round(r.totalMs),
      msgPerSec: seconds > 0 ? Math.round(r.messages / seconds) : 0,
      mbPerSec: seconds > 0 ? Math.round((r.bytes / MB / seconds) * 100) / 100 : 0,
      consumerCpuPercent: cpuPercent(r.cpu, r.totalMs),
      brokerCpuPercent: broker.processPercent,
      errors: r.errors,
      firstError: r.firstError,
    };
    if (r.messages < expected) {
      result.errors++;
      result.firstError ??= `read ${r.messages} of ${expected} messages`;
    }
    log(
      `  read-back: ${result.messages} messages in ${result.elapsedMs} ms: ${result.msgPerSec} msg/s, ${result.mbPerSec} MB/s (consumer CPU ${result.consumerCpuPercent}%, broker CPU ${result.brokerCpuPercent ?? "?"}%)`,
    );
    return result;
  } finally {
    await w.close();
  }
}

/** Bytes of every file under a directory (a node's data dir). */
export function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += dirBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/**
 * Restart recovery with the log the phases wrote (≥ 1 GiB per node after a 30 s max phase): SIGKILL
 * node 1 (a crash: the log must be recovered, not just reopened), start it again, and time until it
 * serves Metadata (the harness's ready check) and until it is back in the ISR of every partition.
 */
async function restartRecovery(cluster: Cluster, topics: string[], log: Log): Promise<RecoveryFigures> {
  const node = cluster.nodes()[0];
  const logBytes = dirBytes(node.dataDir);
  log(
    `  restart recovery: SIGKILL node ${node.nodeId} (${(logBytes / 2 ** 30).toFixed(2)} GiB of data), then start it`,
  );
  await cluster.kill(node.nodeId);
  const t0 = Date.now();
  await cluster.restart(node.nodeId);
  const readyMs = Date.now() - t0;
  const bootstrap = cluster.bootstrapServers();
  await until("node back in every ISR", 300_000, async () => {
    const states = await describePartitions(bootstrap, topics);
    const mine = states.filter((s) => s.replicas.includes(node.nodeId));
    return mine.length && mine.every((s) => s.isr.includes(node.nodeId)) ? true : undefined;
  });
  const inIsrMs = Date.now() - t0;
  log(`    serving after ${readyMs} ms, back in every ISR after ${inIsrMs} ms`);
  return { nodeId: node.nodeId, logBytes, readyMs, inIsrMs };
}

/**
 * Failover: a one-record-at-a-time acks=all producer on a fresh RF-3 topic; `rounds` times SIGKILL the
 * leader of its partition and take the time from the signal to the first acknowledgement after it
 * (only a new leader can give it), then restart the node and wait for a full ISR.
 */
async function failover(cluster: Cluster, topic: string, rounds: number, log: Log): Promise<FailoverFigures> {
  const bootstrap = cluster.bootstrapServers();
  await createTopic(bootstrap, topic, 1, 3);
  const kafka = new Kafka({
    clientId: "gauntlet-bench-failover",
    brokers: bootstrap.split(","),
    logLevel: logLevel.NOTHING,
    requestTimeout: 5000,
    retry: { retries: 1000, initialRetryTime: 20, maxRetryTime: 100, factor: 0.2 },
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 1000, initialRetryTime: 20, maxRetryTime: 100 },
  });
  await producer.connect();
  const loop = new AckLoop(producer, topic);
  const killMs: number[] = [];
  try {
    loop.start();
    await until("acknowledgements", 30_000, async () => (loop.acks.length > 20 ? true : undefined));
    for (let r = 1; r <= rounds; r++) {
      const { leader } = await until("a full ISR", 90_000, async () => {
        const [s] = await describePartitions(bootstrap, [topic]);
        return s && s.isr.length === 3 && s.leader > 0 ? s : undefined;
      });
      await sleep(500);
      const t0 = Date.now();
      await cluster.kill(leader);
      const ack = await until("an acknowledgement from a new leader", 60_000, async () =>
        loop.firstAckAfter(t0),
      );
      killMs.push(ack - t0);
      log(`  failover ${r}/${rounds}: SIGKILL of leader ${leader} → first ack after ${ack - t0} ms`);
      await cluster.restart(leader);
    }
  } finally {
    await loop.stop();
    await producer.disconnect().catch(() => {});
  }
  const sorted = [...killMs].sort((a, b) => a - b);
  return { rounds: killMs, medianMs: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0 };
}

export interface RunContext {
  /** Kafka's maximum rate measured earlier in this run (for --rate-fraction). */
  kafkaMaxRate?: number;
  log: Log;
}

/** Runs every phase against one target; never throws (a failure is recorded in `error`). */
export async function runTarget(
  target: BenchTarget,
  cluster: Cluster,
  opts: BenchOptions,
  ctx: RunContext,
): Promise<TargetResult> {
  const { log } = ctx;
  const result: TargetResult = { target, nodes: opts.nodes };
  const prefix = `bench-${randomBytes(3).toString("hex")}`;
  try {
    log(`${target}: starting ${opts.nodes} node(s)`);
    const t0 = Date.now();
    await cluster.start();
    result.startupMs = Date.now() - t0;
    log(`${target}: ready in ${(result.startupMs / 1000).toFixed(1)} s at ${cluster.bootstrapServers()}`);

    if (opts.rate === undefined) {
      result.max = await producePhase(cluster, opts, "max", `${prefix}-max`, 0, log);
      result.readback = await readback(cluster, opts, `${prefix}-max`, log);
    }
    let fixedRate: number | undefined = opts.rate;
    if (opts.rateFraction !== undefined) {
      const base = ctx.kafkaMaxRate ?? result.max?.msgPerSec;
      if (base) fixedRate = Math.max(1, Math.round(base * opts.rateFraction));
    }
    if (fixedRate !== undefined) {
      result.fixed = await producePhase(cluster, opts, "fixed", `${prefix}-fixed`, fixedRate, log);
      if (!result.readback) result.readback = await readback(cluster, opts, `${prefix}-fixed`, log);
    }
    if (opts.perfTool) {
      const rate = result.max?.msgPerSec ?? fixedRate ?? 10_000;
      const records =
        opts.perfRecords ??
        Math.min(5_000_000, Math.max(10_000, Math.round((rate * opts.durationMs) / 1000)));
      const topic = `${prefix}-perf`;
      await createTopic(cluster.bootstrapServers(), topic, opts.partitions, opts.nodes);
      log(`  ProducerPerformance: ${records} records of ${opts.size} bytes, acks=${opts.acks}`);
      const meter = new CpuMeter(brokerPids(cluster));
      const run = await runPerfTool({
        bootstrap: cluster.bootstrapServers(),
        topic,
        records,
        recordSize: opts.size,
        acks: opts.acks,
        lingerMs: opts.lingerMs,
      });
      const figures: PerfToolFigures = {
        topic,
        records,
        ...run,
        brokerCpuPercent: meter.stop().processPercent,
      };
      result.perfTool = figures;
      const s = run.summary;
      log(
        s
          ? `    ${Math.round(s.recordsPerSec)} records/s, ${s.mbPerSec} MB/s, p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, p99.9 ${s.p999Ms} ms`
          : `    ${run.error}`,
      );
    }
    if (opts.nodes >= 3 && opts.recovery) {
      const topics = [`${prefix}-max`, `${prefix}-fixed`, `${prefix}-perf`].filter(
        (_, i) => [result.max, result.fixed, result.perfTool][i] !== undefined,
      );
      result.recovery = await restartRecovery(cluster, topics, log);
    }
    if (opts.nodes >= 3 && opts.failoverRounds > 0)
      result.failover = await failover(cluster, `${prefix}-failover`, opts.failoverRounds, log);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`${target}: FAILED: ${result.error}`);
  } finally {
    try {
      await cluster.stop();
    } catch (err) {
      log(`${target}: stopping the cluster failed: ${(err as Error).message}`);
    }
    await sleep(0);
  }
  return result;
}
