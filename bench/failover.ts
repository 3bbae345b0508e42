// `npm run bench:failover -- [--rounds 10] [--targets reference,kafka] [--session-timeout-ms 1500]
// [--out reports/bench]`: partition failover of the reference broker beside Apache Kafka, measured in
// one run with the same harness and settings, never asserted.
//
// Per target: a 3-node cluster (RF 3, min.insync.replicas 2, the same broker.session.timeout.ms and
// heartbeat interval for both), one kafkajs idempotent producer (acks=all, one request in flight)
// writing to partition 0 without pause. Then `--rounds` times: SIGKILL the partition's leader and take
// the time from the signal to the first acknowledgement after it (which only the new leader can give);
// restart the node and wait for a full ISR. Then `--rounds` times: SIGTERM the leader (controlled
// shutdown) and take the longest gap between two acknowledgements from the signal until two seconds
// after the process exited. Prints medians and the reference/Kafka ratio; writes
// reports/bench/failover-<date>.json. The harness supervisor stops every process and deletes the data
// dirs on exit, Ctrl-C included.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import kafkajs from "kafkajs";
import { createCluster } from "../harness/cluster/index.ts";
import { describePartitions } from "../harness/cluster/leaders.ts";
import type { Cluster } from "../harness/cluster/types.ts";
import { REPO_ROOT } from "../harness/tools.ts";
import { AckLoop, until } from "./ack-loop.ts";
import { environment } from "./env.ts";
import { median } from "./stats.ts";

const { Kafka, logLevel } = kafkajs;
const TARGETS = ["reference", "kafka"] as const;
type Target = (typeof TARGETS)[number];
const TOPIC = "bench-failover";
/** Bars of issue #7, for the printout only. */
const BAR = { killMedianMs: 2000, termLongestStallMs: 500 };
const RUN_LIMIT_MS = 20 * 60_000;

class UsageError extends Error {}

interface Options {
  rounds: number;
  targets: Target[];
  sessionTimeoutMs: number;
  outDir: string;
}

const HELP = `Usage: npm run bench:failover -- [--rounds N] [--targets reference,kafka] [--session-timeout-ms MS] [--out DIR]

Failover of a 3-node cluster per target: N SIGKILLs of partition 0's leader (time to the first
acknowledged produce after the signal) and N SIGTERMs (longest gap between acknowledgements).
Both targets get the same broker.session.timeout.ms (default 1500) and heartbeat interval (a fifth of it).
`;

function parseArgs(argv: string[]): Options | "help" {
  const opts: Options = {
    rounds: 10,
    targets: [...TARGETS],
    sessionTimeoutMs: 1500,
    outDir: "reports/bench",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value.`);
      return v;
    };
    const int = (v: string, min: number, max: number): number => {
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
        throw new UsageError(`${a} must be an integer from ${min} to ${max}, not "${v}".`);
      }
      return Number(v);
    };
    if (a === "--help" || a === "-h") return "help";
    if (a === "--rounds") opts.rounds = int(value(), 1, 50);
    else if (a === "--session-timeout-ms") opts.sessionTimeoutMs = int(value(), 500, 60_000);
    else if (a === "--out") opts.outDir = value();
    else if (a === "--targets") {
      const list = value()
        .split(",")
        .map((s) => s.trim());
      for (const t of list) {
        if (!(TARGETS as readonly string[]).includes(t)) {
          throw new UsageError(`--targets takes ${TARGETS.join(", ")}, not "${t}".`);
        }
      }
      opts.targets = list as Target[];
    } else throw new UsageError(`unknown option "${a}" (see --help).`);
  }
  return opts;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface TargetResult {
  target: Target;
  killMs: number[];
  termLongestStallMs: number[];
  acknowledged: number;
  medians: { killMs: number | null; termLongestStallMs: number | null };
  error?: string;
}

async function runTarget(target: Target, opts: Options, log: (l: string) => void): Promise<TargetResult> {
  const result: TargetResult = {
    target,
    killMs: [],
    termLongestStallMs: [],
    acknowledged: 0,
    medians: { killMs: null, termLongestStallMs: null },
  };
  const heartbeat = Math.max(100, Math.floor(opts.sessionTimeoutMs / 5));
  const cluster: Cluster = createCluster({
    target,
    nodes: 3,
    minInsyncReplicas: 2,
    config: {
      "broker.session.timeout.ms": opts.sessionTimeoutMs,
      "broker.heartbeat.interval.ms": heartbeat,
      "default.replication.factor": 3,
    },
  });
  let loop: AckLoop | undefined;
  let producer: kafkajs.Producer | undefined;
  try {
    log(`${target}: starting 3 nodes`);
    await cluster.start();
    const bootstrap = cluster.bootstrapServers();
    const kafka = new Kafka({
      clientId: "bench-failover",
      brokers: bootstrap.split(","),
      logLevel: logLevel.NOTHING,
      requestTimeout: 5000,
      retry: { retries: 1000, initialRetryTime: 20, maxRetryTime: 100, factor: 0.2 },
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: TOPIC,
          numPartitions: 1,
          replicationFactor: 3,
          configEntries: [{ name: "min.insync.replicas", value: "2" }],
        },
      ],
    });
    await admin.disconnect();
    const state = async () => (await describePartitions(bootstrap, [TOPIC]))[0]!;
    const fullIsr = () =>
      until("a full ISR", 90_000, async () => {
        const s = await state();
        return s.isr.length === 3 && s.leader > 0 ? s : undefined;
      });
    await fullIsr();
    producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: 1000, initialRetryTime: 20, maxRetryTime: 100 },
    });
    await producer.connect();
    loop = new AckLoop(producer, TOPIC);
    loop.start();
    await until("acknowledgements", 30_000, async () => (loop!.acks.length > 50 ? true : undefined));

    for (let r = 1; r <= opts.rounds; r++) {
      const { leader } = await fullIsr();
      await sleep(500);
      const t0 = Date.now();
      await cluster.kill(leader);
      const ack = await until("an acknowledgement from a new leader", 60_000, async () =>
        loop!.firstAckAfter(t0),
      );
      result.killMs.push(ack - t0);
      log(`${target}: kill ${r}/${opts.rounds}: leader ${leader} → first ack after ${ack - t0} ms`);
      await cluster.restart(leader);
    }
    for (let r = 1; r <= opts.rounds; r++) {
      const { leader } = await fullIsr();
      await sleep(500);
      const t0 = Date.now();
      await cluster.terminate(leader, 30_000);
      const exited = Date.now();
      await sleep(2000);
      const gap = loop.longestGap(t0, exited + 2000);
      result.termLongestStallMs.push(gap);
      log(
        `${target}: SIGTERM ${r}/${opts.rounds}: leader ${leader} exited after ${exited - t0} ms, longest stall ${gap} ms`,
      );
      await cluster.restart(leader);
    }
  } catch (e) {
    result.error = (e as Error).message;
    log(`${target}: ${result.error}`);
  } finally {
    await loop?.stop();
    result.acknowledged = loop?.acks.length ?? 0;
    await producer?.disconnect().catch(() => {});
    await cluster.stop();
  }
  result.medians = { killMs: median(result.killMs), termLongestStallMs: median(result.termLongestStallMs) };
  return result;
}

async function main(argv: string[]): Promise<number> {
  let opts: Options | "help";
  try {
    opts = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench:failover: ${e.message}\n`);
    return 2;
  }
  if (opts === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  setTimeout(() => {
    process.stderr.write(`bench:failover: still running after ${RUN_LIMIT_MS / 60_000} min; giving up\n`);
    process.exit(1);
  }, RUN_LIMIT_MS).unref();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const results: TargetResult[] = [];
  for (const t of opts.targets) results.push(await runTarget(t, opts, log));
  const date = new Date().toISOString();
  const ref = results.find((r) => r.target === "reference");
  const kafka = results.find((r) => r.target === "kafka");
  const ratio = (a: number | null | undefined, b: number | null | undefined) =>
    a != null && b != null && b > 0 ? Math.round((a / b) * 100) / 100 : null;
  const out = {
    schema: 1,
    command: ["npm run bench:failover", ...argv].join(" "),
    date,
    config: { nodes: 3, rf: 3, minIsr: 2, rounds: opts.rounds, sessionTimeoutMs: opts.sessionTimeoutMs },
    environment: environment(),
    results,
    ratios: {
      killMedianReferenceOverKafka: ratio(ref?.medians.killMs, kafka?.medians.killMs),
      termStallMedianReferenceOverKafka: ratio(
        ref?.medians.termLongestStallMs,
        kafka?.medians.termLongestStallMs,
      ),
    },
    bar: BAR,
  };
  const dir = resolve(REPO_ROOT, opts.outDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `failover-${date.replace(/\.\d+Z$/, "Z").replace(/:/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  for (const r of results) {
    process.stdout.write(
      `${r.target}: SIGKILL → first ack median ${r.medians.killMs ?? "-"} ms (${r.killMs.join(", ")}); ` +
        `SIGTERM longest stall median ${r.medians.termLongestStallMs ?? "-"} ms, max ${r.termLongestStallMs.length ? Math.max(...r.termLongestStallMs) : "-"} ms (${r.termLongestStallMs.join(", ")}); ` +
        `${r.acknowledged} acks${r.error ? `; ERROR ${r.error}` : ""}\n`,
    );
  }
  process.stdout.write(
    `ratios reference/kafka: kill ${out.ratios.killMedianReferenceOverKafka ?? "-"}, SIGTERM stall ${out.ratios.termStallMedianReferenceOverKafka ?? "-"}; written ${relative(process.cwd(), file)}\n`,
  );
  return results.some((r) => r.error) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench:failover: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
