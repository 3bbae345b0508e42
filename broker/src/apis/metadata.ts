/** Metadata (key 3): this node is every partition's leader, sole replica and ISR, and the controller. */
import { apis, type MetadataResponse } from "../../../protocol/generated/index.ts";
import type {
  MetadataResponsePartition,
  MetadataResponseTopic,
} from "../../../protocol/generated/metadata-response.ts";
import type { TopicRuntime } from "../state/topics.ts";
import { invalidTopicName, LEADER_EPOCH } from "../state/topics.ts";
import { clusterMetadata } from "./cluster-metadata.ts";
import { AUTHORIZED_OPERATIONS_OMITTED, code, ZERO_UUID } from "./common.ts";
import { defineHandler, type RequestContext } from "./types.ts";

function topicEntry(ctx: RequestContext, rt: TopicRuntime): MetadataResponseTopic {
  const self = ctx.broker.nodeId;
  const partitions: MetadataResponsePartition[] = rt.partitions.map((p) => ({
    errorCode: 0,
    partitionIndex: p.index,
    leaderId: self,
    leaderEpoch: LEADER_EPOCH,
    replicaNodes: [self],
    isrNodes: [self],
    offlineReplicas: [],
  }));
  return {
    errorCode: 0,
    name: rt.meta.name,
    topicId: ctx.apiVersion >= 10 ? rt.meta.id : ZERO_UUID,
    isInternal: false,
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

export const metadata = defineHandler(apis.Metadata, 0, 12, async (ctx, req): Promise<MetadataResponse> => {
  const broker = ctx.broker;
  if (broker.cluster) return clusterMetadata(ctx, req);
  const v = ctx.apiVersion;
  const topics: MetadataResponseTopic[] = [];
  // v0: an empty list means all topics; v1+: null means all, empty means none.
  const all = req.topics === null || (v === 0 && req.topics.length === 0);
  if (all) {
    for (const rt of broker.topics.list()) topics.push(topicEntry(ctx, rt));
  } else {
    const allowAutoCreate =
      broker.settings.autoCreateTopics && (v < 4 || req.allowAutoTopicCreation !== false);
    for (const t of req.topics!) {
      if (t.name === null) {
        const id = t.topicId ?? ZERO_UUID;
        const rt = id === ZERO_UUID ? undefined : broker.topics.getById(id);
        topics.push(rt ? topicEntry(ctx, rt) : errorEntry(null, code("UNKNOWN_TOPIC_ID"), id));
        continue;
      }
      const rt = broker.topics.get(t.name);
      if (rt) {
        topics.push(topicEntry(ctx, rt));
        continue;
      }
      if (!allowAutoCreate) {
        topics.push(errorEntry(t.name, code("UNKNOWN_TOPIC_OR_PARTITION")));
        continue;
      }
      if (invalidTopicName(t.name) !== undefined || broker.topics.collidesWith(t.name) !== undefined) {
        topics.push(errorEntry(t.name, code("INVALID_TOPIC_EXCEPTION")));
        continue;
      }
      // Like Kafka, the request that triggers auto-creation answers LEADER_NOT_AVAILABLE; the
      // client's retry finds the topic.
      await broker.topics.adminMutex.run(async () => {
        if (!broker.topics.get(t.name!))
          await broker.topics.create(t.name!, broker.settings.numPartitions, {});
      });
      topics.push(errorEntry(t.name, code("LEADER_NOT_AVAILABLE")));
    }
  }
  const res: MetadataResponse = {
    throttleTimeMs: 0,
    brokers: [
      {
        nodeId: broker.nodeId,
        host: broker.advertisedHost,
        port: broker.advertisedPort,
        rack: broker.settings.rack,
      },
    ],
    clusterId: broker.clusterId,
    controllerId: broker.nodeId,
    topics,
  };
  if (v >= 8 && v <= 10) res.clusterAuthorizedOperations = AUTHORIZED_OPERATIONS_OMITTED;
  return res;
});
