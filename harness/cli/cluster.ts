#!/usr/bin/env tsx
// `npm run cluster -- up --target kafka --nodes 3`: starts a cluster, prints its bootstrap servers
// and stays up until Ctrl-C. `npm run cluster -- down` (another terminal) stops it; `status` lists.
// `up` writes <cache>/clusters/<name>.json with its pids so `down` can stop it, even after a crash.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import {
  BACKEND_NAMES,
  type BackendName,
  createCluster,
  parseTargetSpec,
  TARGET_NAMES,
  type TargetSpec,
} from "../cluster/index.ts";
import { isProcessAlive, registerShutdownHook } from "../cluster/process-supervisor.ts";
import type { Cluster } from "../cluster/types.ts";
import { loadProfile } from "../docker/profile.ts";
import { KafkaCluster } from "../targets/kafka.ts";
import { CACHE_DIR } from "../tools.ts";

const STATE_DIR = join(CACHE_DIR, "clusters");

interface ClusterState {
  name: string;
  target: string;
  runnerPid: number;
  /** Process groups of the nodes (each node's reaper leads one). */
  processGroups: number[];
  pids: number[];
  rootDir?: string;
  bootstrapServers: string;
  startedAt: string;
}

const statePath = (name: string) => join(STATE_DIR, `${name}.json`);

function readState(name: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(name), "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer.");
  return n;
}

function fail(message: string): never {
  console.error(`cluster: ${message}`);
  process.exit(1);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitGone(pids: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!pids.some(isProcessAlive)) return true;
    await sleep(100);
  }
  return !pids.some(isProcessAlive);
}

async function up(opts: {
  target: string;
  nodes: number;
  name: string;
  bootstrapServers?: string;
  keepData?: boolean;
  racks?: string;
  backend: string;
  profile?: string;
}): Promise<void> {
  let spec: TargetSpec;
  try {
    spec = parseTargetSpec(opts.target);
  } catch (err) {
    fail((err as Error).message);
  }
  if (!(BACKEND_NAMES as readonly string[]).includes(opts.backend))
    fail(`unknown backend "${opts.backend}": valid backends are ${BACKEND_NAMES.join(", ")}.`);
  if (spec.target === "image" && !opts.profile)
    fail("an image target needs --profile <file> (see docker/profiles/).");
  if (spec.target !== "image" && opts.profile) fail("--profile is only for --target image:<name>.");
  if (spec.target === "external" && opts.backend !== "process")
    fail("--backend applies to local targets, not to external.");
  const existing = readState(opts.name);
  if (existing && isProcessAlive(existing.runnerPid)) {
    fail(
      `a cluster named "${opts.name}" is already up (pid ${existing.runnerPid}, ${existing.bootstrapServers}): run \`npm run cluster -- down\` first or pass --name.`,
    );
  }
  let cluster: Cluster;
  try {
    const racks = opts.racks?.split(",").map((r) => r.trim() || undefined);
    const local = { nodes: opts.nodes, keepData: opts.keepData, racks };
    if (spec.target === "external") {
      if (!opts.bootstrapServers) fail("the external target needs --bootstrap-servers host:port,...");
      cluster = createCluster({ target: "external", bootstrapServers: opts.bootstrapServers });
    } else if (spec.target === "image") {
      const profile = loadProfile(opts.profile!);
      cluster = createCluster({ target: "image", backend: "docker", image: spec.image!, profile, ...local });
    } else {
      const backend = opts.backend as BackendName;
      cluster =
        spec.target === "kafka"
          ? createCluster({ target: "kafka", backend, ...local })
          : createCluster({ target: "reference", backend, ...local });
    }
  } catch (err) {
    fail((err as Error).message);
  }
  mkdirSync(STATE_DIR, { recursive: true });
  const removeState = () => rmSync(statePath(opts.name), { force: true });
  // Ctrl-C: the supervisor runs the cluster's own stop hook; this one forgets the state file.
  registerShutdownHook(async () => {
    console.log("cluster: stopping…");
    removeState();
  });
  process.on("exit", removeState);

  const t0 = Date.now();
  console.log(`cluster: starting ${opts.target} with ${opts.nodes} node(s)…`);
  try {
    await cluster.start();
  } catch (err) {
    fail((err as Error).message);
  }
  const state: ClusterState = {
    name: opts.name,
    target: opts.target,
    runnerPid: process.pid,
    processGroups: cluster instanceof KafkaCluster ? cluster.processGroups() : [],
    pids: cluster.nodes().flatMap((n) => (n.pid ? [n.pid] : [])),
    rootDir: cluster instanceof KafkaCluster ? cluster.rootDir() : undefined,
    bootstrapServers: cluster.bootstrapServers(),
    startedAt: new Date().toISOString(),
  };
  writeFileSync(statePath(opts.name), `${JSON.stringify(state, null, 2)}\n`);
  console.log(`cluster: up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const n of cluster.nodes()) {
    console.log(
      `  node ${n.nodeId}: ${n.advertisedHost}:${n.advertisedPort}${n.controllerPort ? ` (controller ${n.controllerPort})` : ""}${n.pid ? ` pid ${n.pid}` : ""}${n.rack ? ` rack ${n.rack}` : ""}  log ${n.logFile || "-"}`,
    );
  }
  console.log(`bootstrap servers: ${cluster.bootstrapServers()}`);
  console.log("cluster: press Ctrl-C to stop (or run `npm run cluster -- down`)");
  // Stay up: the supervisor's SIGINT/SIGTERM handler stops the cluster and exits.
  setInterval(() => {}, 1 << 30);
}

async function down(opts: { name: string }): Promise<void> {
  const state = readState(opts.name);
  if (!state) {
    console.log(`cluster: no cluster named "${opts.name}" is up (no ${statePath(opts.name)}).`);
    return;
  }
  if (isProcessAlive(state.runnerPid)) {
    process.kill(state.runnerPid, "SIGTERM");
    if (!(await waitGone([state.runnerPid], 20_000))) process.kill(state.runnerPid, "SIGKILL");
  }
  // Whatever is still there (the runner was SIGKILLed and the reapers have not finished yet).
  for (const pgid of state.processGroups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  const gone = await waitGone([state.runnerPid, ...state.pids], 10_000);
  if (state.rootDir && existsSync(state.rootDir)) rmSync(state.rootDir, { recursive: true, force: true });
  rmSync(statePath(opts.name), { force: true });
  if (!gone) fail(`some processes of cluster "${opts.name}" are still running: ${state.pids.join(", ")}.`);
  console.log(`cluster: "${opts.name}" is down (${state.target}, was ${state.bootstrapServers}).`);
}

function status(): void {
  const files = existsSync(STATE_DIR) ? readdirSync(STATE_DIR).filter((f) => f.endsWith(".json")) : [];
  if (!files.length) {
    console.log("cluster: none up.");
    return;
  }
  for (const file of files) {
    const state = readState(file.replace(/\.json$/, ""));
    if (!state) continue;
    const alive = isProcessAlive(state.runnerPid);
    console.log(
      `${state.name}: ${state.target} ${alive ? "up" : "DEAD (run `npm run cluster -- down`)"} ${state.bootstrapServers} (pid ${state.runnerPid}, since ${state.startedAt})`,
    );
  }
}

const program = new Command("cluster").description("Start and stop local clusters for Gauntlet.");
program
  .command("up")
  .description("start a cluster, print its bootstrap servers, stay up until Ctrl-C")
  .option("-t, --target <target>", `one of ${TARGET_NAMES.join(", ")}, or image:<name>`, "kafka")
  .option("--backend <backend>", "process | docker: how the nodes run", "process")
  .option("--profile <file>", "the image target's profile (see docker/profiles/)")
  .option("-n, --nodes <count>", "number of nodes", positiveInt, 3)
  .option("--name <name>", "name of the cluster (for down)", "default")
  .option("--bootstrap-servers <list>", "host:port,... (external target)")
  .option("--racks <list>", "broker.rack per node, comma-separated")
  .option("--keep-data", "keep the data directories after stopping")
  .action(up);
program
  .command("down")
  .description("stop a cluster started by `up` in another terminal")
  .option("--name <name>", "name of the cluster", "default")
  .action(down);
program.command("status").description("list clusters started by `up`").action(status);

await program.parseAsync(process.argv);
