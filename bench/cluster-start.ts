// `npm run bench:cluster-start -- [--rounds 3] [--nodes 3] [--target reference|kafka]`: how long until a
// cluster serves, process backend versus docker backend, measured through the harness (createCluster +
// start(): every node answers Metadata listing every broker, reference nodes caught up). The first
// docker round may include building the image (printed apart). Measured, never asserted; the JSON goes
// to reports/bench/cluster-start-<date>.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { type BackendName, createCluster } from "../harness/cluster/index.ts";
import type { DockerCluster } from "../harness/docker/cluster.ts";
import { REPO_ROOT } from "../harness/tools.ts";
import { median } from "./stats.ts";

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive whole number.");
  return n;
}

const opts = new Command()
  .name("bench:cluster-start")
  .description("Time until a cluster serves: process backend versus docker backend")
  .option("--rounds <n>", "starts per backend", positive, 3)
  .option("--nodes <n>", "cluster size", positive, 3)
  .option("--target <target>", "reference | kafka", "reference")
  .parse()
  .opts<{ rounds: number; nodes: number; target: string }>();
if (opts.target !== "reference" && opts.target !== "kafka") {
  console.error(`bench:cluster-start: unknown target "${opts.target}": use reference or kafka.`);
  process.exit(2);
}
const target = opts.target;

const results: Record<BackendName, number[]> = { process: [], docker: [] };
let imageMs = 0;
for (const backend of ["process", "docker"] as const) {
  for (let i = 0; i < opts.rounds; i++) {
    const cluster = createCluster({ target, nodes: opts.nodes, backend });
    const t0 = performance.now();
    try {
      await cluster.start();
      const ms = Math.round(performance.now() - t0);
      const image = backend === "docker" ? (cluster as DockerCluster).lastImageMs : 0;
      imageMs = Math.max(imageMs, image);
      results[backend].push(ms - image);
      console.log(`${backend} round ${i + 1}: serving after ${ms} ms${image ? ` (image ${image} ms)` : ""}`);
    } finally {
      await cluster.stop();
    }
  }
}
const summary = {
  target,
  nodes: opts.nodes,
  process: { runsMs: results.process, medianMs: median(results.process) },
  docker: { runsMs: results.docker, medianMs: median(results.docker), imageCheckOrBuildMaxMs: imageMs },
};
console.log(
  `${target} ${opts.nodes} nodes until serving: process median ${summary.process.medianMs} ms, docker median ${summary.docker.medianMs} ms (image check/build excluded, max ${imageMs} ms)`,
);
const dir = join(REPO_ROOT, "reports", "bench");
mkdirSync(dir, { recursive: true });
const file = join(dir, `cluster-start-${new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19)}Z.json`);
writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`written ${file}`);
