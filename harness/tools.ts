// Locates the external tools the harness runs: java, the Apache Kafka jars, toxiproxy-server, kcat,
// mvn and go. `npm run setup` installs what it can under the cache directory; everything here only looks.
// A missing tool is reported as one sentence that says how to get it.
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KAFKA_SCALA_VERSION, KAFKA_VERSION } from "./targets/kafka-version.ts";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/**
 * Where `npm run setup` installs the Kafka jars, Toxiproxy and its build caches. Per user, not per
 * checkout, so a fresh clone (CI clones afresh every run) reuses what an earlier run installed on the
 * same machine. GAUNTLET_CACHE_DIR overrides it.
 */
export const CACHE_DIR = process.env.GAUNTLET_CACHE_DIR
  ? resolve(process.env.GAUNTLET_CACHE_DIR)
  : join(homedir(), ".cache", "gauntlet");
export const CACHE_BIN_DIR = join(CACHE_DIR, "bin");

/** The Toxiproxy release `npm run setup` installs (a Go module version). */
export const TOXIPROXY_VERSION = "v2.12.0";

export type ToolName = "java" | "kafka" | "toxiproxy" | "kcat" | "mvn" | "go";

/** Thrown when a tool the caller needs is not installed; the message says how to install it. */
export class ToolMissingError extends Error {
  constructor(
    readonly tool: ToolName,
    message: string,
  ) {
    super(message);
    this.name = "ToolMissingError";
  }
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable called `name` on PATH (like `which`), or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The directory the Kafka jars live in (`<cache>/kafka-<version>/libs`), installed or not. */
export function kafkaHomeDir(version = KAFKA_VERSION): string {
  return join(CACHE_DIR, `kafka-${version}`);
}

/** The jar whose presence means the Kafka jars were installed completely (setup writes it last). */
export function kafkaCompleteMarker(version = KAFKA_VERSION): string {
  return join(kafkaHomeDir(version), ".complete");
}

const locators: Record<ToolName, () => string> = {
  java() {
    const home = process.env.JAVA_HOME;
    if (home && isExecutable(join(home, "bin", "java"))) return join(home, "bin", "java");
    const found = which("java");
    if (found) return found;
    throw new ToolMissingError(
      "java",
      "Java is not installed: install a JDK 17 or newer (Debian: `apt-get install -y openjdk-17-jre-headless`) or set JAVA_HOME.",
    );
  },
  kafka() {
    const libs = process.env.GAUNTLET_KAFKA_LIBS ?? join(kafkaHomeDir(), "libs");
    const core = join(libs, `kafka_${KAFKA_SCALA_VERSION}-${KAFKA_VERSION}.jar`);
    if (existsSync(core) && (process.env.GAUNTLET_KAFKA_LIBS || existsSync(kafkaCompleteMarker())))
      return libs;
    throw new ToolMissingError(
      "kafka",
      `Apache Kafka ${KAFKA_VERSION} is not installed: run \`npm run setup\`.`,
    );
  },
  toxiproxy() {
    const cached = join(CACHE_BIN_DIR, "toxiproxy-server");
    if (isExecutable(cached)) return cached;
    const found = which("toxiproxy-server");
    if (found) return found;
    throw new ToolMissingError("toxiproxy", "Toxiproxy is not installed: run `npm run setup`.");
  },
  kcat() {
    const found = which("kcat") ?? which("kafkacat");
    if (found) return found;
    throw new ToolMissingError(
      "kcat",
      "kcat is not installed: run `npm run setup` (it runs `apt-get install -y kcat`).",
    );
  },
  mvn() {
    const found = which("mvn");
    if (found) return found;
    throw new ToolMissingError(
      "mvn",
      "Maven is not installed: install it (Debian: `apt-get install -y maven`).",
    );
  },
  go() {
    const found = which("go") ?? (isExecutable("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : undefined);
    if (found) return found;
    throw new ToolMissingError("go", "Go is not installed: install Go 1.22 or newer from your distribution.");
  },
};

/** The path of a tool (for kafka: its libs directory); throws ToolMissingError when it is missing. */
export function locate(tool: ToolName): string {
  return locators[tool]();
}

/** The path of a tool, or undefined when it is missing. */
export function find(tool: ToolName): string | undefined {
  try {
    return locate(tool);
  } catch (err) {
    if (err instanceof ToolMissingError) return undefined;
    throw err;
  }
}

/**
 * Why tests needing these tools cannot run, or undefined when all are present. Meant for
 * `test.skipIf(missingTools(...))`: the returned sentence names what is missing and how to fix it.
 * In CI (CI=true) a missing tool throws instead: CI runs `npm run setup`, so a skip there would hide a
 * broken install step.
 */
export function missingTools(...tools: ToolName[]): string | undefined {
  const reason = missingToolsReason(tools);
  if (reason && process.env.CI === "true") throw new Error(`${reason} (CI must not skip this test)`);
  return reason;
}

function missingToolsReason(tools: ToolName[]): string | undefined {
  const reasons: string[] = [];
  for (const tool of tools) {
    try {
      locate(tool);
    } catch (err) {
      if (!(err instanceof ToolMissingError)) throw err;
      reasons.push(err.message);
    }
  }
  return reasons.length ? reasons.join(" ") : undefined;
}

export const javaBin = (): string => locate("java");
export const kafkaLibsDir = (): string => locate("kafka");
export const toxiproxyServerBin = (): string => locate("toxiproxy");
export const kcatBin = (): string => locate("kcat");
export const mvnBin = (): string => locate("mvn");
export const goBin = (): string => locate("go");
