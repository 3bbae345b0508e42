// `npm run chaos -- --scenario leader-kill [--target reference|kafka|external] [--seed N] [--duration 60s]
//  [--nodes N] [--rounds N] [--bootstrap-servers host:port,...]` runs one scenario and writes its summary;
// `npm run chaos -- --list` lists the scenarios. Bad input is one sentence and exit code 2; a failed
// verdict exits 1, passed and not applicable exit 0.
import { join } from "node:path";
import {
  BACKEND_NAMES,
  type BackendName,
  parseTargetSpec,
  type TargetSpec,
} from "../harness/cluster/index.ts";
import { TARGET_NAMES, type TargetName } from "../harness/cluster/types.ts";
import { loadProfile } from "../harness/docker/profile.ts";
import { parseSeed } from "../harness/seed.ts";
import { REPO_ROOT } from "../harness/tools.ts";
import { type RunOptions, runScenario } from "./runner.ts";
import { parseDuration } from "./scenario.ts";
import { findScenario, SCENARIOS } from "./scenarios/index.ts";

class UsageError extends Error {}

const USAGE = `usage: npm run chaos -- --scenario <name> [--target ${TARGET_NAMES.join("|")}|image:<name> [--profile <file>]] [--seed N] [--duration 60s] [--nodes N] [--rounds N] [--bootstrap-servers host:port,... [--toxiproxy-url http://host:port]] [--backend process|docker] [--verbose]
       npm run chaos -- --list

Progress (phases, faults, a status line) is shown on a terminal outside CI, or always with --verbose;
the seed and the verdict are always printed.`;

const VALUE_FLAGS = [
  "--scenario",
  "--target",
  "--seed",
  "--duration",
  "--nodes",
  "--rounds",
  "--bootstrap-servers",
  "--backend",
  "--toxiproxy-url",
  "--profile",
];

function positiveInt(flag: string, text: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new UsageError(`${flag} must be a whole number from 1 to ${max}, not "${text}".`);
  }
  return Number(text);
}

export type Parsed = { list: true } | { list: false; help: boolean; options: Omit<RunOptions, "write"> };

export function parseArgs(argv: string[]): Parsed {
  const values = new Map<string, string>();
  let list = false;
  let help = false;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--list") list = true;
    else if (arg === "--help" || arg === "-h") help = true;
    else if (arg === "--verbose") verbose = true;
    else {
      const eq = arg.indexOf("=");
      const flag = eq > 0 ? arg.slice(0, eq) : arg;
      if (!VALUE_FLAGS.includes(flag)) {
        throw new UsageError(`Unknown argument "${arg}": run \`npm run chaos -- --help\` for the options.`);
      }
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === "") throw new UsageError(`${flag} needs a value.`);
      values.set(flag, value);
    }
  }
  if (list) return { list: true };
  const name = values.get("--scenario");
  if (!name) {
    if (help) return { list: false, help, options: undefined as never };
    throw new UsageError("Which scenario? Pass --scenario <name> (see `npm run chaos -- --list`).");
  }
  const scenario = findScenario(name);
  if (!scenario) {
    throw new UsageError(
      `Unknown scenario "${name}": known scenarios are ${SCENARIOS.map((s) => s.name).join(", ")}.`,
    );
  }
  const targetText = values.get("--target") ?? "kafka";
  let spec: TargetSpec;
  try {
    spec = parseTargetSpec(targetText);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const target: TargetName = spec.target;
  const options: Omit<RunOptions, "write"> = { scenario, target, ...(verbose ? { progress: true } : {}) };
  const profile = values.get("--profile");
  if (target === "image") {
    if (!profile) throw new UsageError("An image target needs --profile <file> (see docker/profiles/).");
    try {
      options.profile = loadProfile(profile);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    options.image = spec.image;
    options.profilePath = profile;
  } else if (profile !== undefined) {
    throw new UsageError("--profile is only for --target image:<name>.");
  }
  const seed = values.get("--seed");
  if (seed !== undefined) {
    try {
      options.seed = parseSeed(seed);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const duration = values.get("--duration");
  if (duration !== undefined) {
    try {
      options.durationMs = parseDuration(duration);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const nodes = values.get("--nodes");
  if (nodes !== undefined) options.nodes = positiveInt("--nodes", nodes, 9);
  const rounds = values.get("--rounds");
  if (rounds !== undefined) options.rounds = positiveInt("--rounds", rounds, 1000);
  const backend = values.get("--backend");
  if (backend !== undefined) {
    if (!(BACKEND_NAMES as readonly string[]).includes(backend))
      throw new UsageError(`Unknown backend "${backend}": valid backends are ${BACKEND_NAMES.join(", ")}.`);
    if (target === "external") throw new UsageError("--backend applies to local targets, not to external.");
    options.backend = backend as BackendName;
  }
  const bootstrap = values.get("--bootstrap-servers");
  if (bootstrap !== undefined) {
    if (target !== "external") throw new UsageError("--bootstrap-servers is only for --target external.");
    options.bootstrapServers = bootstrap;
  } else if (target === "external") {
    throw new UsageError("The external target needs --bootstrap-servers host:port,...");
  }
  const toxiproxyUrl = values.get("--toxiproxy-url");
  if (toxiproxyUrl !== undefined) {
    if (target !== "external")
      throw new UsageError(
        "--toxiproxy-url is only for --target external (local targets start their own Toxiproxy).",
      );
    if (!/^(https?:\/\/)?[^\s/:]+:\d+\/?$/.test(toxiproxyUrl))
      throw new UsageError(`--toxiproxy-url must be host:port or http://host:port, not "${toxiproxyUrl}".`);
    options.toxiproxyUrl = toxiproxyUrl;
  }
  return { list: false, help, options };
}

async function main(): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`chaos: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.list) {
    const width = Math.max(...SCENARIOS.map((s) => s.name.length));
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(width)}  ${s.description}\n`);
    return 0;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // The CLI writes its Allure result directly (vitest runs get theirs from allure-vitest).
  const summary = await runScenario({
    ...parsed.options,
    allureResultsDir: join(REPO_ROOT, "reports", "allure-results"),
  });
  return summary.verdict === "failed" ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`chaos: ${err.message}\n`);
    process.exitCode = 1;
  },
);
