/**
 * Cluster mode: fetch from follower (KIP-392). Consumers' Fetch requests from v11 carry client metadata
 * (their rack, `client.rack`); for those, as Kafka does:
 *
 * - a follower (a replica that does not lead) serves the fetch from its own log, up to its own high
 *   watermark, instead of answering NOT_LEADER_OR_FOLLOWER (`isFollowerReplica`);
 * - with `--replica-selector rack-aware` (replica.selector.class = RackAwareReplicaSelector) the leader
 *   picks a preferred read replica (`preferredReadReplica`): when the consumer's rack is not the
 *   leader's and an in-sync follower in that rack has the fetch offset, the most caught-up such follower
 *   (highest log end offset, then the most recently caught up). The leader then answers that partition
 *   with no records and `preferredReadReplica` set, at once, and the consumer fetches from there. The
 *   default selector (`leader`) never redirects.
 */
import type { Broker } from "../broker.ts";
import type { PartitionRuntime } from "../state/topics.ts";
import { KAFKA_LISTENER } from "./metadata-node.ts";

/** Whether this node holds a replica of the partition without leading it (cluster mode, caught up). */
export function isFollowerReplica(broker: Broker, topic: string, index: number): boolean {
  const cluster = broker.cluster;
  if (!cluster?.caughtUp) return false;
  const id = cluster.image.topicIds.get(topic);
  const p = id === undefined ? undefined : cluster.image.topics.get(id)?.partitions.get(index);
  return p !== undefined && p.leader !== broker.nodeId && p.replicas.includes(broker.nodeId);
}

/**
 * The replica a consumer in `rackId` should fetch `part` from at `fetchOffset`, as this partition's
 * leader's replica selector decides; -1 for the leader itself (no redirection).
 */
export function preferredReadReplica(
  broker: Broker,
  part: PartitionRuntime,
  fetchOffset: number,
  rackId: string,
): number {
  const cluster = broker.cluster;
  if (!cluster || broker.settings.cluster?.replicaSelector !== "rack-aware" || rackId === "") return -1;
  const followers = broker.replication?.inSyncFollowers(part.topic, part.index);
  if (!followers) return -1;
  const image = cluster.image;
  // RackAwareReplicaSelector: the leader when it is in the consumer's rack
  if (image.brokers.get(broker.nodeId)?.rack === rackId) return -1;
  const now = Date.now();
  let best: { id: number; leo: number; sinceCaughtUp: number } | undefined;
  for (const f of followers) {
    const b = image.brokers.get(f.brokerId);
    if (!b || b.fenced || b.rack !== rackId || !b.endpoints.has(KAFKA_LISTENER)) continue;
    // the follower must hold the fetch offset (its log start is the leader's, give or take retention)
    if (f.logEndOffset < fetchOffset || fetchOffset < part.log.logStartOffset) continue;
    const candidate = { id: f.brokerId, leo: f.logEndOffset, sinceCaughtUp: now - f.lastCaughtUpMs };
    if (
      !best ||
      candidate.leo > best.leo ||
      (candidate.leo === best.leo && candidate.sinceCaughtUp < best.sinceCaughtUp) ||
      (candidate.leo === best.leo && candidate.sinceCaughtUp === best.sinceCaughtUp && candidate.id < best.id)
    ) {
      best = candidate;
    }
  }
  return best?.id ?? -1;
}
