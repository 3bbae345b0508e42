#!/usr/bin/env tsx
// `npm run setup`: installs the real components the suites use, into the cache directory (harness/tools.ts CACHE_DIR), idempotently.
// `npm run setup -- --check` only reports what is present.
//
// One line per component: installed / already present / FAILED with one sentence on how to fix it.
// Exits non-zero when a required component failed (or, with --check, is missing).
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { $, chalk } from "zx";
import { findChromium } from "../chaos/report-screenshot.ts";
import { composeCommand, composeVersion } from "../harness/docker/compose.ts";
import { DOCKERD_LOG, engineDetails, startDockerd } from "../harness/docker/engine.ts";
import { KAFKA_SCALA_VERSION, KAFKA_VERSION } from "../harness/targets/kafka-version.ts";
import {
  CACHE_BIN_DIR,
  CACHE_DIR,
  find,
  kafkaCompleteMarker,
  kafkaHomeDir,
  REPO_ROOT,
  TOXIPROXY_VERSION,
  which,
} from "../harness/tools.ts";

/** A path for humans: relative inside the repo, with ~ for the home directory elsewhere. */
function displayPath(path: string): string {
  const rel = relative(REPO_ROOT, path);
  if (!rel.startsWith("..")) return rel;
  const home = homedir();
  return path.startsWith(home) ? `~${path.slice(home.length)}` : path;
}

$.verbose = false;
$.quiet = true;
const checkOnly = process.argv.includes("--check");
const quiet = process.env.CI === "true" || !process.stdout.isTTY;

interface Component {
  name: string;
  /** A failure of a required component makes setup exit non-zero. */
  required: boolean;
  /** Why the component is not needed here, if it is not. */
  skipReason?: () => string | undefined;
  /** A short description of what is there, or undefined when it is missing. */
  present: () => Promise<string | undefined>;
  install: () => Promise<void>;
  /** One sentence on how to fix a failed install. */
  fix: string;
}

/** An install step that failed; `output` is the tail of what the failing command printed. */
class StepError extends Error {
  constructor(
    message: string,
    readonly output = "",
  ) {
    super(message);
  }
}

function progress(text: string): void {
  if (!quiet) process.stdout.write(chalk.dim(`  … ${text}\n`));
}

function tail(text: string, lines = 15): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

async function run(
  what: string,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  progress(what);
  const result = await $({ nothrow: true, env: { ...process.env, ...env }, cwd: REPO_ROOT })`${cmd} ${args}`;
  if (result.exitCode !== 0) {
    throw new StepError(
      `${what} failed (exit ${result.exitCode})`,
      tail(`${result.stdout}\n${result.stderr}`),
    );
  }
  return result.stdout;
}

// ---------------------------------------------------------------------------------------------
// Debian packages

const isRoot = process.getuid?.() === 0;
let aptUpdated = false;

function aptPrefix(): string[] {
  if (isRoot) return [];
  if (which("sudo")) return ["sudo", "-n"];
  throw new StepError("installing Debian packages needs root (or passwordless sudo)");
}

async function aptInstall(packages: string[]): Promise<void> {
  if (!which("apt-get")) throw new StepError("apt-get is not available on this machine");
  const prefix = aptPrefix();
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const lock = ["-o", "DPkg::Lock::Timeout=300"];
  const [cmd, ...rest] = [...prefix, "apt-get"];
  if (!aptUpdated) {
    await run("apt-get update", cmd, [...rest, ...lock, "update", "-qq"], env);
    aptUpdated = true;
  }
  await run(
    `apt-get install ${packages.join(" ")}`,
    cmd,
    [...rest, ...lock, "install", "-y", "-qq", ...packages],
    env,
  );
}

async function dpkgInstalled(pkg: string): Promise<boolean> {
  const format = ["-f=", "$", "{Status}"].join(""); // dpkg-query's own placeholder syntax
  const r = await $({ nothrow: true })`dpkg-query -W ${format} ${pkg}`;
  return r.exitCode === 0 && r.stdout.includes("install ok installed");
}

// ---------------------------------------------------------------------------------------------
// 1. Apache Kafka jars from Maven Central

const KAFKA_ARTIFACTS = [
  `kafka_${KAFKA_SCALA_VERSION}`, // kafka.Kafka (the broker main class) and kafka.tools.StorageTool
  "kafka-tools", // VerifiableProducer, VerifiableConsumer, ProducerPerformance, ...
  "kafka-tools-api",
  "kafka-clients",
  "kafka-server",
  "kafka-server-common",
  "kafka-storage",
  "kafka-storage-api",
  "kafka-metadata",
  "kafka-raft",
  "kafka-group-coordinator",
  "kafka-transaction-coordinator",
  "kafka-share-coordinator",
];
// Kafka 4.x logs through SLF4J 1.7 and ships Log4j 2 with the SLF4J 1.x binding; same versions here.
const LOG4J_VERSION = "2.25.4";
const SLF4J_VERSION = "1.7.36";
const DEPENDENCY_PLUGIN_VERSION = "3.8.1";

function kafkaPom(): string {
  const dep = (g: string, a: string, v: string) =>
    `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/setup.ts: a throwaway project whose only purpose is to copy the Apache Kafka
     ${KAFKA_VERSION} jars and their runtime dependencies into libs/. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>gauntlet.setup</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
${KAFKA_ARTIFACTS.map((a) => dep("org.apache.kafka", a, KAFKA_VERSION)).join("\n")}
${dep("org.slf4j", "slf4j-api", SLF4J_VERSION)}
${dep("org.apache.logging.log4j", "log4j-api", LOG4J_VERSION)}
${dep("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION)}
${dep("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION)}
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>${DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
`;
}

const kafka: Component = {
  name: `Apache Kafka ${KAFKA_VERSION}`,
  required: true,
  fix: "check that Maven Central is reachable and `mvn -v` works, then run `npm run setup` again.",
  async present() {
    const libs = join(kafkaHomeDir(), "libs");
    if (!existsSync(kafkaCompleteMarker())) return undefined;
    return `${readdirSync(libs).length} jars in ${displayPath(libs)}`;
  },
  async install() {
    const java = find("java");
    if (!java)
      throw new StepError("Java is not installed (Debian: `apt-get install -y openjdk-17-jre-headless`)");
    const mvn = find("mvn");
    if (!mvn) throw new StepError("Maven is not installed (Debian: `apt-get install -y maven`)");
    const home = kafkaHomeDir();
    const libs = join(home, "libs");
    const partial = join(home, "libs.partial");
    mkdirSync(home, { recursive: true });
    rmSync(partial, { recursive: true, force: true });
    rmSync(kafkaCompleteMarker(), { force: true });
    const pom = join(home, "pom.xml");
    writeFileSync(pom, kafkaPom());
    await run(`mvn dependency:copy-dependencies (Kafka ${KAFKA_VERSION} jars from Maven Central)`, mvn, [
      "-B",
      "-q",
      "-f",
      pom,
      `-Dmaven.repo.local=${join(CACHE_DIR, "m2")}`,
      "dependency:copy-dependencies",
      `-DoutputDirectory=${partial}`,
      "-DincludeScope=runtime",
    ]);
    const core = `kafka_${KAFKA_SCALA_VERSION}-${KAFKA_VERSION}.jar`;
    if (!existsSync(join(partial, core)))
      throw new StepError(`Maven finished but ${core} is not in ${partial}`);
    rmSync(libs, { recursive: true, force: true });
    renameSync(partial, libs);
    // Smoke test: the storage tool's main class loads and prints its usage.
    await run("java kafka.tools.StorageTool --help", java, [
      "-cp",
      `${libs}/*`,
      "kafka.tools.StorageTool",
      "--help",
    ]);
    writeFileSync(kafkaCompleteMarker(), `${KAFKA_VERSION}\n`);
  },
};

// ---------------------------------------------------------------------------------------------
// 2. Toxiproxy server, built from its Go module

const toxiproxyBin = join(CACHE_BIN_DIR, "toxiproxy-server");

const toxiproxy: Component = {
  name: `Toxiproxy ${TOXIPROXY_VERSION}`,
  required: true,
  fix: "check that the Go module proxy is reachable and `go version` works, then run `npm run setup` again (or set TOXIPROXY_URL to a running Toxiproxy).",
  skipReason: () =>
    process.env.TOXIPROXY_URL ? `TOXIPROXY_URL is set (${process.env.TOXIPROXY_URL})` : undefined,
  async present() {
    if (!existsSync(toxiproxyBin)) return undefined;
    const r = await $({ nothrow: true })`${toxiproxyBin} -version`;
    return r.exitCode === 0 ? displayPath(toxiproxyBin) : undefined;
  },
  async install() {
    const go = find("go");
    if (!go) throw new StepError("Go is not installed");
    const gobin = join(CACHE_DIR, "go", "bin");
    mkdirSync(CACHE_BIN_DIR, { recursive: true });
    await run(
      `go install github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}`,
      go,
      ["install", `github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}`],
      {
        GOBIN: gobin,
        GOMODCACHE: join(CACHE_DIR, "go", "mod"),
        GOCACHE: join(CACHE_DIR, "go", "build"),
        GOFLAGS: "-modcacherw -buildvcs=false",
        GOTOOLCHAIN: "local",
      },
    );
    copyFileSync(join(gobin, "server"), `${toxiproxyBin}.partial`);
    renameSync(`${toxiproxyBin}.partial`, toxiproxyBin);
    await run("toxiproxy-server -version", toxiproxyBin, ["-version"]);
  },
};

// ---------------------------------------------------------------------------------------------
// 3. kcat from Debian

const kcat: Component = {
  name: "kcat",
  required: true,
  fix: "install it with `apt-get install -y kcat` (as root), then run `npm run setup` again.",
  async present() {
    return which("kcat");
  },
  async install() {
    await aptInstall(["kcat"]);
    if (!which("kcat")) throw new StepError("apt-get installed kcat but it is not on PATH");
  },
};

// ---------------------------------------------------------------------------------------------
// 4. zstd support in node-rdkafka (librdkafka only builds it when libzstd's headers are present)

async function rdkafkaFeatures(): Promise<string[] | undefined> {
  const r = await $({
    nothrow: true,
    cwd: REPO_ROOT,
  })`node -e ${"process.stdout.write(JSON.stringify(require('node-rdkafka').features))"}`;
  if (r.exitCode !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as string[];
  } catch {
    return undefined;
  }
}

const rdkafkaZstd: Component = {
  name: "node-rdkafka zstd",
  required: true,
  fix: "install libzstd-dev (`apt-get install -y libzstd-dev`) and run `npm rebuild node-rdkafka`, then run `npm run setup` again.",
  async present() {
    const features = await rdkafkaFeatures();
    return features?.includes("zstd") ? "librdkafka built with zstd" : undefined;
  },
  async install() {
    const needed = [];
    for (const pkg of ["libzstd-dev", "pkg-config"]) if (!(await dpkgInstalled(pkg))) needed.push(pkg);
    if (needed.length) await aptInstall(needed);
    await run("npm rebuild node-rdkafka (compiles librdkafka, about 90 s)", "npm", [
      "rebuild",
      "node-rdkafka",
    ]);
    const features = await rdkafkaFeatures();
    if (!features?.includes("zstd")) {
      throw new StepError(`node-rdkafka was rebuilt but its features are still ${JSON.stringify(features)}`);
    }
  },
};

// ---------------------------------------------------------------------------------------------
// 5. A Docker engine for the docker backend (harness/docker/): Debian's docker.io, and dockerd
//    started in the background when no engine answers. It keeps running after setup, like a service.

const docker: Component = {
  name: "Docker engine",
  required: true,
  fix: "install Debian's docker.io (`apt-get install -y docker.io`) and start dockerd (see harness/docker/README.md), then run `npm run setup` again.",
  async present() {
    return engineDetails();
  },
  async install() {
    if (!which("dockerd") && !existsSync("/usr/sbin/dockerd")) await aptInstall(["docker.io"]);
    progress(`starting dockerd (log ${displayPath(DOCKERD_LOG)})`);
    try {
      await startDockerd();
    } catch (err) {
      const [first, ...rest] = (err as Error).message.split("\n");
      throw new StepError(first, rest.join("\n"));
    }
  },
};

// ---------------------------------------------------------------------------------------------
// 6. Chromium from Debian: headless, it opens the Allure report to prove the chaos timeline chart is
//    shown (chaos/report-screenshot.ts, `npm run report:screenshot`).

const chromium: Component = {
  name: "Chromium",
  required: true,
  fix: "install Debian's chromium (`apt-get install -y chromium`) or set GAUNTLET_CHROMIUM to a Chromium binary, then run `npm run setup` again.",
  async present() {
    const path = findChromium();
    if (!path) return undefined;
    const r = await $({ nothrow: true })`${path} --version`;
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  },
  async install() {
    await aptInstall(["chromium"]);
    if (!findChromium()) throw new StepError("apt-get installed chromium but it is not on PATH");
  },
};

// ---------------------------------------------------------------------------------------------
// 7. Compose: `docker compose` (plugin) or Debian's docker-compose, for the top-level
//    docker-compose.yml (harness/test/compose.it.test.ts brings it up).

const compose: Component = {
  name: "Docker Compose",
  required: true,
  fix: "install Debian's docker-compose (`apt-get install -y docker-compose`) or the docker compose plugin, then run `npm run setup` again.",
  async present() {
    return composeVersion();
  },
  async install() {
    await aptInstall(["docker-compose"]);
    if (!composeCommand()) throw new StepError("apt-get installed docker-compose but it does not run");
  },
};

// ---------------------------------------------------------------------------------------------

const components = [kafka, toxiproxy, kcat, rdkafkaZstd, docker, chromium, compose];
const width = Math.max(...components.map((c) => c.name.length)) + 2;
let failures = 0;
const started = Date.now();
mkdirSync(CACHE_DIR, { recursive: true });

function line(mark: string, name: string, text: string): void {
  console.log(`${mark} ${name.padEnd(width)}${text}`);
}

for (const c of components) {
  const skip = c.skipReason?.();
  if (skip) {
    line(chalk.dim("-"), c.name, `skipped: ${skip}`);
    continue;
  }
  const t0 = Date.now();
  const have = await c.present();
  if (have) {
    line(chalk.green("✓"), c.name, `already present (${have})`);
    continue;
  }
  if (checkOnly) {
    line(chalk.red("✗"), c.name, "missing: run `npm run setup` to install it.");
    if (c.required) failures++;
    continue;
  }
  if (!quiet) console.log(chalk.cyan(`▶ installing ${c.name}`));
  try {
    await c.install();
    const now = await c.present();
    if (!now) throw new StepError("the install finished but the component is still not found");
    line(chalk.green("✓"), c.name, `installed (${((Date.now() - t0) / 1000).toFixed(1)} s; ${now})`);
  } catch (err) {
    if (c.required) failures++;
    const reason = err instanceof Error ? err.message : String(err);
    line(chalk.red("✗"), c.name, `FAILED: ${reason}; ${c.fix}`);
    if (err instanceof StepError && err.output) console.log(chalk.dim(err.output.replace(/^/gm, "    ")));
  }
}

const secs = ((Date.now() - started) / 1000).toFixed(1);
if (failures) {
  console.log(`setup: ${failures} required component(s) ${checkOnly ? "missing" : "FAILED"} (${secs} s)`);
  process.exit(1);
}
console.log(`setup: ${checkOnly ? "all components present" : "done"} (${secs} s)`);
