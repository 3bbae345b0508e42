/**
 * Cluster mode: brings the local TopicManager (partition logs, broker-state.json) in line with the
 * committed MetadataImage. Topics are created locally with the image's topic id, grown, re-configured
 * and deleted as the image says. Every partition of every topic gets a local log (an empty directory
 * on nodes that neither lead nor replicate it; partition data replication is the next step), so the
 * request handlers keep their single-node lookups; leadership is checked separately
 * (`Broker.partitionLeadership`).
 */
import type { Logger } from "pino";
import { type MetadataImage, topicConfigs } from "../../controller/metadata-image.ts";
import type { TopicManager } from "../state/topics.ts";

function sameConfigs(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

export async function reconcileTopics(
  topics: TopicManager,
  image: MetadataImage,
  log: Logger,
): Promise<void> {
  await topics.adminMutex.run(async () => {
    for (const local of topics.list()) {
      if (image.topicIds.get(local.meta.name) !== local.meta.id) await topics.delete(local.meta.name);
    }
    for (const t of image.topics.values()) {
      const configs = Object.fromEntries(topicConfigs(image, t.name));
      const count = t.partitions.size;
      const local = topics.get(t.name);
      if (!local) {
        await topics.create(t.name, count, configs, t.id);
        continue;
      }
      if (local.partitions.length < count) await topics.addPartitions(t.name, count);
      if (!sameConfigs(local.meta.configs, configs)) await topics.setConfigs(t.name, configs);
    }
  });
  log.debug({ offset: image.highestOffset, topics: image.topics.size }, "local topics reconciled");
}
