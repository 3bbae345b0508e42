// The server.properties both Kafka backends (processes and containers) write: one copy of the
// test-friendly defaults, so the two backends cannot drift apart.
import { writeFileSync } from "node:fs";

type ConfigValue = string | number | boolean;

/** Defaults every harness-started Kafka node gets, before listeners and user overrides. */
export function kafkaNodeDefaults(
  nodes: number,
  options: { autoCreateTopics?: boolean; minInsyncReplicas?: number },
  rack: string | undefined,
): Record<string, ConfigValue> {
  return {
    "num.partitions": 1,
    "auto.create.topics.enable": options.autoCreateTopics ?? true,
    "min.insync.replicas": options.minInsyncReplicas ?? 1,
    "offsets.topic.replication.factor": Math.min(3, nodes),
    // Fewer internal partitions than Kafka's 50: faster start on a small machine.
    "offsets.topic.num.partitions": 10,
    "transaction.state.log.replication.factor": Math.min(3, nodes),
    "transaction.state.log.min.isr": Math.min(2, nodes),
    "transaction.state.log.num.partitions": 10,
    "share.coordinator.state.topic.replication.factor": Math.min(3, nodes),
    "share.coordinator.state.topic.min.isr": Math.min(2, nodes),
    "group.initial.rebalance.delay.ms": 0,
    ...(rack ? { "broker.rack": rack } : {}),
  };
}

/** Writes a Java properties file of `config` (keys in insertion order). */
export function writeServerProperties(path: string, config: Record<string, ConfigValue>): void {
  const text = Object.entries(config)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
  writeFileSync(path, `# Written by the Gauntlet harness.\n${text}\n`);
}
