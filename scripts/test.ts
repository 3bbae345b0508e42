#!/usr/bin/env tsx
// `npm test`: lint, typecheck, codec drift check, every vitest project, the conformance suite on Apache
// Kafka and on the reference broker, and chaos scenarios on a 3-node reference cluster. Ends with the
// plain line `N passed, N failed` summed over all runners, which CI reads.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { $, chalk } from "zx";

$.verbose = false;
const quiet = process.env.CI === "true";
const steps: { name: string; ok: boolean; ms: number }[] = [];
const started = Date.now();
let passed = 0;
let failed = 0;
let skipped = 0;

async function step(name: string, run: () => Promise<unknown>): Promise<boolean> {
  const t0 = Date.now();
  if (!quiet) process.stdout.write(chalk.cyan(`▶ ${name}\n`));
  let ok = true;
  try {
    await run();
  } catch (err) {
    ok = false;
    const out = err as { stdout?: string; stderr?: string; message?: string };
    process.stdout.write(`${out.stdout ?? ""}${out.stderr ?? ""}`);
    if (!out.stdout && !out.stderr) process.stdout.write(`${out.message}\n`);
  }
  steps.push({ name, ok, ms: Date.now() - t0 });
  if (!ok) failed++; // a failed check counts as a failure; passing checks are not tests
  console.log(`${ok ? "ok  " : "FAIL"} ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return ok;
}

await step("lint (biome ci)", () => $`npx biome ci .`);
await step("typecheck (tsc)", () => $`npx tsc --noEmit -p tsconfig.json`);
if (existsSync("../shared/kafka-protocol/message")) {
  await step("codec drift check", () => $`npx tsx protocol/generator/generate.ts --check`);
} else {
  console.log("skip codec drift check: ../shared/kafka-protocol is not present");
}

const projects = (process.env.GAUNTLET_TEST_PROJECTS ?? "unit,integration").split(",");
const vitestArgs = projects.flatMap((p) => ["--project", p]);
const vitest = $({ stdio: ["ignore", "inherit", "inherit"], nothrow: true })`npx vitest run ${vitestArgs}`;
const result = await vitest;
const summaryPath = "reports/summary/vitest.json";
if (existsSync(summaryPath)) {
  const s = JSON.parse(readFileSync(summaryPath, "utf8"));
  passed += s.numPassedTests ?? 0;
  failed += s.numFailedTests ?? 0;
  skipped += (s.numPendingTests ?? 0) + (s.numTodoTests ?? 0);
  if (result.exitCode !== 0 && (s.numFailedTests ?? 0) === 0) failed++; // e.g. a suite that failed to load
} else {
  failed++;
  console.log("vitest wrote no summary: counting the run as failed");
}

// The conformance suite against real Apache Kafka (which defines "correct") and against the reference
// broker. GAUNTLET_TEST_CONFORMANCE lists `target[:nodes]` runs; "none" skips them.
const conformanceRuns = (
  process.env.GAUNTLET_TEST_CONFORMANCE ?? "kafka:3,reference,reference:3,reference:3:docker"
)
  .split(",")
  .filter((r) => r && r !== "none");
for (const run of conformanceRuns) {
  const [target, nodes, backend] = run.split(":");
  const args = [
    "--target",
    target,
    ...(nodes ? ["--nodes", nodes] : []),
    ...(backend ? ["--backend", backend] : []),
  ];
  // one summary and JUnit file per run (two reference runs must not overwrite each other)
  const label = run.replaceAll(":", "-");
  const summary = `reports/summary/conformance-${label}.json`;
  rmSync(summary, { force: true });
  const t0 = Date.now();
  const r = await $({
    stdio: ["ignore", "inherit", "inherit"],
    nothrow: true,
    env: {
      ...process.env,
      GAUNTLET_SUMMARY: summary,
      GAUNTLET_JUNIT: `reports/junit/conformance-${label}.xml`,
    },
  })`npx tsx conformance/cli.ts ${args}`;
  steps.push({ name: `conformance ${run}`, ok: r.exitCode === 0, ms: Date.now() - t0 });
  if (existsSync(summary)) {
    const c = JSON.parse(readFileSync(summary, "utf8"));
    passed += c.passed ?? 0;
    failed += c.failed ?? 0;
    skipped += c.skipped ?? 0;
    if (r.exitCode !== 0 && (c.failed ?? 0) === 0) failed++;
  } else {
    failed++;
    console.log(`conformance ${run} wrote no summary: counting the run as failed`);
  }
}

// Chaos scenarios against a 3-node reference cluster, each judged by the checker (one verdict = one
// test). GAUNTLET_TEST_CHAOS lists `scenario[:rounds]`; "none" skips them. Seeds are fixed so a red run
// replays exactly (each summary prints its replay command).
const chaosRuns = (
  process.env.GAUNTLET_TEST_CHAOS ??
  "leader-kill:3,sigterm-leadership-transfer:3,partition-leader-isolated:2,multi-dc:1,snapshot-bootstrap:1,leader-kill:2:docker,partition-leader-isolated:1:docker"
)
  .split(",")
  .filter((r) => r && r !== "none");
for (const run of chaosRuns) {
  const [scenario, rounds, backend] = run.split(":");
  const summary = `reports/summary/chaos-${scenario}-reference${backend === "docker" ? "-docker" : ""}.json`;
  rmSync(summary, { force: true });
  const t0 = Date.now();
  const r = await $({
    stdio: ["ignore", "inherit", "inherit"],
    nothrow: true,
  })`npx tsx chaos/cli.ts --scenario ${scenario} --target reference --nodes 3 --seed 7 ${rounds ? ["--rounds", rounds] : []} ${backend ? ["--backend", backend] : []}`;
  steps.push({ name: `chaos ${run}`, ok: r.exitCode === 0, ms: Date.now() - t0 });
  const verdict = existsSync(summary) ? JSON.parse(readFileSync(summary, "utf8")).verdict : undefined;
  if (r.exitCode === 0 && verdict === "passed") passed++;
  else {
    failed++;
    console.log(`chaos ${scenario} on reference: ${verdict ?? "no summary"} (exit ${r.exitCode})`);
  }
}

// Nothing a docker-backend run created may remain: containers, networks, volumes labelled by a run.
if ([...conformanceRuns, ...chaosRuns].some((r) => r.endsWith(":docker"))) {
  await step("docker: no container, network or volume left by the runs", async () => {
    const left: string[] = [];
    for (const kind of ["ps -a", "network ls", "volume ls"]) {
      const out = await $`docker ${kind.split(" ")} --filter label=gauntlet.run --format {{.ID}}`;
      const ids = out.stdout.split("\n").filter(Boolean);
      if (ids.length) left.push(`${kind.split(" ")[0]}: ${ids.join(", ")}`);
    }
    if (left.length) throw new Error(`docker resources left behind: ${left.join("; ")}`);
  });
}

// The Allure report of the last chaos run, opened in headless Chromium: its timeline chart must show.
if (chaosRuns.length > 0) {
  await step(
    "Allure report shows the chaos timeline (headless Chromium)",
    () => $`npx tsx scripts/report-screenshot.ts`,
  );
}

console.log(
  `npm test: ${((Date.now() - started) / 1000).toFixed(0)} s; checks: ${steps.map((s) => `${s.name} ${s.ok ? "ok" : "FAILED"}`).join(", ")}`,
);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
