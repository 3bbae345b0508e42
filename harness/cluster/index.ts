// createCluster(): the one way tests, scenarios and the CLI get a Cluster, whatever the target.
import { existsSync } from "node:fs";
import { DockerCluster } from "../docker/cluster.ts";
import type { ImageProfile } from "../docker/profile.ts";
import { ExternalCluster } from "../targets/external.ts";
import { KafkaCluster, type KafkaClusterOptions } from "../targets/kafka.ts";
import {
  REFERENCE_BROKER_MAIN,
  ReferenceCluster,
  type ReferenceClusterOptions,
} from "../targets/reference.ts";
import { type Cluster, type LocalClusterOptions, TARGET_NAMES, type TargetName } from "./types.ts";

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
  | ({
      target: "image";
      backend?: "docker";
      image: string;
      profile: ImageProfile;
      network?: string;
    } & LocalClusterOptions)
  | { target: "external"; bootstrapServers: string };

/** A --target value: a target name, or image:<name> for a broker image run by a profile. */
export interface TargetSpec {
  target: TargetName;
  /** The image of an image target. */
  image?: string;
}

/** Parses a --target value; throws one sentence for anything else. */
export function parseTargetSpec(text: string): TargetSpec {
  if (text.startsWith("image:")) {
    const image = text.slice("image:".length);
    if (!/^[a-z0-9][a-z0-9._/:@-]*$/i.test(image))
      throw new Error(
        `"${text}" does not name an image: use image:<name>[:tag], e.g. image:gauntlet/reference:compose.`,
      );
    return { target: "image", image };
  }
  if (text === "image")
    throw new Error("The image target needs the image's name: --target image:<name>[:tag].");
  if (!isTargetName(text))
    throw new Error(
      `Unknown target "${text}": valid targets are ${TARGET_NAMES.join(", ")} and image:<name>.`,
    );
  return { target: text };
}

/** A bare target name (image targets are image:<name>, see parseTargetSpec). */
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
  if (options.target === "image") {
    if (backend !== "docker") throw new Error("An image target runs on the docker backend only.");
    const { backend: _, ...rest } = options;
    return new DockerCluster(rest);
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
