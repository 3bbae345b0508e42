// Command-line parsing and validation for `npm run bench`. Pure: bad input throws UsageError with one
// sentence, which the CLI prints before exiting with code 2.
import { Command, CommanderError, Option } from "commander";

export type BenchTarget = "kafka" | "reference";
export type Acks = "1" | "all";

export interface BenchOptions {
  /** The targets to run, in order (Kafka first when both, so its maximum rate is known for --rate-fraction). */
  targets: BenchTarget[];
  /** What was asked for: "kafka", "reference" or "both". */
  target: "kafka" | "reference" | "both";
  nodes: number;
  acks: Acks;
  /** Record value size in bytes. */
  size: number;
  partitions: number;
  /** Measured window of each produce phase. */
  durationMs: number;
  /** Load before each measured window that is not measured (JIT, connections, leader metadata). */
  warmupMs: number;
  /** Fixed total produce rate in msg/s (only the fixed-rate phase runs). */
  rate: number | undefined;
  /** Fixed rate as a fraction of Kafka's measured maximum in this run (or the target's own maximum). */
  rateFraction: number | undefined;
  /** Producer worker processes. */
  producers: number;
  /** librdkafka linger.ms of the producers. */
  lingerMs: number;
  /** Run Kafka's ProducerPerformance tool against each target as a second opinion. */
  perfTool: boolean;
  /** Records for ProducerPerformance; undefined = as many as the max phase delivered (capped). */
  perfRecords: number | undefined;
  /** Run the end-to-end latency consumer during produce phases. */
  e2e: boolean;
  /** The reference broker's --flush policy (passed through GAUNTLET_BROKER_FLUSH); undefined = its default. */
  flush: string | undefined;
  /** SIGKILLs of a partition leader in the failover phase (nodes ≥ 3; 0 = no failover phase). */
  failoverRounds: number;
  /** Run the restart-recovery phase (nodes ≥ 3). */
  recovery: boolean;
  /** Sample replication lag during the produce phases (nodes ≥ 3). */
  lag: boolean;
  /** Directory for the reference brokers' V8 CPU profiles (--cpu-prof); undefined = no profiling. */
  cpuProfDir: string | undefined;
  /** Directory the JSON result goes to. */
  outDir: string;
}

export class UsageError extends Error {
  override name = "UsageError";
}

/** Thrown for --help: the caller prints the text and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super("help requested");
  }
}

/** Parses "30s", "500ms", "2m", "1.5s" or a bare number of seconds into milliseconds. */
export function parseDuration(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m) throw new UsageError(`${what} must be a duration like 30s, 500ms or 2m, not "${value}".`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  return Math.round(unit === "ms" ? n : unit === "m" ? n * 60_000 : n * 1000);
}

function parseIntIn(value: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`${what} must be a whole number, not "${value}".`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${what} must be between ${min} and ${max}, not ${n}.`);
  return n;
}

function buildProgram(): Command {
  return new Command("bench")
    .description(
      "Throughput and latency of a Kafka-compatible cluster (Apache Kafka and/or the reference broker), " +
        "measured with node-rdkafka producer workers and Kafka's ProducerPerformance tool.",
    )
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .addOption(new Option("--target <target>", "kafka | reference | both").default("kafka"))
    .addOption(new Option("--nodes <n>", "cluster nodes (1 or 3)").default("1"))
    .addOption(new Option("--acks <acks>", "producer acks: 1 | all").default("1"))
    .addOption(new Option("--size <bytes>", "record value size in bytes (e.g. 100 or 1024)").default("1024"))
    .addOption(
      new Option("--partitions <n>", "partitions of the benchmark topic (e.g. 1 or 12)").default("1"),
    )
    .addOption(new Option("--duration <time>", "measured window of each produce phase").default("30s"))
    .addOption(new Option("--warmup <time>", "unmeasured load before each window").default("5s"))
    .addOption(new Option("--rate <msgs>", "fixed total produce rate in msg/s instead of the maximum"))
    .addOption(
      new Option(
        "--rate-fraction <f>",
        "after the maximum phase, a fixed-rate phase at f x Kafka's measured maximum (0 < f <= 1)",
      ),
    )
    .addOption(new Option("--producers <n>", "producer worker processes").default("2"))
    .addOption(new Option("--linger-ms <ms>", "producer linger.ms").default("5"))
    .addOption(
      new Option(
        "--perf-records <n>",
        "records for ProducerPerformance (default: as many as the maximum phase delivered, at most 5000000)",
      ),
    )
    .addOption(new Option("--no-perf-tool", "skip Kafka's ProducerPerformance second opinion"))
    .addOption(new Option("--no-e2e", "no end-to-end latency consumer during the produce phases"))
    .addOption(
      new Option(
        "--flush <policy>",
        "reference broker flush policy: every-batch | interval:<ms> | group | none",
      ),
    )
    .addOption(
      new Option(
        "--failover-rounds <n>",
        "SIGKILLs of a partition leader in the failover phase (3+ nodes; 0 = none)",
      ).default("3"),
    )
    .addOption(new Option("--no-recovery", "skip the restart-recovery phase (3+ nodes)"))
    .addOption(new Option("--no-lag", "do not sample replication lag during produce phases (3+ nodes)"))
    .addOption(
      new Option(
        "--cpu-prof <dir>",
        "write a V8 CPU profile of every reference broker process into this directory (node --cpu-prof)",
      ),
    )
    .addOption(new Option("--out <dir>", "directory for the JSON result").default("reports/bench"));
}

export function helpText(): string {
  return buildProgram().helpInformation();
}

/** Parses the arguments after `npm run bench --`. Throws UsageError (one sentence) or HelpRequested. */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const program = buildProgram();
  try {
    program.parse([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.help")
        throw new HelpRequested(program.helpInformation());
      const text = err.message.replace(/^error:\s*/, "").trim();
      throw new UsageError(`${text.charAt(0).toUpperCase()}${text.slice(1).replace(/\.?$/, ".")}`);
    }
    throw err;
  }
  const o = program.opts<Record<string, string | boolean | undefined>>();
  const str = (k: string): string => String(o[k]);

  const target = str("target");
  if (target !== "kafka" && target !== "reference" && target !== "both")
    throw new UsageError(`--target must be kafka, reference or both, not "${target}".`);
  const nodes = parseIntIn(str("nodes"), "--nodes", 1, 9);
  const acks = str("acks");
  if (acks !== "1" && acks !== "all") throw new UsageError(`--acks must be 1 or all, not "${acks}".`);
  const size = parseIntIn(str("size"), "--size", 16, 1_048_576);
  const partitions = parseIntIn(str("partitions"), "--partitions", 1, 1000);
  const durationMs = parseDuration(str("duration"), "--duration");
  if (durationMs < 1000) throw new UsageError(`--duration must be at least 1s, not ${durationMs} ms.`);
  const warmupMs = parseDuration(str("warmup"), "--warmup");
  const rate = o.rate === undefined ? undefined : parseIntIn(str("rate"), "--rate", 1, 10_000_000);
  let rateFraction: number | undefined;
  if (o.rateFraction !== undefined) {
    const v = str("rateFraction");
    rateFraction = /^\d*\.?\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
    if (!(rateFraction > 0 && rateFraction <= 1))
      throw new UsageError(`--rate-fraction must be a number above 0 and at most 1, not "${v}".`);
  }
  if (rate !== undefined && rateFraction !== undefined)
    throw new UsageError("--rate and --rate-fraction cannot be combined: pick one.");
  const producers = parseIntIn(str("producers"), "--producers", 1, 16);
  const lingerMs = parseIntIn(str("lingerMs"), "--linger-ms", 0, 1000);
  const perfRecords =
    o.perfRecords === undefined
      ? undefined
      : parseIntIn(str("perfRecords"), "--perf-records", 1, 100_000_000);
  let flush: string | undefined;
  if (o.flush !== undefined) {
    flush = str("flush");
    if (!/^(every-batch|group|none|interval:[1-9]\d*)$/.test(flush))
      throw new UsageError(`--flush must be every-batch, interval:<ms>, group or none, not "${flush}".`);
    if (target === "kafka")
      throw new UsageError(
        "--flush applies to the reference broker only: drop it or use --target reference or both.",
      );
  }
  let cpuProfDir: string | undefined;
  if (o.cpuProf !== undefined) {
    cpuProfDir = str("cpuProf");
    if (!cpuProfDir.trim()) throw new UsageError("--cpu-prof must name a directory.");
    if (target === "kafka")
      throw new UsageError("--cpu-prof profiles the reference broker only: use --target reference or both.");
  }
  const outDir = str("out");
  if (!outDir.trim()) throw new UsageError("--out must name a directory.");

  return {
    targets: target === "both" ? ["kafka", "reference"] : [target],
    target,
    nodes,
    acks,
    size,
    partitions,
    durationMs,
    warmupMs,
    rate,
    rateFraction,
    producers,
    lingerMs,
    perfTool: o.perfTool !== false,
    perfRecords,
    e2e: o.e2e !== false,
    flush,
    cpuProfDir,
    failoverRounds: parseIntIn(str("failoverRounds"), "--failover-rounds", 0, 20),
    recovery: o.recovery !== false,
    lag: o.lag !== false,
    outDir,
  };
}

/** The config part of result file names: target-nodes-acks-size-partitions, e.g. "both-1-all-1024-12". */
export function configName(
  o: Pick<BenchOptions, "target" | "nodes" | "acks" | "size" | "partitions">,
): string {
  return `${o.target}-${o.nodes}-${o.acks}-${o.size}-${o.partitions}`;
}
