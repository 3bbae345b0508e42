// The client abstraction of the conformance matrix: one test body runs against every
// ConformanceClient (kafkajs, node-rdkafka). Each implementation declares what its library cannot do
// (`unsupported`), so a test of such an operation is reported "not supported" with that reason and
// never passes by pretending.

export type ClientKind = "kafkajs" | "rdkafka";
export const CLIENT_KINDS: readonly ClientKind[] = ["kafkajs", "rdkafka"];

export type CompressionName = "none" | "gzip" | "snappy" | "lz4" | "zstd";

export interface OutMessage {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string>;
  partition?: number;
  /** CreateTime in ms since the epoch (default: now). */
  timestamp?: number;
}

export interface ProduceOptions {
  /** 0, 1 or -1 (all); default -1. */
  acks?: 0 | 1 | -1;
  compression?: CompressionName;
  idempotent?: boolean;
  /** Retries for retriable errors (default 2; error tests use 0 to see the broker's first answer). */
  retries?: number;
  timeoutMs?: number;
}

/** Where a produce call's records went: per partition, the offset of the first record written there. */
export interface PartitionResult {
  partition: number;
  baseOffset: bigint;
}

export interface InMessage {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

export type ResetPolicy = "earliest" | "latest" | "none";

export interface ConsumeOptions {
  /** Number of messages to wait for. */
  count: number;
  /** Where to start when no explicit offsets are given (default "earliest"). */
  from?: "earliest" | "latest";
  /** Start offsets per partition (out-of-range tests); other partitions start at `from`. */
  offsets?: { partition: number; offset: bigint }[];
  /** What to do when the start offset is out of range (default: same as `from`). */
  reset?: ResetPolicy;
  /** Consume as a member of this group (subscribe) instead of by assignment. */
  groupId?: string;
  isolation?: "read_committed" | "read_uncommitted";
  timeoutMs?: number;
  /** Called once the consumer is assigned and positioned (e.g. to produce "new" records). */
  onReady?: () => Promise<void>;
}

export interface ConsumeResult {
  messages: InMessage[];
  /** The Kafka error name when consumption failed (e.g. OFFSET_OUT_OF_RANGE with reset "none"). */
  error?: string;
}

export interface TopicSpec {
  topic: string;
  partitions?: number;
  replicationFactor?: number;
  configs?: Record<string, string>;
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: bigint;
}

export interface GroupSummary {
  groupId: string;
  protocolType: string;
}

export interface GroupDescription {
  groupId: string;
  state: string;
  protocolType: string;
  protocol: string;
  members: { memberId: string; clientId: string; assignment: { topic: string; partitions: number[] }[] }[];
}

export type Assignment = { topic: string; partition: number }[];

export interface GroupMemberOptions {
  groupId: string;
  topics: string[];
  /** Default: the client's default (kafkajs roundrobin, rdkafka range). */
  assignor?: "range" | "roundrobin" | "cooperative-sticky";
  sessionTimeoutMs?: number;
  /** Static membership (group.instance.id). */
  instanceId?: string;
  /** Start at the earliest offset when the group has no committed offset (default true). */
  fromBeginning?: boolean;
}

export interface GroupMember {
  readonly groupId: string;
  /** The current assignment, sorted by topic then partition. */
  assignment(): Assignment;
  /** Every assignment this member held, in order (an eager revocation shows as []). */
  history(): Assignment[];
  /** How many assignments (rebalances) this member has seen. */
  readonly generations: number;
  /** Waits until the current assignment satisfies pred; returns it. */
  waitForAssignment(pred: (a: Assignment) => boolean, timeoutMs?: number): Promise<Assignment>;
  /** Messages received so far. */
  readonly received: InMessage[];
  waitForMessages(count: number, timeoutMs?: number): Promise<InMessage[]>;
  /** Commits offsets (the next offset to read) synchronously. */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /** Leaves the group gracefully (LeaveGroup unless static) and closes. */
  leave(): Promise<void>;
}

/** Operations a client may lack, with the reason; checked by the test wrapper before a test runs. */
export type ClientOp =
  | "describeConfigs"
  | "alterConfigs"
  | "listOffsets"
  | "listOffsetsByTimestamp"
  | "deleteRecords"
  | "listGroups"
  | "describeGroups"
  | "deleteGroups"
  | "fetchOffsets"
  | "cooperativeSticky"
  | "staticMembership"
  | "resetNone"
  | "transactions"
  | "emptyValue";

export interface ConformanceClient {
  readonly kind: ClientKind;
  /** Operations this client cannot perform, with the reason (absent = supported). */
  readonly unsupported: Partial<Record<ClientOp, string>>;

  produce(topic: string, messages: OutMessage[], opts?: ProduceOptions): Promise<PartitionResult[]>;
  consume(topic: string, opts: ConsumeOptions): Promise<ConsumeResult>;
  /** Transactional produce: writes the messages in one transaction, then commits or aborts it. */
  produceTransaction(topic: string, messages: OutMessage[], outcome: "commit" | "abort"): Promise<void>;

  createTopics(topics: TopicSpec[]): Promise<void>;
  deleteTopics(topics: string[]): Promise<void>;
  createPartitions(topic: string, totalCount: number): Promise<void>;
  describeConfigs(topic: string): Promise<Record<string, string | null>>;
  alterConfigs(topic: string, configs: Record<string, string>): Promise<void>;
  /** Earliest/latest offsets per partition, or the first offset at/after a timestamp. */
  listOffsets(
    topic: string,
    spec: "earliest" | "latest" | { timestamp: number },
  ): Promise<Map<number, bigint>>;
  deleteRecords(topic: string, partition: number, beforeOffset: bigint): Promise<void>;
  listGroups(): Promise<GroupSummary[]>;
  describeGroups(groupIds: string[]): Promise<GroupDescription[]>;
  deleteGroups(groupIds: string[]): Promise<void>;
  fetchOffsets(groupId: string, topic: string): Promise<Map<number, bigint>>;
  joinGroup(opts: GroupMemberOptions): Promise<GroupMember>;

  close(): Promise<void>;
}

/** An error from a client, normalised to the Kafka error name when the broker sent one. */
export class ClientError extends Error {
  constructor(
    /** Kafka error name (e.g. "TOPIC_ALREADY_EXISTS"), or the client's own error name. */
    readonly kafkaError: string,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(`${kafkaError}: ${message}`);
    this.name = "ClientError";
  }
}

export function sortAssignment(a: Assignment): Assignment {
  return [...a].sort((x, y) => x.topic.localeCompare(y.topic) || x.partition - y.partition);
}
