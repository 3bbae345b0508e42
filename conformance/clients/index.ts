// The client matrix: which ConformanceClient implementations a run uses (GAUNTLET_CLIENTS).
import { KafkajsClient } from "./kafkajs.ts";
import { RdkafkaClient } from "./rdkafka.ts";
import { CLIENT_KINDS, type ClientKind, type ConformanceClient } from "./types.ts";

export * from "./types.ts";

export function createClient(kind: ClientKind, bootstrap: string): ConformanceClient {
  return kind === "kafkajs" ? new KafkajsClient(bootstrap) : new RdkafkaClient(bootstrap);
}

/** Parses "kafkajs", "rdkafka", "all", "none" (raw-protocol tests only) or a comma list. */
export function parseClients(text: string | undefined): ClientKind[] {
  if (!text || text === "all") return [...CLIENT_KINDS];
  if (text === "none") return [];
  const kinds = text.split(",").map((s) => s.trim());
  for (const k of kinds) {
    if (!(CLIENT_KINDS as readonly string[]).includes(k)) {
      throw new Error(`Unknown client "${k}": valid clients are ${CLIENT_KINDS.join(", ")} or all.`);
    }
  }
  return kinds as ClientKind[];
}
