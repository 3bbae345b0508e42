/** The dispatcher table: every API this broker implements, one module each. */
import { alterPartitionReassignments } from "./alter-partition-reassignments.ts";
import { apiVersions } from "./api-versions.ts";
import { alterConfigs, describeConfigs, incrementalAlterConfigs } from "./configs.ts";
import { createPartitions } from "./create-partitions.ts";
import { createTopics } from "./create-topics.ts";
import { deleteGroups } from "./delete-groups.ts";
import { deleteRecords } from "./delete-records.ts";
import { deleteTopics } from "./delete-topics.ts";
import { describeCluster } from "./describe-cluster.ts";
import { describeGroups } from "./describe-groups.ts";
import { describeLogDirs } from "./describe-log-dirs.ts";
import { electLeaders } from "./elect-leaders.ts";
import { fetch } from "./fetch.ts";
import { findCoordinator } from "./find-coordinator.ts";
import { heartbeat } from "./heartbeat.ts";
import { initProducerId } from "./init-producer-id.ts";
import { joinGroup } from "./join-group.ts";
import { leaveGroup } from "./leave-group.ts";
import { listGroups } from "./list-groups.ts";
import { listOffsets } from "./list-offsets.ts";
import { listPartitionReassignments } from "./list-partition-reassignments.ts";
import { metadata } from "./metadata.ts";
import { offsetCommit } from "./offset-commit.ts";
import { offsetDelete } from "./offset-delete.ts";
import { offsetFetch } from "./offset-fetch.ts";
import { offsetForLeaderEpoch } from "./offset-for-leader-epoch.ts";
import { produce } from "./produce.ts";
import { syncGroup } from "./sync-group.ts";
import type { ApiHandler } from "./types.ts";

export const ALL_HANDLERS: ApiHandler[] = [
  produce,
  fetch,
  listOffsets,
  metadata,
  offsetForLeaderEpoch,
  apiVersions,
  createTopics,
  deleteTopics,
  deleteRecords,
  initProducerId,
  describeConfigs,
  alterConfigs,
  createPartitions,
  incrementalAlterConfigs,
  describeCluster,
  describeLogDirs,
  electLeaders,
  alterPartitionReassignments,
  listPartitionReassignments,
  findCoordinator,
  joinGroup,
  syncGroup,
  heartbeat,
  leaveGroup,
  offsetCommit,
  offsetFetch,
  listGroups,
  describeGroups,
  deleteGroups,
  offsetDelete,
] as ApiHandler[];
