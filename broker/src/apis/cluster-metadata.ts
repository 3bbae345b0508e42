/**
 * Cluster mode: Metadata answered from the committed MetadataImage — the unfenced brokers with their
 * advertised Kafka endpoints and racks, the active controller (the Raft leader), topic ids, partition
 * leaders, replicas, ISR and leader epochs. Auto-creation goes through the controller like CreateTopics.
 */
import type { MetadataRequest } from "../../../protocol/generated/metadata-request.ts";
import type {
  MetadataResponse,
  MetadataResponseBroker,
  MetadataResponsePartition,
  MetadataResponseTopic,
} from "../../../protocol/generated/metadata-response.ts";
import {
  type MetadataImage,
  NO_LEADER,
  type TopicImage,
  topicByName,
} from "../../controller/metadata-image.ts";
import type { Broker } from "../broker.ts";
import { KAFKA_LISTENER, NotControllerError } from "../cluster/metadata-node.ts";
import { INTERNAL_TOPICS, OFFSETS_TOPIC } from "../cluster/offsets-topic.ts";
import { invalidTopicName } from "../state/topics.ts";
import { AUTHORIZED_OPERATIONS_OMITTED, code, ZERO_UUID } from "./common.ts";
import type { RequestContext } from "./types.ts";

/** The unfenced brokers with a Kafka endpoint, by id. */
export function liveBrokers(image: MetadataImage): MetadataResponseBroker[] {
  const out: MetadataResponseBroker[] = [];
  for (const b of [...image.brokers.values()].sort((x, y) => x.id - y.id)) {
    const ep = b.endpoints.get(KAFKA_LISTENER);
    if (b.fenced || !ep) continue;
    out.push({ nodeId: b.id, host: ep.host, port: ep.port, rack: b.rack });
  }
  return out;
}

/**
 * `stale`: this node has not caught up with the metadata since it started, so its image may name
 * leaders that no longer lead: every partition answers LEADER_NOT_AVAILABLE (clients retry elsewhere).
 */
function topicEntry(image: MetadataImage, t: TopicImage, v: number, stale = false): MetadataResponseTopic {
  const live = (id: number) => image.brokers.get(id)?.fenced === false;
  const partitions: MetadataResponsePartition[] = [...t.partitions.values()]
    .sort((a, b) => a.partition - b.partition)
    .map((p) => ({
      errorCode: stale || p.leader === NO_LEADER ? code("LEADER_NOT_AVAILABLE") : 0,
      partitionIndex: p.partition,
      leaderId: stale ? NO_LEADER : p.leader,
      leaderEpoch: p.leaderEpoch,
      replicaNodes: [...p.replicas],
      isrNodes: [...p.isr],
      offlineReplicas: p.replicas.filter((r) => !live(r)),
    }));
  return {
    errorCode: 0,
    name: t.name,
    topicId: v >= 10 ? t.id : ZERO_UUID,
    isInternal: INTERNAL_TOPICS.has(t.name),
    partitions,
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

function errorEntry(name: string | null, errorCode: number, topicId = ZERO_UUID): MetadataResponseTopic {
  return {
    errorCode,
    name,
    topicId,
    isInternal: false,
    partitions: [],
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

async function autoCreate(ctx: RequestContext, broker: Broker, name: string): Promise<void> {
  // Kafka creates its internal topic with the internal topic's own settings.
  if (name === OFFSETS_TOPIC && broker.groups.partitions)
    return broker.groups.partitions.ensureOffsetsTopic();
  try {
    await broker.cluster!.call("createTopics", {
      topics: [
        {
          name,
          numPartitions: broker.settings.numPartitions,
          replicationFactor: -1,
          assignments: [],
          configs: [],
        },
      ],
      timeoutMs: 5000,
      validateOnly: false,
    });
  } catch (e) {
    if (!(e instanceof NotControllerError)) throw e;
    ctx.log.warn({ topic: name, err: e.message }, "auto-creation: no active controller");
  }
}

export async function clusterMetadata(ctx: RequestContext, req: MetadataRequest): Promise<MetadataResponse> {
  const broker = ctx.broker;
  const cluster = broker.cluster!;
  const v = ctx.apiVersion;
  const topics: MetadataResponseTopic[] = [];
  const all = req.topics === null || (v === 0 && req.topics.length === 0);
  let image = cluster.image;
  const stale = !cluster.caughtUp;
  if (all) {
    const sorted = [...image.topics.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const t of sorted) topics.push(topicEntry(image, t, v, stale));
  } else {
    const allowAutoCreate =
      broker.settings.autoCreateTopics && (v < 4 || req.allowAutoTopicCreation !== false);
    for (const t of req.topics!) {
      if (t.name === null) {
        const id = t.topicId ?? ZERO_UUID;
        const found = id === ZERO_UUID ? undefined : image.topics.get(id);
        topics.push(
          found ? topicEntry(image, found, v, stale) : errorEntry(null, code("UNKNOWN_TOPIC_ID"), id),
        );
        continue;
      }
      const found = topicByName(image, t.name);
      if (found) {
        topics.push(topicEntry(image, found, v, stale));
        continue;
      }
      if (!allowAutoCreate) {
        topics.push(errorEntry(t.name, code("UNKNOWN_TOPIC_OR_PARTITION")));
        continue;
      }
      if (invalidTopicName(t.name) !== undefined) {
        topics.push(errorEntry(t.name, code("INVALID_TOPIC_EXCEPTION")));
        continue;
      }
      // Like Kafka, the request that triggers auto-creation answers LEADER_NOT_AVAILABLE.
      await autoCreate(ctx, broker, t.name);
      topics.push(errorEntry(t.name, code("LEADER_NOT_AVAILABLE")));
    }
    image = cluster.image;
  }
  const res: MetadataResponse = {
    throttleTimeMs: 0,
    brokers: liveBrokers(image),
    clusterId: image.clusterId,
    controllerId: stale ? -1 : cluster.controllerId(),
    topics,
  };
  if (v >= 8 && v <= 10) res.clusterAuthorizedOperations = AUTHORIZED_OPERATIONS_OMITTED;
  return res;
}
