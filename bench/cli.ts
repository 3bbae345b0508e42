// `npm run bench -- [--target reference|kafka|both] [--nodes 1|3] [--acks 1|all] [--size 100|1024]
//   [--partitions 1|12] [--duration 30s] [--rate N | --rate-fraction F] ...` — see bench/README.md.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import type { Cluster } from "../harness/cluster/index.ts";
import { REPO_ROOT } from "../harness/tools.ts";
import { writeBenchAllureResult } from "./allure.ts";
import { type BenchOptions, configName, HelpRequested, parseArgs, UsageError } from "./args.ts";
import { environment } from "./env.ts";
import { type BenchResult, computeRatios, formatSummary, type TargetResult } from "./report.ts";
import { benchCluster, runTarget } from "./run.ts";

/** "2025-06-01T12:34:56.789Z" → "2025-06-01T12-34-56Z": sortable and safe in file names. */
export function fileStamp(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.text);
      return 0;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (opts.flush) process.env.GAUNTLET_BROKER_FLUSH = opts.flush;

  // Create every cluster first, so that an impossible configuration fails before anything runs.
  const clusters: Cluster[] = [];
  try {
    for (const target of opts.targets) clusters.push(benchCluster(target, opts));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }

  const date = new Date().toISOString();
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const targets: TargetResult[] = [];
  let kafkaMaxRate: number | undefined;
  for (const [i, target] of opts.targets.entries()) {
    const result = await runTarget(target, clusters[i], opts, { kafkaMaxRate, log });
    if (target === "kafka") kafkaMaxRate = result.max?.msgPerSec;
    targets.push(result);
  }

  const { targets: _t, outDir: _o, ...config } = opts;
  const result: BenchResult = {
    schema: 1,
    command: ["npm run bench", ...(argv.length ? ["--", ...argv] : [])].join(" "),
    date,
    configName: configName(opts),
    config,
    environment: environment(),
    targets,
    ratios: computeRatios(targets),
  };
  const outDir = resolve(REPO_ROOT, opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${fileStamp(date)}-${result.configName}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  // and into the Allure report (`npm run report`): a chart of both targets per metric
  writeBenchAllureResult(join(REPO_ROOT, "reports", "allure-results"), result);
  process.stdout.write(`${formatSummary(result)}\nResult: ${relative(process.cwd(), file)}\n`);
  return targets.some((t) => t.error) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
