// Run configuration shared by the CLI, the vitest global setup and the tests. The environment
// variables are the contract between `npm run conformance` (which starts the target) and vitest.
import type { ClientKind } from "./clients/types.ts";

/** The default target of `npm run conformance`. */
export const DEFAULT_TARGET = "reference";
/**
 * Nodes of the default local reference cluster. One until the reference broker forms multi-node
 * clusters (the clustering issues); raise it here, in this one place, when they land.
 */
export const DEFAULT_REFERENCE_NODES = 1;
/** Nodes of a kafka-target run when --nodes is not given. */
export const DEFAULT_KAFKA_NODES = 3;

export const ENV = {
  target: "GAUNTLET_TARGET",
  bootstrap: "GAUNTLET_BOOTSTRAP",
  nodes: "GAUNTLET_NODES",
  clients: "GAUNTLET_CLIENTS",
  control: "GAUNTLET_CONTROL",
  seed: "GAUNTLET_SEED",
  brokerVersion: "GAUNTLET_BROKER_VERSION",
} as const;

/** "image": a broker image run on the docker backend by a profile (--target image:<name>). */
export type ConformanceTarget = "kafka" | "reference" | "external" | "image";

/** What the tests learn about the run (provided by the global setup, read with inject("gauntlet")). */
export interface RunInfo {
  target: ConformanceTarget;
  bootstrap: string;
  /** Nodes the target was started with (external: brokers seen in Metadata). */
  nodes: number;
  clients: ClientKind[];
  /** URL of the control server that can restart nodes; absent for external targets. */
  controlUrl?: string;
  seed: number;
  brokerVersion: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    gauntlet: RunInfo;
  }
}

export function defaultNodes(target: ConformanceTarget): number {
  return target === "kafka" || target === "image" ? DEFAULT_KAFKA_NODES : DEFAULT_REFERENCE_NODES;
}
