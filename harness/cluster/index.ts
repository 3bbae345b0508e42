// createCluster(): the one way tests, scenarios and the CLI get a Cluster, whatever the target.
import { existsSync } from "node:fs";
import { DockerCluster } from "../docker/cluster.ts";
import { ExternalCluster } from "../targets/external.ts";
import { KafkaCluster, type KafkaClusterOptions } from "../targets/kafka.ts";
import {
  REFERENCE_BROKER_MAIN,
  ReferenceCluster,
  type ReferenceClusterOptions,
} from "../targets/reference.ts";
import { type Cluster, TARGET_NAMES, type TargetName } from "./types.ts";

export type { ProbeMetadata } from "./kafka-probe.ts";
export { probeMetadata } from "./kafka-probe.ts";
export type {
  Address,
  AdvertiseFn,
  Cluster,
  LocalClusterOptions,
  NodeInfo,
  TargetName,
  TerminateResult,
} from "./types.ts";
export { TARGET_NAMES } from "./types.ts";
export { REFERENCE_BROKER_MAIN };

/** Where the nodes run: local processes (default) or Docker containers (harness/docker/). */
export type BackendName = "process" | "docker";
export const BACKEND_NAMES: readonly BackendName[] = ["process", "docker"];

export type CreateClusterOptions =
  | ({ target: "kafka"; backend?: BackendName; network?: string } & KafkaClusterOptions)
  | ({ target: "reference"; backend?: BackendName; network?: string } & ReferenceClusterOptions)
  | { target: "external"; bootstrapServers: string };

export function isTargetName(name: string): name is TargetName {
  return (TARGET_NAMES as readonly string[]).includes(name);
}

/** Creates (does not start) a cluster of the given target. */
export function createCluster(options: CreateClusterOptions): Cluster {
  const target = (options as { target: string }).target;
  const backend = (options as { backend?: string }).backend ?? "process";
  if (!(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new Error(`Unknown backend "${backend}": valid backends are ${BACKEND_NAMES.join(", ")}.`);
  }
  if (backend === "docker" && (options.target === "kafka" || options.target === "reference")) {
    const { backend: _, ...rest } = options;
    return new DockerCluster(rest);
  }
  switch (options.target) {
    case "kafka": {
      const { target: _, backend: __, network, ...rest } = options;
      if (network) throw new Error('network is an option of the docker backend only: add backend: "docker".');
      return new KafkaCluster(rest);
    }
    case "reference": {
      if (!existsSync(REFERENCE_BROKER_MAIN)) {
        throw new Error(
          "The reference target is not implemented yet: the reference broker (broker/src/main.ts) is still being built; use --target kafka.",
        );
      }
      const { target: _, backend: __, network, ...rest } = options;
      if (network) throw new Error('network is an option of the docker backend only: add backend: "docker".');
      return new ReferenceCluster(rest);
    }
    case "external":
      return new ExternalCluster({ bootstrapServers: options.bootstrapServers });
    default:
      throw new Error(`Unknown target "${target}": valid targets are ${TARGET_NAMES.join(", ")}.`);
  }
}
