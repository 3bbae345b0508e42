// `npm run bench:election -- [--rounds 10] [--out reports/bench]`: Raft election timing of the reference
// broker's cluster mode, measured, never asserted. Starts a 3-node reference cluster through the harness
// and measures the time to the first elected Raft leader (the active controller); then, `--rounds` times,
// SIGKILLs the current leader, measures the time to a new leader, and restarts the killed node before the
// next round. Prints every figure and the medians and writes them to
// reports/bench/election-<date>.json. See bench/README.md.
//
// Times come from the brokers' own log lines (pino JSON, epoch milliseconds, same machine clock):
// "raft node started", "raft: became leader" (the Raft core's role change) and "this node is now the
// active controller" (the controller noticing it, on its 50 ms timer). The harness supervisor stops
// every process and deletes the data dirs on exit, Ctrl-C included.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { probeMetadata } from "../harness/cluster/kafka-probe.ts";
import { LOOPBACK } from "../harness/cluster/ports.ts";
import { ReferenceCluster } from "../harness/targets/reference.ts";
import { REPO_ROOT } from "../harness/tools.ts";
import { environment } from "./env.ts";

const NODES = 3;
/** The broker's Raft timing (RaftNode defaults; metadata-node does not override them). */
const RAFT = { tickMs: 50, electionTick: 10, heartbeatTick: 1 };
/** The bars of issue #6, for the printout only. */
const BAR = { firstLeaderMs: 1000, newLeaderMedianMs: 1500 };
const ELECTION_WAIT_MS = 15_000;
/** The whole run is bounded: past this the cluster is stopped and the run fails. */
const RUN_LIMIT_MS = 5 * 60_000;

class UsageError extends Error {}

interface Options {
  rounds: number;
  outDir: string;
}

function parseArgs(argv: string[]): Options | "help" {
  const opts: Options = { rounds: 10, outDir: "reports/bench" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value.`);
      return v;
    };
    if (a === "--help" || a === "-h") return "help";
    else if (a === "--rounds") {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 50) {
        throw new UsageError(`--rounds must be an integer from 1 to 50, not "${v}".`);
      }
      opts.rounds = Number(v);
    } else if (a === "--out") opts.outDir = value();
    else throw new UsageError(`unknown option "${a}" (see --help).`);
  }
  return opts;
}

const HELP = `Usage: npm run bench:election -- [--rounds N] [--out DIR]

Raft election timing of a 3-node reference cluster: time to the first leader, then N times (default 10)
SIGKILL of the leader and time to a new leader (the killed node is restarted between rounds).
Writes DIR/election-<date>.json (default DIR: reports/bench).
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Times (epoch ms) of a node's log lines whose msg is `msg`. */
function logTimes(logFile: string, msg: string): number[] {
  const out: number[] = [];
  let text = "";
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    if (!line.includes(msg)) continue;
    try {
      const o = JSON.parse(line) as { time: number; msg: string };
      if (o.msg === msg) out.push(o.time);
    } catch {}
  }
  return out;
}

const BECAME_LEADER = "raft: became leader";
const CONTROLLER = "this node is now the active controller";
const RAFT_STARTED = "raft node started";

interface Round {
  round: number;
  killed: number;
  newLeader: number;
  /** SIGKILL sent → "raft: became leader" on another node. */
  newLeaderMs: number;
  /** SIGKILL sent → that node's controller noticed ("now the active controller"). */
  newControllerMs: number | null;
  /** SIGKILL sent → every surviving node's Metadata names the new controller (polled every 20 ms). */
  visibleMs: number | null;
  /** Killed node restarted and ready (lists every broker in Metadata). */
  restartMs: number;
}

interface ElectionResult {
  schema: 1;
  command: string;
  date: string;
  config: { nodes: number; rounds: number; raft: typeof RAFT; harnessFlags: string };
  environment: ReturnType<typeof environment>;
  startup: {
    /** cluster.start() called (processes spawned) → first "raft: became leader". */
    firstLeaderFromSpawnMs: number;
    /** The first node's "raft node started" → first leader. */
    firstLeaderFromFirstRaftStartMs: number;
    /** The second node's (a majority's) "raft node started" → first leader. */
    firstLeaderFromMajorityRaftStartMs: number;
    firstLeader: number;
    /** cluster.start() → every node ready (registered, unfenced, listed by every node). */
    clusterReadyMs: number;
  };
  rounds: Round[];
  medians: { newLeaderMs: number | null; newControllerMs: number | null; visibleMs: number | null };
  bar: typeof BAR & { firstLeaderMet: boolean; newLeaderMedianMet: boolean };
  error?: string;
}

/** The controller every running node agrees on (Metadata's controller id = the Raft leader), or -1. */
async function agreedController(cluster: ReferenceCluster, among: number[]): Promise<number> {
  const seen = new Set<number>();
  for (const n of among) {
    const node = cluster.nodes().find((x) => x.nodeId === n)!;
    try {
      seen.add((await probeMetadata(LOOPBACK, node.port, 1000)).controllerId);
    } catch {
      return -1;
    }
  }
  const [only] = [...seen];
  return seen.size === 1 && only !== undefined && only > 0 ? only : -1;
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function fileStamp(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
}

const fmt = (ms: number | null) => (ms === null ? "-" : `${Math.round(ms)} ms`);

async function run(opts: Options, log: (line: string) => void): Promise<ElectionResult> {
  const date = new Date().toISOString();
  const result: ElectionResult = {
    schema: 1,
    command: ["npm run bench:election", ...process.argv.slice(2)].join(" "),
    date,
    config: {
      nodes: NODES,
      rounds: opts.rounds,
      raft: RAFT,
      harnessFlags: "--session-timeout-ms 3000 --heartbeat-interval-ms 300 (harness defaults)",
    },
    environment: environment(),
    startup: {
      firstLeaderFromSpawnMs: 0,
      firstLeaderFromFirstRaftStartMs: 0,
      firstLeaderFromMajorityRaftStartMs: 0,
      firstLeader: -1,
      clusterReadyMs: 0,
    },
    rounds: [],
    medians: { newLeaderMs: null, newControllerMs: null, visibleMs: null },
    bar: { ...BAR, firstLeaderMet: false, newLeaderMedianMet: false },
  };
  const cluster = new ReferenceCluster({ nodes: NODES });
  const logFile = (n: number) => cluster.nodes().find((x) => x.nodeId === n)!.logFile;
  const ids = Array.from({ length: NODES }, (_, i) => i + 1);
  try {
    log(`starting a ${NODES}-node reference cluster`);
    const spawnAt = Date.now();
    await cluster.start();
    result.startup.clusterReadyMs = Date.now() - spawnAt;
    const starts = ids.map((n) => logTimes(logFile(n), RAFT_STARTED)[0]!).sort((a, b) => a - b);
    const firstLeaderAt = Math.min(...ids.flatMap((n) => logTimes(logFile(n), BECAME_LEADER)));
    const firstLeader = ids.find((n) => logTimes(logFile(n), BECAME_LEADER).includes(firstLeaderAt))!;
    result.startup = {
      ...result.startup,
      firstLeader,
      firstLeaderFromSpawnMs: firstLeaderAt - spawnAt,
      firstLeaderFromFirstRaftStartMs: firstLeaderAt - starts[0]!,
      firstLeaderFromMajorityRaftStartMs: firstLeaderAt - starts[Math.floor(NODES / 2)]!,
    };
    log(
      `first leader: node ${firstLeader}, ${result.startup.firstLeaderFromMajorityRaftStartMs} ms after a majority's Raft start ` +
        `(${result.startup.firstLeaderFromFirstRaftStartMs} ms after the first node's, ${result.startup.firstLeaderFromSpawnMs} ms after spawning; cluster ready after ${result.startup.clusterReadyMs} ms)`,
    );

    for (let round = 1; round <= opts.rounds; round++) {
      const leader = await until("an agreed controller", ELECTION_WAIT_MS, async () => {
        const c = await agreedController(cluster, ids);
        return c > 0 ? c : undefined;
      });
      const others = ids.filter((n) => n !== leader);
      const before = new Map(others.map((n) => [n, logTimes(logFile(n), BECAME_LEADER).length]));
      const beforeCtl = new Map(others.map((n) => [n, logTimes(logFile(n), CONTROLLER).length]));
      const killedAt = Date.now();
      await cluster.kill(leader);
      let visibleMs: number | null = null;
      const elected = await until("a new Raft leader", ELECTION_WAIT_MS, async () => {
        if (visibleMs === null) {
          const c = await agreedController(cluster, others);
          if (c > 0 && c !== leader) visibleMs = Date.now() - killedAt;
        }
        for (const n of others) {
          const times = logTimes(logFile(n), BECAME_LEADER);
          if (times.length > before.get(n)!) return { node: n, at: times[before.get(n)!]! };
        }
        return undefined;
      });
      // the controller notices within its 50 ms timer; clients see it through Metadata
      await until("the new controller visible", ELECTION_WAIT_MS, async () => {
        if (visibleMs === null) {
          const c = await agreedController(cluster, others);
          if (c > 0 && c !== leader) visibleMs = Date.now() - killedAt;
        }
        return visibleMs ?? undefined;
      });
      // its controller takes over on its next 50 ms timer tick (unless it lost the leadership again)
      const ctlAt = await until("the active controller's log line", 2000, () => {
        const times = logTimes(logFile(elected.node), CONTROLLER);
        return times.length > beforeCtl.get(elected.node)! ? times[times.length - 1]! : undefined;
      }).catch(() => null);
      const restartAt = Date.now();
      await cluster.restart(leader);
      const r: Round = {
        round,
        killed: leader,
        newLeader: elected.node,
        newLeaderMs: elected.at - killedAt,
        newControllerMs: ctlAt === null ? null : ctlAt - killedAt,
        visibleMs,
        restartMs: Date.now() - restartAt,
      };
      result.rounds.push(r);
      log(
        `round ${round}: SIGKILL node ${r.killed} → node ${r.newLeader} Raft leader after ${fmt(r.newLeaderMs)}, ` +
          `active controller after ${fmt(r.newControllerMs)}, in every survivor's Metadata after ${fmt(r.visibleMs)} ` +
          `(node ${r.killed} back after ${fmt(r.restartMs)})`,
      );
      // Let the restarted node catch up with the log, so it can vote in the next round's election.
      await sleep(500);
    }
  } catch (e) {
    result.error = (e as Error).message;
    log(`failed: ${result.error}`);
  } finally {
    await cluster.stop();
  }
  const pick = (f: (r: Round) => number | null) =>
    result.rounds.map(f).filter((x): x is number => x !== null);
  result.medians = {
    newLeaderMs: median(pick((r) => r.newLeaderMs)),
    newControllerMs: median(pick((r) => r.newControllerMs)),
    visibleMs: median(pick((r) => r.visibleMs)),
  };
  result.bar.firstLeaderMet = result.startup.firstLeaderFromMajorityRaftStartMs <= BAR.firstLeaderMs;
  result.bar.newLeaderMedianMet =
    result.medians.newLeaderMs !== null && result.medians.newLeaderMs <= BAR.newLeaderMedianMs;
  return result;
}

function summary(r: ElectionResult, file: string): string {
  const lines = [
    `Raft elections, ${r.config.nodes}-node reference cluster (tick ${RAFT.tickMs} ms, election timeout ${RAFT.electionTick}-${2 * RAFT.electionTick - 1} ticks)`,
    `  first leader:        ${fmt(r.startup.firstLeaderFromMajorityRaftStartMs)} after a majority's Raft start, ${fmt(r.startup.firstLeaderFromFirstRaftStartMs)} after the first node's, ${fmt(r.startup.firstLeaderFromSpawnMs)} after spawning the processes  (bar ≤ ${BAR.firstLeaderMs} ms: ${r.bar.firstLeaderMet ? "met" : "NOT met"})`,
    `  new leader after SIGKILL of the leader, ${r.rounds.length} rounds:`,
    `    Raft leader:       ${r.rounds.map((x) => Math.round(x.newLeaderMs)).join(", ")} ms — median ${fmt(r.medians.newLeaderMs)}  (bar ≤ ${BAR.newLeaderMedianMs} ms: ${r.bar.newLeaderMedianMet ? "met" : "NOT met"})`,
    `    active controller: median ${fmt(r.medians.newControllerMs)}; in every survivor's Metadata: median ${fmt(r.medians.visibleMs)}`,
    ...(r.error ? [`  ERROR: ${r.error}`] : []),
    `Result: ${file}`,
  ];
  return `${lines.join("\n")}\n`;
}

async function main(argv: string[]): Promise<number> {
  let opts: Options | "help";
  try {
    opts = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench:election: ${e.message}\n`);
    return 2;
  }
  if (opts === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  const watchdog = setTimeout(() => {
    // Bounded runtime: the 'exit' handler of the harness supervisor kills what is left.
    process.stderr.write(`bench:election: still running after ${RUN_LIMIT_MS / 1000} s; giving up\n`);
    process.exit(1);
  }, RUN_LIMIT_MS);
  watchdog.unref();
  const result = await run(opts, (line) => process.stderr.write(`${line}\n`));
  clearTimeout(watchdog);
  const outDir = resolve(REPO_ROOT, opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `election-${fileStamp(result.date)}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(summary(result, relative(process.cwd(), file)));
  return result.error ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench:election: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
