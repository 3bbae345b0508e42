// The environment recorded with every result: versions, machine and commit.
import { execFileSync } from "node:child_process";
import os from "node:os";
import Kafka from "node-rdkafka";
import { KAFKA_VERSION } from "../harness/targets/kafka-version.ts";
import { REPO_ROOT } from "../harness/tools.ts";
import type { Environment } from "./report.ts";

function git(args: string[]): string | undefined {
  try {
    return execFileSync("git", args, {
      cwd: REPO_ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return undefined;
  }
}

export function environment(): Environment {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    osRelease: os.release(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    hostname: os.hostname(),
    kafkaVersion: KAFKA_VERSION,
    librdkafkaVersion: Kafka.librdkafkaVersion,
    commit: git(["rev-parse", "HEAD"]) ?? "unknown",
    dirty: (git(["status", "--porcelain", "--untracked-files=no"]) ?? "") !== "",
  };
}
