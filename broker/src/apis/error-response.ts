/**
 * Generic error responses, the counterpart of Kafka's `AbstractRequest.getErrorResponse`: when an API
 * handler throws, the broker answers the request with the API's own error shape (the error code at
 * the top level and/or on every topic, partition, group or resource named in the request) and keeps
 * the connection open, as Kafka does. Built from the generated default*() constructors, so every
 * field holds its default; `stripResponse` then removes what the negotiated version lacks.
 */
import {
  type AlterConfigsResourceResponse,
  defaultAlterConfigsResourceResponse,
} from "../../../protocol/generated/alter-configs-response.ts";
import { defaultCreatePartitionsTopicResult } from "../../../protocol/generated/create-partitions-response.ts";
import { defaultCreatableTopicResult } from "../../../protocol/generated/create-topics-response.ts";
import { defaultDeletableGroupResult } from "../../../protocol/generated/delete-groups-response.ts";
import {
  defaultDeleteRecordsPartitionResult,
  defaultDeleteRecordsTopicResult,
} from "../../../protocol/generated/delete-records-response.ts";
import { defaultDeletableTopicResult } from "../../../protocol/generated/delete-topics-response.ts";
import { defaultDescribeConfigsResult } from "../../../protocol/generated/describe-configs-response.ts";
import { defaultDescribedGroup } from "../../../protocol/generated/describe-groups-response.ts";
import {
  defaultFetchableTopicResponse,
  defaultPartitionData,
} from "../../../protocol/generated/fetch-response.ts";
import { defaultCoordinator } from "../../../protocol/generated/find-coordinator-response.ts";
import {
  type AlterConfigsRequest,
  type AlterPartitionReassignmentsRequest,
  type ApiDefinition,
  apis,
  type CreatePartitionsRequest,
  type CreateTopicsRequest,
  type DeleteGroupsRequest,
  type DeleteRecordsRequest,
  type DeleteTopicsRequest,
  type DescribeConfigsRequest,
  type DescribeGroupsRequest,
  type ElectLeadersRequest,
  type FetchRequest,
  type FindCoordinatorRequest,
  type IncrementalAlterConfigsRequest,
  type ListOffsetsRequest,
  type MetadataRequest,
  type OffsetCommitRequest,
  type OffsetDeleteRequest,
  type OffsetFetchRequest,
  type OffsetForLeaderEpochRequest,
  type ProduceRequest,
} from "../../../protocol/generated/index.ts";
import {
  defaultListOffsetsPartitionResponse,
  defaultListOffsetsTopicResponse,
} from "../../../protocol/generated/list-offsets-response.ts";
import { defaultMetadataResponseTopic } from "../../../protocol/generated/metadata-response.ts";
import {
  defaultOffsetCommitResponsePartition,
  defaultOffsetCommitResponseTopic,
} from "../../../protocol/generated/offset-commit-response.ts";
import {
  defaultOffsetDeleteResponsePartition,
  defaultOffsetDeleteResponseTopic,
} from "../../../protocol/generated/offset-delete-response.ts";
import {
  defaultOffsetFetchResponseGroup,
  defaultOffsetFetchResponsePartition,
  defaultOffsetFetchResponseTopic,
} from "../../../protocol/generated/offset-fetch-response.ts";
import {
  defaultEpochEndOffset,
  defaultOffsetForLeaderTopicResult,
} from "../../../protocol/generated/offset-for-leader-epoch-response.ts";
import {
  defaultPartitionProduceResponse,
  defaultTopicProduceResponse,
} from "../../../protocol/generated/produce-response.ts";

/** Fills the error fields of `base` (an API's default response) from the request. */
type Builder = (base: Record<string, unknown>, request: unknown, version: number, error: ErrorInfo) => void;

interface ErrorInfo {
  code: number;
  message: string;
}

const builders = new Map<number, Builder>();

function on<Req, Res>(
  api: ApiDefinition<Req, Res>,
  build: (res: Res, req: Req, version: number, e: ErrorInfo) => void,
): void {
  builders.set(api.apiKey, build as Builder);
}

on(apis.Produce, (res, req: ProduceRequest, _v, e) => {
  res.responses = req.topicData.map((t) => ({
    ...defaultTopicProduceResponse(),
    name: t.name,
    partitionResponses: t.partitionData.map((p) => ({
      ...defaultPartitionProduceResponse(),
      index: p.index,
      errorCode: e.code,
      baseOffset: -1n,
      errorMessage: e.message,
    })),
  }));
});

on(apis.Fetch, (res, req: FetchRequest, v, e) => {
  res.errorCode = e.code;
  res.sessionId = 0;
  // From v13 the top-level error code alone carries the error; older versions repeat it per partition.
  if (v >= 13) return;
  res.responses = req.topics.map((t) => ({
    ...defaultFetchableTopicResponse(),
    topic: t.topic,
    topicId: t.topicId,
    partitions: t.partitions.map((p) => ({
      ...defaultPartitionData(),
      partitionIndex: p.partition,
      errorCode: e.code,
      highWatermark: -1n,
    })),
  }));
});

on(apis.ListOffsets, (res, req: ListOffsetsRequest, _v, e) => {
  res.topics = req.topics.map((t) => ({
    ...defaultListOffsetsTopicResponse(),
    name: t.name,
    partitions: t.partitions.map((p) => ({
      ...defaultListOffsetsPartitionResponse(),
      partitionIndex: p.partitionIndex,
      errorCode: e.code,
    })),
  }));
});

on(apis.Metadata, (res, req: MetadataRequest, _v, e) => {
  res.topics = (req.topics ?? []).map((t) => ({
    ...defaultMetadataResponseTopic(),
    name: t.name,
    topicId: t.topicId,
    errorCode: e.code,
  }));
});

on(apis.OffsetCommit, (res, req: OffsetCommitRequest, _v, e) => {
  res.topics = req.topics.map((t) => ({
    ...defaultOffsetCommitResponseTopic(),
    name: t.name,
    partitions: t.partitions.map((p) => ({
      ...defaultOffsetCommitResponsePartition(),
      partitionIndex: p.partitionIndex,
      errorCode: e.code,
    })),
  }));
});

on(apis.OffsetFetch, (res, req: OffsetFetchRequest, v, e) => {
  if (v >= 8) {
    res.groups = (req.groups ?? []).map((g) => ({
      ...defaultOffsetFetchResponseGroup(),
      groupId: g.groupId,
      errorCode: e.code,
    }));
    return;
  }
  res.errorCode = e.code;
  res.topics = (req.topics ?? []).map((t) => ({
    ...defaultOffsetFetchResponseTopic(),
    name: t.name,
    partitions: t.partitionIndexes.map((p) => ({
      ...defaultOffsetFetchResponsePartition(),
      partitionIndex: p,
      committedOffset: -1n,
      errorCode: e.code,
    })),
  }));
});

on(apis.FindCoordinator, (res, req: FindCoordinatorRequest, v, e) => {
  if (v >= 4) {
    res.coordinators = (req.coordinatorKeys ?? []).map((key) => ({
      ...defaultCoordinator(),
      key,
      nodeId: -1,
      port: -1,
      errorCode: e.code,
      errorMessage: e.message,
    }));
    return;
  }
  Object.assign(res, { errorCode: e.code, errorMessage: e.message, nodeId: -1, port: -1 });
});

on(apis.DescribeGroups, (res, req: DescribeGroupsRequest, _v, e) => {
  res.groups = req.groups.map((groupId) => ({ ...defaultDescribedGroup(), groupId, errorCode: e.code }));
});

on(apis.CreateTopics, (res, req: CreateTopicsRequest, _v, e) => {
  res.topics = req.topics.map((t) => ({
    ...defaultCreatableTopicResult(),
    name: t.name,
    errorCode: e.code,
    errorMessage: e.message,
  }));
});

on(apis.DeleteTopics, (res, req: DeleteTopicsRequest, _v, e) => {
  const named = (req.topicNames ?? []).map((name) => ({ name, topicId: undefined as string | undefined }));
  const states = (req.topics ?? []).map((t) => ({ name: t.name, topicId: t.topicId }));
  res.responses = [...named, ...states].map((t) => ({
    ...defaultDeletableTopicResult(),
    name: t.name,
    ...(t.topicId !== undefined ? { topicId: t.topicId } : {}),
    errorCode: e.code,
    errorMessage: e.message,
  }));
});

on(apis.DeleteRecords, (res, req: DeleteRecordsRequest, _v, e) => {
  res.topics = req.topics.map((t) => ({
    ...defaultDeleteRecordsTopicResult(),
    name: t.name,
    partitions: t.partitions.map((p) => ({
      ...defaultDeleteRecordsPartitionResult(),
      partitionIndex: p.partitionIndex,
      lowWatermark: -1n,
      errorCode: e.code,
    })),
  }));
});

on(apis.InitProducerId, (res, _req, _v, e) => {
  Object.assign(res, { errorCode: e.code, producerId: -1n, producerEpoch: -1 });
});

on(apis.OffsetForLeaderEpoch, (res, req: OffsetForLeaderEpochRequest, _v, e) => {
  res.topics = req.topics.map((t) => ({
    ...defaultOffsetForLeaderTopicResult(),
    topic: t.topic,
    partitions: t.partitions.map((p) => ({
      ...defaultEpochEndOffset(),
      partition: p.partition,
      errorCode: e.code,
    })),
  }));
});

on(apis.DescribeConfigs, (res, req: DescribeConfigsRequest, _v, e) => {
  res.results = req.resources.map((r) => ({
    ...defaultDescribeConfigsResult(),
    resourceType: r.resourceType,
    resourceName: r.resourceName,
    errorCode: e.code,
    errorMessage: e.message,
  }));
});

const alterConfigs = (
  res: { responses: AlterConfigsResourceResponse[] },
  req: AlterConfigsRequest | IncrementalAlterConfigsRequest,
  _v: number,
  e: ErrorInfo,
) => {
  res.responses = req.resources.map((r) => ({
    ...defaultAlterConfigsResourceResponse(),
    resourceType: r.resourceType,
    resourceName: r.resourceName,
    errorCode: e.code,
    errorMessage: e.message,
  }));
};
on(apis.AlterConfigs, alterConfigs);
on(apis.IncrementalAlterConfigs, alterConfigs);

on(apis.CreatePartitions, (res, req: CreatePartitionsRequest, _v, e) => {
  res.results = req.topics.map((t) => ({
    ...defaultCreatePartitionsTopicResult(),
    name: t.name,
    errorCode: e.code,
    errorMessage: e.message,
  }));
});

on(apis.DeleteGroups, (res, req: DeleteGroupsRequest, _v, e) => {
  res.results = req.groupsNames.map((groupId) => ({
    ...defaultDeletableGroupResult(),
    groupId,
    errorCode: e.code,
  }));
});

on(apis.OffsetDelete, (res, req: OffsetDeleteRequest, _v, e) => {
  res.errorCode = e.code;
  res.topics = req.topics.map((t) => ({
    ...defaultOffsetDeleteResponseTopic(),
    name: t.name,
    partitions: t.partitions.map((p) => ({
      ...defaultOffsetDeleteResponsePartition(),
      partitionIndex: p.partitionIndex,
      errorCode: e.code,
    })),
  }));
});

on(apis.DescribeCluster, (res, _req, _v, e) => {
  Object.assign(res, { errorCode: e.code, errorMessage: e.message });
});

// Kafka's ElectLeadersRequest.getErrorResponse: the top-level code (v1+) and every named partition.
on(apis.ElectLeaders, (res, req: ElectLeadersRequest, _v, e) => {
  res.errorCode = e.code;
  res.replicaElectionResults = (req.topicPartitions ?? []).map((t) => ({
    topic: t.topic,
    partitionResult: t.partitions.map((partitionId) => ({
      partitionId,
      errorCode: e.code,
      errorMessage: e.message,
    })),
  }));
});

on(apis.AlterPartitionReassignments, (res, req: AlterPartitionReassignmentsRequest, _v, e) => {
  Object.assign(res, { errorCode: e.code, errorMessage: e.message });
  res.responses = req.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({
      partitionIndex: p.partitionIndex,
      errorCode: e.code,
      errorMessage: e.message,
    })),
  }));
});

on(apis.ListPartitionReassignments, (res, _req, _v, e) => {
  Object.assign(res, { errorCode: e.code, errorMessage: e.message, topics: [] });
});

/**
 * The error response of `api` for `request` with `errorCode` (and, where the API has one,
 * `message`), or undefined when the API has no way to carry an error (the caller then closes the
 * connection). APIs without a dedicated builder get their default response with the top-level
 * errorCode set, when their schema has one (Heartbeat, JoinGroup, SyncGroup, LeaveGroup, ListGroups,
 * ApiVersions, ...).
 */
export function buildErrorResponse(
  api: ApiDefinition<unknown, unknown>,
  request: unknown,
  version: number,
  errorCode: number,
  message: string,
): unknown {
  const base = api.defaultResponse() as Record<string, unknown>;
  const build = builders.get(api.apiKey);
  if (build) {
    build(base, request, version, { code: errorCode, message });
    return base;
  }
  if (api.responseSchema.fields.some((f) => f.prop === "errorCode")) {
    base.errorCode = errorCode;
    return base;
  }
  return undefined;
}
