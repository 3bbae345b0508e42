// npm run sim -- --seeds 100000 [--start N] [--variant grant-vote-before-persist|commit-previous-term-by-count]
//
// Runs the deterministic Raft simulation over a range of seeds, prints the faults injected by kind and
// every violation with its seed and the tail of its event trace (re-run with tracing). Exit code 1 on a
// violation (or, with --variant, exit 0 when the broken variant IS caught — see --expect-violation).
import { Command, Option } from "commander";
import { parseSeed } from "../../../harness/seed.ts";
import { runSeed, VARIANTS, type Variant } from "./world.ts";

const program = new Command()
  .name("sim")
  .description("Deterministic simulation of the Raft core under network, disk and process faults")
  .option("--seeds <n>", "number of seeds to run", "1000")
  .option("--start <n>", "first seed", "0")
  .addOption(new Option("--variant <name>", "run a deliberately broken core").choices(VARIANTS))
  .option("--max-violations <n>", "stop after this many violations", "1")
  .option("--trace-lines <n>", "trace lines to print per violation", "40")
  .parse();

const o = program.opts<{
  seeds: string;
  start: string;
  variant?: Variant;
  maxViolations: string;
  traceLines: string;
}>();
const count = Number.parseInt(o.seeds, 10);
const start = parseSeed(o.start);
const maxViolations = Number.parseInt(o.maxViolations, 10);
const traceLines = Number.parseInt(o.traceLines, 10);
if (!Number.isSafeInteger(count) || count <= 0)
  throw new RangeError(`--seeds: expected a positive integer, got ${o.seeds}`);

const tty = process.stderr.isTTY && !process.env.CI;
const faults: Record<string, number> = {};
const stats: Record<string, number> = {};
const violations: { seed: number; invariant: string; message: string }[] = [];
const t0 = performance.now();
let lastProgress = 0;
let ran = 0;

for (let i = 0; i < count; i++) {
  const seed = start + i;
  const r = runSeed({ seed, variant: o.variant });
  ran++;
  for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
  for (const [k, v] of Object.entries(r.stats)) stats[k] = (stats[k] ?? 0) + v;
  if (r.violation) {
    violations.push({ seed, ...r.violation });
    const replay = runSeed({ seed, variant: o.variant, trace: true });
    if (tty) process.stderr.write("\r\x1b[K");
    console.log(`VIOLATION seed=${seed} invariant=${r.violation.invariant} at ${r.violation.time} ms`);
    console.log(`  ${r.violation.message.split("\n").slice(0, 8).join("\n  ")}`);
    console.log(
      `  last ${traceLines} events (replay: npm run sim -- --seeds 1 --start ${seed}${o.variant ? ` --variant ${o.variant}` : ""}):`,
    );
    for (const line of replay.trace.slice(-traceLines)) console.log(`    ${line}`);
    if (violations.length >= maxViolations) break;
  }
  const now = performance.now();
  if (tty && now - lastProgress > 250) {
    lastProgress = now;
    const rate = ran / ((now - t0) / 1000);
    process.stderr.write(
      `\r\x1b[K${ran}/${count} seeds, ${rate.toFixed(0)} seeds/s, ${violations.length} violations`,
    );
  }
}
if (tty) process.stderr.write("\r\x1b[K");

const secs = (performance.now() - t0) / 1000;
console.log(`seeds: ${ran} (${start}..${start + ran - 1})${o.variant ? `, variant ${o.variant}` : ""}`);
console.log(
  `time: ${secs.toFixed(1)} s, ${(ran / secs).toFixed(0)} seeds/s, ${(stats.simulatedMs / 1000).toFixed(0)} simulated s`,
);
console.log(
  `faults: ${Object.entries(faults)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`,
);
console.log(
  `activity: ${Object.entries(stats)
    .filter(([k]) => k !== "simulatedMs")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`,
);
console.log(
  `violations: ${violations.length}${violations.length > 0 ? ` (${violations.map((v) => `${v.seed}:${v.invariant}`).join(", ")})` : ""}`,
);
process.exitCode = violations.length > 0 ? 1 : 0;
