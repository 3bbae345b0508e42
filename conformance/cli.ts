#!/usr/bin/env tsx
// `npm run conformance [-- --target reference|kafka|external --bootstrap host:port,... --client kafkajs|rdkafka|all --nodes N]`
// Starts the target cluster once, runs the vitest project "conformance" against it (GAUNTLET_* env),
// stops the cluster, and exits non-zero on any failure. Ctrl-C stops vitest and the cluster (the
// harness supervisor's shutdown hooks), so nothing is left running.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { BACKEND_NAMES, type BackendName, parseTargetSpec } from "../harness/cluster/index.ts";
import { registerShutdownHook } from "../harness/cluster/process-supervisor.ts";
import { type ImageProfile, loadProfile } from "../harness/docker/profile.ts";
import { newSeed, parseSeed } from "../harness/seed.ts";
import { REPO_ROOT } from "../harness/tools.ts";
import { parseClients } from "./clients/index.ts";
import { type ConformanceTarget, DEFAULT_TARGET, defaultNodes, ENV } from "./config.ts";
import { junitPath } from "./junit-reporter.ts";
import { type ConformanceSummary, summaryPath } from "./summary-reporter.ts";
import { type StartedTarget, startTarget } from "./target.ts";

const TARGETS: ConformanceTarget[] = ["reference", "kafka", "external"];

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer.");
  return n;
}

const program = new Command()
  .name("conformance")
  .description("Run the Gauntlet conformance suite against a target cluster.")
  .option(
    "--target <target>",
    `reference | kafka | external | image:<name> (default ${DEFAULT_TARGET})`,
    DEFAULT_TARGET,
  )
  .option("--profile <file>", "how to run the image of an image:<name> target (see docker/profiles/)")
  .option("--bootstrap <servers>", "bootstrap servers host:port,... (external target)")
  .option("--client <clients>", "kafkajs | rdkafka | all (or a comma list)", "all")
  .option("--nodes <n>", "nodes of a local target (default: kafka 3, reference 1)", positiveInt)
  .option(
    "--backend <backend>",
    "process | docker: how a local target's nodes run (default process)",
    "process",
  )
  .option("--seed <seed>", "seed for topic names and generated data (printed; replays a run)")
  .option("--broker-version <text>", "broker version recorded in the summary (external targets)")
  .option("-t, --filter <pattern>", "only tests whose name matches (vitest -t)")
  .option("--file <filter...>", "only test files matching these filters")
  .parse();

const opts = program.opts<{
  target: string;
  profile?: string;
  bootstrap?: string;
  client: string;
  nodes?: number;
  backend: string;
  seed?: string;
  brokerVersion?: string;
  filter?: string;
  file?: string[];
}>();

function fail(message: string): never {
  console.error(`conformance: ${message}`);
  process.exit(2);
}

let image: { name: string; profile: ImageProfile } | undefined;
if (opts.target.startsWith("image")) {
  try {
    const spec = parseTargetSpec(opts.target);
    if (!opts.profile) fail("an image target needs --profile <file> (see docker/profiles/).");
    image = { name: spec.image!, profile: loadProfile(opts.profile) };
  } catch (err) {
    fail((err as Error).message);
  }
  if (opts.backend !== "process" && opts.backend !== "docker") fail(`unknown backend "${opts.backend}".`);
  opts.backend = "docker";
} else if (!(TARGETS as string[]).includes(opts.target)) {
  fail(`unknown target "${opts.target}": valid targets are ${TARGETS.join(", ")} and image:<name>.`);
} else if (opts.profile) {
  fail("--profile is only for --target image:<name>.");
}
const target = (image ? "image" : opts.target) as ConformanceTarget;
if (!(BACKEND_NAMES as readonly string[]).includes(opts.backend)) {
  fail(`unknown backend "${opts.backend}": valid backends are ${BACKEND_NAMES.join(", ")}.`);
}
if (target === "external" && opts.backend !== "process")
  fail("--backend applies to local targets, not to external.");
if (target === "external" && !opts.bootstrap) fail("the external target needs --bootstrap host:port,...");
let clients: string[];
try {
  clients = parseClients(opts.client);
} catch (err) {
  fail((err as Error).message);
}
let seed: number;
try {
  seed = opts.seed ? parseSeed(opts.seed) : newSeed();
} catch (err) {
  fail((err as Error).message);
}

const t0 = Date.now();
let vitest: ChildProcess | undefined;
registerShutdownHook(async () => {
  if (vitest?.pid && vitest.exitCode === null) vitest.kill("SIGTERM");
});

console.log(
  `conformance: target ${target}${target === "external" ? ` at ${opts.bootstrap}` : ` with ${opts.nodes ?? defaultNodes(target)} node(s)`}, clients ${clients.join(",")}, seed ${seed}`,
);
let started: StartedTarget;
try {
  started = await startTarget({
    target,
    nodes: opts.nodes,
    backend: opts.backend as BackendName,
    bootstrap: opts.bootstrap,
    brokerVersion: opts.brokerVersion,
    image,
  });
} catch (err) {
  fail(`could not start the ${target} target: ${(err as Error).message}`);
}
console.log(
  `conformance: ${started.brokerVersion} up at ${started.bootstrap} (${(started.startMs / 1000).toFixed(1)} s)`,
);

const junit = junitPath(target);
const args = [
  "run",
  "--project",
  "conformance",
  "--reporter=default",
  "--reporter=./conformance/allure-reporter.ts",
  "--reporter=./conformance/junit-reporter.ts",
  "--reporter=./conformance/summary-reporter.ts",
  ...(opts.filter ? ["-t", opts.filter] : []),
  ...(opts.file ?? []),
];
const t1 = Date.now();
const code = await new Promise<number>((resolve) => {
  vitest = spawn(join(REPO_ROOT, "node_modules", ".bin", "vitest"), args, {
    cwd: REPO_ROOT,
    stdio: "inherit",
    env: {
      ...process.env,
      [ENV.target]: target,
      [ENV.bootstrap]: started.bootstrap,
      [ENV.nodes]: String(started.nodes),
      [ENV.clients]: clients.join(","),
      [ENV.control]: started.controlUrl ?? "",
      [ENV.seed]: String(seed),
      [ENV.brokerVersion]: started.brokerVersion,
    },
  });
  vitest.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0)));
});
const testMs = Date.now() - t1;
await started.stop();

const path = summaryPath(target);
let failed = code !== 0 ? 1 : 0;
if (existsSync(path)) {
  const s = JSON.parse(readFileSync(path, "utf8")) as ConformanceSummary;
  if (s.failed > 0) {
    console.log("\nconformance: failed tests:");
    for (const t of s.tests.filter((x) => x.status === "failed")) {
      console.log(`  ✗ [${t.client}] ${t.id}: ${t.message ?? ""}`);
    }
  }
  console.log(
    `\nconformance ${target} (${s.brokerVersion}): ${s.passed} passed, ${s.failed} failed, ${s.skipped} not supported/skipped; tests ${(testMs / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s; seed ${seed}`,
  );
  console.log(`conformance: summary ${path}, JUnit ${junit}, Allure reports/allure-results`);
  failed = s.failed > 0 || code !== 0 ? 1 : 0;
} else {
  console.log("conformance: vitest wrote no summary: counting the run as failed");
  failed = 1;
}
process.exit(failed);
