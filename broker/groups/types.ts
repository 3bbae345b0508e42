/**
 * Request, response and record shapes of the classic group coordinator.
 *
 * Field names follow the Kafka message specs in camelCase (JoinGroupRequest.json etc.), and int64 fields are
 * bigint like the generated codec, so a decoded request is assignable to these request types and these
 * responses are assignable to the generated response types. Where a Kafka API changed shape across
 * versions, the newest shape is used (LeaveGroup v3+ member batches, OffsetFetch v8+ groups); the server
 * maps the older versions onto it.
 */

/** Per-request facts that are not in the request body. */
export interface RequestContext {
  /** The request header's client id ("" when null). Used for generated member ids and DescribeGroups. */
  clientId: string;
  /** The client's address as Kafka shows it, e.g. "/127.0.0.1". */
  clientHost: string;
  /** The API version of this request (JoinGroup v4+ requires a known member id, v9+ skips assignment...). */
  apiVersion: number;
}

export type GroupStateName = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead";

// ---- JoinGroup --------------------------------------------------------------------------------------

export interface JoinGroupProtocol {
  name: string;
  metadata: Buffer;
}

export interface JoinGroupRequest {
  groupId: string;
  sessionTimeoutMs: number;
  /** -1 (or absent, JoinGroup v0) means "use sessionTimeoutMs". */
  rebalanceTimeoutMs?: number;
  memberId: string;
  groupInstanceId?: string | null;
  protocolType: string;
  protocols: JoinGroupProtocol[];
  reason?: string | null;
}

export interface JoinGroupResponseMember {
  memberId: string;
  groupInstanceId: string | null;
  metadata: Buffer;
}

export interface JoinGroupResponse {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  skipAssignment: boolean;
  memberId: string;
  members: JoinGroupResponseMember[];
}

// ---- SyncGroup --------------------------------------------------------------------------------------

export interface SyncGroupAssignment {
  memberId: string;
  assignment: Buffer;
}

export interface SyncGroupRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId?: string | null;
  protocolType?: string | null;
  protocolName?: string | null;
  assignments: SyncGroupAssignment[];
}

export interface SyncGroupResponse {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

// ---- Heartbeat ----------------------------------------------------------------------------------------

export interface HeartbeatRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId?: string | null;
}

export interface HeartbeatResponse {
  errorCode: number;
}

// ---- LeaveGroup ---------------------------------------------------------------------------------------

export interface LeaveGroupMemberIdentity {
  memberId: string;
  groupInstanceId?: string | null;
  reason?: string | null;
}

/** The v3+ shape. For v0-2 the server passes `members: [{ memberId }]`. */
export interface LeaveGroupRequest {
  groupId: string;
  members: LeaveGroupMemberIdentity[];
}

export interface LeaveGroupMemberResponse {
  memberId: string;
  groupInstanceId: string | null;
  errorCode: number;
}

/**
 * For v0-2 Kafka answers with one error code: the top-level one when set, else the single member's
 * (see `leaveGroupV0ErrorCode`).
 */
export interface LeaveGroupResponse {
  errorCode: number;
  members: LeaveGroupMemberResponse[];
}

// ---- OffsetCommit -------------------------------------------------------------------------------------

export interface OffsetCommitRequestPartition {
  partitionIndex: number;
  committedOffset: bigint;
  committedLeaderEpoch?: number;
  committedMetadata: string | null;
}

export interface OffsetCommitRequestTopic {
  name: string;
  partitions: OffsetCommitRequestPartition[];
}

export interface OffsetCommitRequest {
  groupId: string;
  /** -1 (or absent, v0) for a simple commit outside group management. */
  generationIdOrMemberEpoch?: number;
  memberId?: string;
  groupInstanceId?: string | null;
  /** v2-4 only; -1 means the broker's retention. */
  retentionTimeMs?: bigint;
  topics: OffsetCommitRequestTopic[];
}

export interface OffsetCommitResponse {
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}

// ---- OffsetFetch (v8+ shape) -----------------------------------------------------------------------

export interface OffsetFetchRequestGroup {
  groupId: string;
  /** null: every committed partition of the group. */
  topics: { name: string; partitionIndexes: number[] }[] | null;
}

/** For v0-7 the server passes `groups: [{ groupId, topics }]` and unwraps the one group of the answer. */
export interface OffsetFetchRequest {
  groups: OffsetFetchRequestGroup[];
  requireStable?: boolean;
}

export interface OffsetFetchResponsePartition {
  partitionIndex: number;
  committedOffset: bigint;
  committedLeaderEpoch: number;
  metadata: string | null;
  errorCode: number;
}

export interface OffsetFetchResponseGroup {
  groupId: string;
  topics: { name: string; partitions: OffsetFetchResponsePartition[] }[];
  errorCode: number;
}

export interface OffsetFetchResponse {
  groups: OffsetFetchResponseGroup[];
}

// ---- OffsetDelete -------------------------------------------------------------------------------------

export interface OffsetDeleteRequest {
  groupId: string;
  topics: { name: string; partitions: { partitionIndex: number }[] }[];
}

export interface OffsetDeleteResponse {
  errorCode: number;
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}

// ---- ListGroups / DescribeGroups / DeleteGroups --------------------------------------------------

export interface ListGroupsRequest {
  statesFilter?: string[];
  typesFilter?: string[];
}

export interface ListedGroup {
  groupId: string;
  protocolType: string;
  groupState: string;
  groupType: string;
}

export interface ListGroupsResponse {
  errorCode: number;
  groups: ListedGroup[];
}

export interface DescribeGroupsRequest {
  groups: string[];
  includeAuthorizedOperations?: boolean;
}

export interface DescribedGroupMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  memberMetadata: Buffer;
  memberAssignment: Buffer;
}

export interface DescribedGroup {
  errorCode: number;
  groupId: string;
  groupState: string;
  protocolType: string;
  protocolData: string;
  members: DescribedGroupMember[];
  /** Kafka's "not requested" sentinel; the server fills it in when it implements ACLs. */
  authorizedOperations: number;
}

export interface DescribeGroupsResponse {
  groups: DescribedGroup[];
}

export interface DeleteGroupsRequest {
  groupsNames: string[];
}

export interface DeleteGroupsResponse {
  results: { groupId: string; errorCode: number }[];
}

// ---- Records (the __consumer_offsets content) --------------------------------------------------------

/** OffsetCommitValue: what one committed partition holds. */
export interface OffsetValue {
  offset: bigint;
  leaderEpoch: number;
  metadata: string;
  commitTimestamp: number;
  /** Only for commits that carried a retention time (OffsetCommit v2-4); -1 otherwise. */
  expireTimestamp: number;
}

export interface GroupMemberValue {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  /** The member's metadata for the selected protocol. */
  subscription: Buffer;
  assignment: Buffer;
}

/** GroupMetadataValue: a group's persisted membership (written when a generation becomes Stable or Empty). */
export interface GroupMetadataValue {
  protocolType: string;
  generation: number;
  protocol: string | null;
  leader: string | null;
  currentStateTimestamp: number;
  members: GroupMemberValue[];
}

/** One record of the group log. A null value is a tombstone. */
export type GroupRecord =
  | { type: "offset"; groupId: string; topic: string; partition: number; value: OffsetValue | null }
  | { type: "group"; groupId: string; value: GroupMetadataValue | null };

/** Compaction key: records with the same key supersede each other. */
export function recordKey(r: GroupRecord): string {
  return r.type === "offset"
    ? JSON.stringify(["o", r.groupId, r.topic, r.partition])
    : JSON.stringify(["g", r.groupId]);
}
