/**
 * The classic consumer-group coordinator as a pure state machine: no timers, no I/O, no clock.
 *
 * Every input carries the current time (`now`, ms). Inputs that answer a client take a request id
 * (`rid`) chosen by the caller; their responses come back in `Output.deliveries`, either at once or
 * later (JoinGroup responses wait for the rebalance, follower SyncGroups wait for the leader, writes
 * wait for their records to be persisted). Records to persist come back in `Output.appends`; the
 * caller persists them in order and reports each outcome with `appendCompleted(id, errorCode, now)`.
 * Timeouts (session, rebalance, initial delay, pending sync, offset retention) are driven by `tick(now)`
 * and by the time carried on every input; `nextDeadline()` says when the next one is due.
 *
 * Semantics follow Apache Kafka's classic group protocol as its group coordinator implements it
 * (states Empty → PreparingRebalance → CompletingRebalance → Stable, Dead once deleted).
 */
import { randomUUID } from "node:crypto";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { CONSUMER_PROTOCOL_TYPE, subscribedTopicsOf } from "./consumer-protocol.ts";
import type {
  DeleteGroupsRequest,
  DeleteGroupsResponse,
  DescribedGroup,
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  GroupMetadataValue,
  GroupRecord,
  GroupStateName,
  HeartbeatRequest,
  HeartbeatResponse,
  JoinGroupProtocol,
  JoinGroupRequest,
  JoinGroupResponse,
  JoinGroupResponseMember,
  LeaveGroupMemberResponse,
  LeaveGroupRequest,
  LeaveGroupResponse,
  ListGroupsRequest,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetDeleteRequest,
  OffsetDeleteResponse,
  OffsetFetchRequest,
  OffsetFetchRequestGroup,
  OffsetFetchResponse,
  OffsetFetchResponseGroup,
  OffsetValue,
  RequestContext,
  SyncGroupRequest,
  SyncGroupResponse,
} from "./types.ts";

const E = ERROR_CODES;
const EMPTY = Buffer.alloc(0);
/** DescribeGroups' AuthorizedOperations when not computed (Kafka's Integer.MIN_VALUE default). */
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

export interface GroupConfig {
  /** group.initial.rebalance.delay.ms (Kafka default 3000). */
  initialRebalanceDelayMs: number;
  /** group.min.session.timeout.ms (Kafka default 6000). */
  minSessionTimeoutMs: number;
  /** group.max.session.timeout.ms (Kafka default 1800000). */
  maxSessionTimeoutMs: number;
  /** group.max.size (Kafka default Integer.MAX_VALUE). */
  maxGroupSize: number;
  /** How long a new member's JoinGroup may wait for the rebalance (Kafka: 5 minutes). */
  newMemberJoinTimeoutMs: number;
  /** offsets.retention.minutes, in ms (Kafka default 7 days). 0 or less disables expiry. */
  offsetsRetentionMs: number;
  /** offsets.retention.check.interval.ms (Kafka default 600000). */
  offsetsRetentionCheckIntervalMs: number;
  /** offset.metadata.max.bytes (Kafka default 4096). */
  offsetMetadataMaxBytes: number;
}

export const DEFAULT_GROUP_CONFIG: GroupConfig = {
  initialRebalanceDelayMs: 3000,
  minSessionTimeoutMs: 6000,
  maxSessionTimeoutMs: 1_800_000,
  maxGroupSize: 2_147_483_647,
  newMemberJoinTimeoutMs: 300_000,
  offsetsRetentionMs: 7 * 24 * 60 * 60 * 1000,
  offsetsRetentionCheckIntervalMs: 600_000,
  offsetMetadataMaxBytes: 4096,
};

export type Delivery =
  | { rid: number; api: "joinGroup"; response: JoinGroupResponse }
  | { rid: number; api: "syncGroup"; response: SyncGroupResponse }
  | { rid: number; api: "heartbeat"; response: HeartbeatResponse }
  | { rid: number; api: "leaveGroup"; response: LeaveGroupResponse }
  | { rid: number; api: "offsetCommit"; response: OffsetCommitResponse }
  | { rid: number; api: "offsetDelete"; response: OffsetDeleteResponse }
  | { rid: number; api: "deleteGroups"; response: DeleteGroupsResponse };

/** Records to persist, in order; report the outcome with `appendCompleted(id, ...)`. */
export interface PendingAppend {
  id: number;
  records: GroupRecord[];
}

export interface Output {
  deliveries: Delivery[];
  appends: PendingAppend[];
}

export interface StateMachineOptions {
  config?: Partial<GroupConfig>;
  /** Member id generator; Kafka uses `<clientId or groupInstanceId>-<uuid>`. */
  newMemberId?: (prefix: string) => string;
}

interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  protocolType: string;
  protocols: JoinGroupProtocol[];
  assignment: Buffer;
  /** Request id of a parked JoinGroup. */
  awaitingJoin: number | undefined;
  /** Request id of a parked SyncGroup. */
  awaitingSync: number | undefined;
  isNew: boolean;
  heartbeatDeadline: number;
}

type JoinTimer =
  | { kind: "initial"; at: number; delayMs: number; remainingMs: number }
  | { kind: "complete"; at: number };

class Group {
  state: GroupStateName = "Empty";
  previousState: GroupStateName = "Empty";
  stateTimestamp: number;
  generationId = 0;
  protocolType: string | undefined;
  protocolName: string | undefined;
  leaderId: string | undefined;
  /** Insertion-ordered; the first member becomes leader when the leader leaves. */
  readonly members = new Map<string, Member>();
  /** groupInstanceId → memberId */
  readonly staticMembers = new Map<string, string>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, → expiry time. */
  readonly pendingJoin = new Map<string, number>();
  /** Members of this generation that have not sent SyncGroup yet. */
  readonly pendingSync = new Set<string>();
  newMemberAdded = false;
  joinTimer: JoinTimer | undefined;
  syncTimer: { at: number; generation: number } | undefined;
  /** Topics the members subscribe to (consumer protocol only); undefined when unknown. */
  subscribedTopics: Set<string> | undefined;
  /** Committed offsets: topic → partition → value. */
  readonly offsets = new Map<string, Map<number, OffsetValue>>();

  constructor(
    readonly groupId: string,
    now: number,
  ) {
    this.stateTimestamp = now;
  }

  transitionTo(state: GroupStateName, now: number): void {
    this.previousState = this.state;
    this.state = state;
    this.stateTimestamp = now;
  }

  isLeader(memberId: string): boolean {
    return this.leaderId === memberId;
  }

  /** The longest rebalance timeout of the members (0 without members). */
  rebalanceTimeoutMs(): number {
    let max = 0;
    for (const m of this.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
    return max;
  }

  numAwaitingJoin(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.awaitingJoin !== undefined) n++;
    return n;
  }

  hasAllMembersJoined(): boolean {
    return this.members.size === this.numAwaitingJoin() && this.pendingJoin.size === 0;
  }

  canRebalance(): boolean {
    return this.state === "Stable" || this.state === "CompletingRebalance" || this.state === "Empty";
  }

  protocolCount(name: string): number {
    let n = 0;
    for (const m of this.members.values()) if (m.protocols.some((p) => p.name === name)) n++;
    return n;
  }

  supportsProtocols(protocolType: string, protocols: JoinGroupProtocol[]): boolean {
    if (this.state === "Empty") return protocolType !== "" && protocols.length > 0;
    return (
      this.protocolType === protocolType &&
      protocols.some((p) => this.protocolCount(p.name) === this.members.size)
    );
  }

  /** The protocol all members support that most members prefer (ties: the first voted for). */
  selectProtocol(): string {
    const candidates = new Set<string>();
    for (const m of this.members.values()) {
      for (const p of m.protocols)
        if (this.protocolCount(p.name) === this.members.size) candidates.add(p.name);
    }
    const votes = new Map<string, number>();
    for (const m of this.members.values()) {
      const vote = m.protocols.find((p) => candidates.has(p.name));
      if (vote) votes.set(vote.name, (votes.get(vote.name) ?? 0) + 1);
    }
    let best: string | undefined;
    let bestVotes = -1;
    for (const [name, n] of votes) {
      if (n > bestVotes) {
        best = name;
        bestVotes = n;
      }
    }
    if (best === undefined) throw new Error(`group ${this.groupId}: no protocol supported by all members`);
    return best;
  }

  memberMetadata(m: Member): Buffer {
    return m.protocols.find((p) => p.name === this.protocolName)?.metadata ?? EMPTY;
  }

  currentMembers(): JoinGroupResponseMember[] {
    return [...this.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      metadata: this.memberMetadata(m),
    }));
  }

  computeSubscribedTopics(): Set<string> | undefined {
    if (this.protocolType !== CONSUMER_PROTOCOL_TYPE) return undefined;
    if (this.members.size === 0) return new Set();
    if (this.protocolName === undefined) return undefined;
    const all = new Set<string>();
    for (const m of this.members.values()) {
      const topics = subscribedTopicsOf(this.memberMetadata(m));
      if (topics === undefined) return undefined;
      for (const t of topics) all.add(t);
    }
    return all;
  }

  isSubscribedToTopic(topic: string): boolean {
    return this.subscribedTopics?.has(topic) ?? false;
  }

  offset(topic: string, partition: number): OffsetValue | undefined {
    return this.offsets.get(topic)?.get(partition);
  }

  setOffset(topic: string, partition: number, value: OffsetValue | null): void {
    if (value === null) {
      const byPartition = this.offsets.get(topic);
      byPartition?.delete(partition);
      if (byPartition?.size === 0) this.offsets.delete(topic);
      return;
    }
    let byPartition = this.offsets.get(topic);
    if (!byPartition) {
      byPartition = new Map();
      this.offsets.set(topic, byPartition);
    }
    byPartition.set(partition, value);
  }
}

function protocolsEqual(a: JoinGroupProtocol[], b: JoinGroupProtocol[]): boolean {
  return (
    a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata))
  );
}

function copyProtocols(ps: JoinGroupProtocol[]): JoinGroupProtocol[] {
  return ps.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) }));
}

function joinError(memberId: string, errorCode: number): JoinGroupResponse {
  return {
    errorCode,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leader: "",
    skipAssignment: false,
    memberId,
    members: [],
  };
}

function syncError(errorCode: number): SyncGroupResponse {
  return { errorCode, protocolType: null, protocolName: null, assignment: EMPTY };
}

/**
 * Maps a failed append's error to what clients are told, as Kafka's coordinator does: replication and
 * timeouts become COORDINATOR_NOT_AVAILABLE, losing leadership or a storage error NOT_COORDINATOR, size
 * errors INVALID_COMMIT_OFFSET_SIZE for offset commits (UNKNOWN_SERVER_ERROR otherwise).
 */
export function normalizeAppendError(code: number, forOffsetCommit = false): number {
  switch (code) {
    case E.UNKNOWN_TOPIC_OR_PARTITION:
    case E.NOT_ENOUGH_REPLICAS:
    case E.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case E.REQUEST_TIMED_OUT:
      return E.COORDINATOR_NOT_AVAILABLE;
    case E.NOT_LEADER_OR_FOLLOWER:
    case E.KAFKA_STORAGE_ERROR:
      return E.NOT_COORDINATOR;
    case E.MESSAGE_TOO_LARGE:
    case E.RECORD_LIST_TOO_LARGE:
    case E.INVALID_FETCH_SIZE:
      return forOffsetCommit ? E.INVALID_COMMIT_OFFSET_SIZE : E.UNKNOWN_SERVER_ERROR;
    default:
      return code;
  }
}

/** The single error code of a LeaveGroup v0-2 response. */
export function leaveGroupV0ErrorCode(r: LeaveGroupResponse): number {
  if (r.errorCode !== E.NONE) return r.errorCode;
  return r.members[0]?.errorCode ?? E.NONE;
}

// ---- whole-request error responses (for INVALID_GROUP_ID, COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR) ----

export const errorResponses = {
  joinGroup: (req: JoinGroupRequest, code: number): JoinGroupResponse => joinError(req.memberId, code),
  syncGroup: (_req: SyncGroupRequest, code: number): SyncGroupResponse => syncError(code),
  heartbeat: (_req: HeartbeatRequest, code: number): HeartbeatResponse => ({ errorCode: code }),
  leaveGroup: (_req: LeaveGroupRequest, code: number): LeaveGroupResponse => ({
    errorCode: code,
    members: [],
  }),
  offsetCommit: (req: OffsetCommitRequest, code: number): OffsetCommitResponse => ({
    topics: req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })),
    })),
  }),
  offsetFetch: (req: OffsetFetchRequest, code: number): OffsetFetchResponse => ({
    groups: req.groups.map((g) => ({ groupId: g.groupId, topics: [], errorCode: code })),
  }),
  offsetDelete: (_req: OffsetDeleteRequest, code: number): OffsetDeleteResponse => ({
    errorCode: code,
    topics: [],
  }),
  listGroups: (_req: ListGroupsRequest, code: number): ListGroupsResponse => ({
    errorCode: code,
    groups: [],
  }),
  describeGroups: (req: DescribeGroupsRequest, code: number): DescribeGroupsResponse => ({
    groups: req.groups.map((groupId) => ({
      errorCode: code,
      groupId,
      groupState: "",
      protocolType: "",
      protocolData: "",
      members: [],
      authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
    })),
  }),
  deleteGroups: (req: DeleteGroupsRequest, code: number): DeleteGroupsResponse => ({
    results: req.groupsNames.map((groupId) => ({ groupId, errorCode: code })),
  }),
};

export class GroupStateMachine {
  readonly config: GroupConfig;
  private readonly groups = new Map<string, Group>();
  private readonly generateMemberId: (prefix: string) => string;
  private out: Output = { deliveries: [], appends: [] };
  private nextAppendId = 1;
  private readonly continuations = new Map<number, (errorCode: number, now: number) => void>();
  private nextCleanupAt: number | undefined;

  constructor(options: StateMachineOptions = {}) {
    this.config = { ...DEFAULT_GROUP_CONFIG, ...options.config };
    this.generateMemberId = options.newMemberId ?? ((prefix) => `${prefix}-${randomUUID()}`);
  }

  // ---- loading -------------------------------------------------------------------------------------

  /** Rebuilds state from persisted records (in log order). Call before any input. */
  load(records: Iterable<GroupRecord>, now: number): void {
    const metadata = new Map<string, GroupMetadataValue>();
    const offsets = new Map<string, Map<string, OffsetValue>>();
    const keyOf = (topic: string, partition: number) => JSON.stringify([topic, partition]);
    for (const r of records) {
      if (r.type === "group") {
        if (r.value === null) metadata.delete(r.groupId);
        else metadata.set(r.groupId, r.value);
      } else {
        let byKey = offsets.get(r.groupId);
        if (r.value === null) {
          byKey?.delete(keyOf(r.topic, r.partition));
          continue;
        }
        if (!byKey) {
          byKey = new Map();
          offsets.set(r.groupId, byKey);
        }
        byKey.set(keyOf(r.topic, r.partition), r.value);
      }
    }
    this.groups.clear();
    for (const [groupId, value] of metadata)
      this.groups.set(groupId, this.groupFromRecord(groupId, value, now));
    for (const [groupId, byKey] of offsets) {
      if (byKey.size === 0) continue;
      let group = this.groups.get(groupId);
      if (!group) {
        group = new Group(groupId, now);
        this.groups.set(groupId, group);
      }
      for (const [key, value] of byKey) {
        const [topic, partition] = JSON.parse(key) as [string, number];
        group.setOffset(topic, partition, value);
      }
    }
  }

  private groupFromRecord(groupId: string, v: GroupMetadataValue, now: number): Group {
    const g = new Group(groupId, v.currentStateTimestamp >= 0 ? v.currentStateTimestamp : now);
    g.generationId = v.generation;
    g.protocolType = v.protocolType === "" ? undefined : v.protocolType;
    g.protocolName = v.protocol ?? undefined;
    g.leaderId = v.leader ?? undefined;
    for (const mv of v.members) {
      g.members.set(mv.memberId, {
        memberId: mv.memberId,
        groupInstanceId: mv.groupInstanceId,
        clientId: mv.clientId,
        clientHost: mv.clientHost,
        rebalanceTimeoutMs: mv.rebalanceTimeoutMs,
        sessionTimeoutMs: mv.sessionTimeoutMs,
        protocolType: v.protocolType,
        protocols: v.protocol === null ? [] : [{ name: v.protocol, metadata: mv.subscription }],
        assignment: mv.assignment,
        awaitingJoin: undefined,
        awaitingSync: undefined,
        isNew: false,
        heartbeatDeadline: now + mv.sessionTimeoutMs,
      });
      if (mv.groupInstanceId !== null) g.staticMembers.set(mv.groupInstanceId, mv.memberId);
    }
    g.state = g.members.size > 0 ? "Stable" : "Empty";
    g.previousState = g.state;
    g.subscribedTopics = g.computeSubscribedTopics();
    return g;
  }

  // ---- timers --------------------------------------------------------------------------------------

  /** Fires every timeout due at or before `now`. */
  tick(now: number): Output {
    this.begin(now);
    return this.end(now);
  }

  /** The earliest time a timeout is due, or undefined when nothing is scheduled. */
  nextDeadline(): number | undefined {
    let min = this.nextCleanupAt;
    const consider = (t: number | undefined) => {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    };
    for (const g of this.groups.values()) {
      consider(g.joinTimer?.at);
      consider(g.syncTimer?.at);
      for (const m of g.members.values()) consider(m.heartbeatDeadline);
      for (const t of g.pendingJoin.values()) consider(t);
    }
    return min;
  }

  /** Reports the outcome of a PendingAppend: errorCode 0 when persisted, else a Kafka error code. */
  appendCompleted(id: number, errorCode: number, now: number): Output {
    this.begin(now);
    const k = this.continuations.get(id);
    if (k) {
      this.continuations.delete(id);
      k(errorCode, now);
    }
    return this.end(now);
  }

  private begin(now: number): void {
    this.out = { deliveries: [], appends: [] };
    this.advance(now);
  }

  private end(now: number): Output {
    this.advance(now);
    const out = this.out;
    this.out = { deliveries: [], appends: [] };
    return out;
  }

  private advance(now: number): void {
    if (this.nextCleanupAt === undefined)
      this.nextCleanupAt = now + this.config.offsetsRetentionCheckIntervalMs;
    for (const g of [...this.groups.values()]) this.fireDue(g, now);
    if (now >= this.nextCleanupAt) {
      this.nextCleanupAt = now + this.config.offsetsRetentionCheckIntervalMs;
      this.cleanupOffsets(now);
    }
  }

  /**
   * Fires the group's due timers, earliest first. Like a real timer that runs late, each fires at `now`,
   * so whatever it schedules is relative to `now`.
   */
  private fireDue(g: Group, now: number): void {
    for (;;) {
      if (this.groups.get(g.groupId) !== g) return;
      let at = Number.POSITIVE_INFINITY;
      let fire: (() => void) | undefined;
      const consider = (t: number | undefined, f: () => void) => {
        if (t !== undefined && t <= now && t < at) {
          at = t;
          fire = f;
        }
      };
      const join = g.joinTimer;
      if (join) consider(join.at, () => this.onJoinTimer(g, join, now));
      const sync = g.syncTimer;
      if (sync) consider(sync.at, () => this.onSyncTimer(g, sync.generation, now));
      for (const m of g.members.values())
        consider(m.heartbeatDeadline, () => this.onHeartbeatExpired(g, m, now));
      for (const [memberId, t] of g.pendingJoin)
        consider(t, () => this.onPendingMemberExpired(g, memberId, now));
      if (!fire) return;
      fire();
    }
  }

  private onJoinTimer(g: Group, t: JoinTimer, now: number): void {
    g.joinTimer = undefined;
    if (t.kind === "initial" && g.newMemberAdded && t.remainingMs !== 0) {
      // New members arrived during the initial delay: wait a little longer, within the rebalance timeout.
      g.newMemberAdded = false;
      const delayMs = Math.min(this.config.initialRebalanceDelayMs, t.remainingMs);
      const remainingMs = Math.max(t.remainingMs - t.delayMs, 0);
      g.joinTimer = { kind: "initial", at: now + delayMs, delayMs, remainingMs };
      return;
    }
    this.completeJoin(g, now);
  }

  private onSyncTimer(g: Group, generation: number, now: number): void {
    g.syncTimer = undefined;
    if (g.generationId !== generation) return;
    if ((g.state === "CompletingRebalance" || g.state === "Stable") && g.pendingSync.size > 0) {
      for (const memberId of [...g.pendingSync]) {
        const m = g.members.get(memberId);
        if (m) this.removeMember(g, m);
      }
      g.pendingSync.clear();
      this.prepareRebalance(g, now);
    }
  }

  private onHeartbeatExpired(g: Group, m: Member, now: number): void {
    if (!m.isNew && (m.awaitingJoin !== undefined || m.awaitingSync !== undefined)) {
      // Members parked in a rebalance satisfy their heartbeats.
      m.heartbeatDeadline = now + Math.max(1, m.sessionTimeoutMs);
      return;
    }
    this.removeMemberAndUpdateGroup(g, m, now);
  }

  private onPendingMemberExpired(g: Group, memberId: string, now: number): void {
    g.pendingJoin.delete(memberId);
    if (g.state === "PreparingRebalance" && g.hasAllMembersJoined()) this.completeJoin(g, now);
  }

  // ---- output helpers ---------------------------------------------------------------------------------

  private deliver(d: Delivery): void {
    this.out.deliveries.push(d);
  }

  private append(records: GroupRecord[], k?: (errorCode: number, now: number) => void): void {
    const id = this.nextAppendId++;
    this.out.appends.push({ id, records });
    if (k) this.continuations.set(id, k);
  }

  private completeJoinFuture(m: Member, response: JoinGroupResponse): boolean {
    if (m.awaitingJoin === undefined) return false;
    const rid = m.awaitingJoin;
    m.awaitingJoin = undefined;
    this.deliver({ rid, api: "joinGroup", response });
    return true;
  }

  private completeSyncFuture(m: Member, response: SyncGroupResponse): boolean {
    if (m.awaitingSync === undefined) return false;
    const rid = m.awaitingSync;
    m.awaitingSync = undefined;
    this.deliver({ rid, api: "syncGroup", response });
    return true;
  }

  /** Parks a JoinGroup; an earlier parked one of the same member (abandoned by the client) is answered. */
  private parkJoin(m: Member, rid: number): void {
    this.completeJoinFuture(m, joinError(m.memberId, E.REBALANCE_IN_PROGRESS));
    m.awaitingJoin = rid;
  }

  private parkSync(m: Member, rid: number): void {
    this.completeSyncFuture(m, syncError(E.REBALANCE_IN_PROGRESS));
    m.awaitingSync = rid;
  }

  private getOrCreateGroup(groupId: string, now: number): Group {
    let g = this.groups.get(groupId);
    if (!g) {
      g = new Group(groupId, now);
      this.groups.set(groupId, g);
    }
    return g;
  }

  /** Kafka's ClassicGroup.validateMember: UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID, else 0. */
  private validateMember(g: Group, memberId: string, groupInstanceId: string | null | undefined): number {
    if (groupInstanceId !== null && groupInstanceId !== undefined) {
      const existing = g.staticMembers.get(groupInstanceId);
      if (existing === undefined) return E.UNKNOWN_MEMBER_ID;
      if (existing !== memberId) return E.FENCED_INSTANCE_ID;
      return E.NONE;
    }
    return g.members.has(memberId) ? E.NONE : E.UNKNOWN_MEMBER_ID;
  }

  // ---- JoinGroup -------------------------------------------------------------------------------------

  joinGroup(rid: number, req: JoinGroupRequest, ctx: RequestContext, now: number): Output {
    this.begin(now);
    const reply = (response: JoinGroupResponse) => this.deliver({ rid, api: "joinGroup", response });
    const memberId = req.memberId;
    if (!req.groupId) {
      reply(joinError(memberId, E.INVALID_GROUP_ID));
    } else if (
      req.sessionTimeoutMs < this.config.minSessionTimeoutMs ||
      req.sessionTimeoutMs > this.config.maxSessionTimeoutMs
    ) {
      reply(joinError(memberId, E.INVALID_SESSION_TIMEOUT));
    } else {
      const isUnknownMember = memberId === "";
      let g = this.groups.get(req.groupId);
      if (!g && !isUnknownMember) {
        reply(joinError(memberId, E.UNKNOWN_MEMBER_ID));
      } else {
        g ??= this.getOrCreateGroup(req.groupId, now);
        if (!this.acceptJoiningMember(g, memberId)) {
          const existing = g.members.get(memberId);
          if (existing) this.removeMember(g, existing);
          g.pendingJoin.delete(memberId);
          reply(joinError("", E.GROUP_MAX_SIZE_REACHED));
        } else if (isUnknownMember) {
          this.joinNewMember(g, rid, req, ctx, now);
        } else {
          this.joinExistingMember(g, rid, req, ctx, now);
        }
        // The first rebalance of a brand-new group always waits for the initial delay.
        if (g.state === "PreparingRebalance" && g.hasAllMembersJoined() && g.generationId !== 0) {
          this.completeJoin(g, now);
        }
      }
    }
    return this.end(now);
  }

  private acceptJoiningMember(g: Group, memberId: string): boolean {
    const max = this.config.maxGroupSize;
    switch (g.state) {
      case "Empty":
      case "Dead":
        return true;
      case "PreparingRebalance":
        return g.members.get(memberId)?.awaitingJoin !== undefined || g.numAwaitingJoin() < max;
      default:
        return g.members.has(memberId) || g.members.size < max;
    }
  }

  private joinNewMember(
    g: Group,
    rid: number,
    req: JoinGroupRequest,
    ctx: RequestContext,
    now: number,
  ): void {
    const reply = (response: JoinGroupResponse) => this.deliver({ rid, api: "joinGroup", response });
    if (g.state === "Dead") {
      reply(joinError("", E.COORDINATOR_NOT_AVAILABLE));
      return;
    }
    if (!g.supportsProtocols(req.protocolType, req.protocols)) {
      reply(joinError("", E.INCONSISTENT_GROUP_PROTOCOL));
      return;
    }
    const instanceId = req.groupInstanceId ?? null;
    const newMemberId = this.generateMemberId(instanceId ?? ctx.clientId);
    if (instanceId !== null) {
      const existing = g.staticMembers.get(instanceId);
      if (existing !== undefined)
        this.updateStaticMemberThenRejoin(g, rid, req, ctx, existing, newMemberId, now);
      else this.addMemberThenRejoin(g, rid, req, ctx, newMemberId, now);
    } else if (ctx.apiVersion >= 4) {
      // The client must rejoin with this id; until then it holds up the rebalance as a pending member.
      g.pendingJoin.set(newMemberId, now + req.sessionTimeoutMs);
      reply(joinError(newMemberId, E.MEMBER_ID_REQUIRED));
    } else {
      this.addMemberThenRejoin(g, rid, req, ctx, newMemberId, now);
    }
  }

  private joinExistingMember(
    g: Group,
    rid: number,
    req: JoinGroupRequest,
    ctx: RequestContext,
    now: number,
  ): void {
    const reply = (response: JoinGroupResponse) => this.deliver({ rid, api: "joinGroup", response });
    const memberId = req.memberId;
    if (g.state === "Dead") {
      reply(joinError(memberId, E.COORDINATOR_NOT_AVAILABLE));
      return;
    }
    if (!g.supportsProtocols(req.protocolType, req.protocols)) {
      reply(joinError(memberId, E.INCONSISTENT_GROUP_PROTOCOL));
      return;
    }
    if (g.pendingJoin.has(memberId)) {
      this.addMemberThenRejoin(g, rid, req, ctx, memberId, now);
      return;
    }
    const err = this.validateMember(g, memberId, req.groupInstanceId);
    if (err !== E.NONE) {
      reply(joinError(memberId, err));
      return;
    }
    const m = g.members.get(memberId)!;
    const currentGeneration = (members: JoinGroupResponseMember[]): JoinGroupResponse => ({
      errorCode: E.NONE,
      generationId: g.generationId,
      protocolType: g.protocolType ?? null,
      protocolName: g.protocolName ?? null,
      leader: g.leaderId ?? "",
      skipAssignment: false,
      memberId,
      members,
    });
    switch (g.state) {
      case "PreparingRebalance":
        this.updateMemberThenRejoin(g, m, rid, req, now);
        return;
      case "CompletingRebalance":
        // Same metadata: the member probably lost the JoinGroup response; resend this generation's.
        if (protocolsEqual(m.protocols, req.protocols)) {
          reply(currentGeneration(g.isLeader(memberId) ? g.currentMembers() : []));
          return;
        }
        this.updateMemberThenRejoin(g, m, rid, req, now);
        return;
      case "Stable":
        // A leader's JoinGroup always rebalances (it may have seen metadata changes the members have not).
        if (g.isLeader(memberId) || !protocolsEqual(m.protocols, req.protocols)) {
          this.updateMemberThenRejoin(g, m, rid, req, now);
          return;
        }
        reply(currentGeneration([]));
        return;
      default:
        reply(joinError(memberId, E.UNKNOWN_MEMBER_ID));
        return;
    }
  }

  private rebalanceTimeoutOf(req: JoinGroupRequest): number {
    const t = req.rebalanceTimeoutMs ?? -1;
    return t < 0 ? req.sessionTimeoutMs : t;
  }

  private addMemberThenRejoin(
    g: Group,
    rid: number,
    req: JoinGroupRequest,
    ctx: RequestContext,
    memberId: string,
    now: number,
  ): void {
    const m: Member = {
      memberId,
      groupInstanceId: req.groupInstanceId ?? null,
      clientId: ctx.clientId,
      clientHost: ctx.clientHost,
      rebalanceTimeoutMs: this.rebalanceTimeoutOf(req),
      sessionTimeoutMs: req.sessionTimeoutMs,
      protocolType: req.protocolType,
      protocols: copyProtocols(req.protocols),
      assignment: EMPTY,
      awaitingJoin: rid,
      awaitingSync: undefined,
      isNew: true,
      // A new member cannot heartbeat while parked; bound how long its JoinGroup may wait instead.
      heartbeatDeadline: now + this.config.newMemberJoinTimeoutMs,
    };
    if (g.state === "PreparingRebalance" && g.previousState === "Empty") g.newMemberAdded = true;
    if (g.members.size === 0) g.protocolType = m.protocolType;
    g.leaderId ??= memberId;
    if (m.groupInstanceId !== null) g.staticMembers.set(m.groupInstanceId, memberId);
    g.members.set(memberId, m);
    g.pendingJoin.delete(memberId);
    this.maybePrepareRebalanceOrCompleteJoin(g, now);
  }

  private updateMember(
    m: Member,
    protocols: JoinGroupProtocol[],
    rebalanceTimeoutMs: number,
    sessionTimeoutMs: number,
  ): void {
    m.protocols = copyProtocols(protocols);
    m.rebalanceTimeoutMs = rebalanceTimeoutMs;
    m.sessionTimeoutMs = sessionTimeoutMs;
  }

  private updateMemberThenRejoin(g: Group, m: Member, rid: number, req: JoinGroupRequest, now: number): void {
    this.updateMember(m, req.protocols, this.rebalanceTimeoutOf(req), req.sessionTimeoutMs);
    this.parkJoin(m, rid);
    this.maybePrepareRebalanceOrCompleteJoin(g, now);
  }

  /**
   * A static member rejoined with an unknown member id: it takes over the old member (new id, same
   * assignment); the old id is fenced. In a Stable group whose selected protocol does not change, no
   * rebalance happens: the group is persisted and the member told the current generation.
   */
  private updateStaticMemberThenRejoin(
    g: Group,
    rid: number,
    req: JoinGroupRequest,
    ctx: RequestContext,
    oldMemberId: string,
    newMemberId: string,
    now: number,
  ): void {
    const instanceId = req.groupInstanceId!;
    const previousLeader = g.leaderId;
    const m = this.replaceStaticMember(g, instanceId, oldMemberId, newMemberId);
    m.heartbeatDeadline = now + m.sessionTimeoutMs;
    const old = {
      protocols: m.protocols,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      sessionTimeoutMs: m.sessionTimeoutMs,
    };
    this.updateMember(m, req.protocols, this.rebalanceTimeoutOf(req), req.sessionTimeoutMs);
    this.parkJoin(m, rid);
    switch (g.state) {
      case "Stable": {
        if (g.protocolName !== g.selectProtocol()) {
          this.prepareRebalance(g, now);
          return;
        }
        const assignments = new Map([...g.members.values()].map((x) => [x.memberId, x.assignment]));
        this.append([this.groupRecord(g, assignments)], (errorCode, at) => {
          if (errorCode !== E.NONE) {
            // Not persisted: give the old member id back its place.
            if (g.members.get(newMemberId) === m && g.staticMembers.get(instanceId) === newMemberId) {
              const pending = m.awaitingJoin;
              m.awaitingJoin = undefined;
              this.updateMember(m, old.protocols, old.rebalanceTimeoutMs, old.sessionTimeoutMs);
              const restored = this.replaceStaticMember(g, instanceId, newMemberId, oldMemberId);
              restored.heartbeatDeadline = at + restored.sessionTimeoutMs;
              m.awaitingJoin = pending;
            }
            this.completeJoinFuture(m, {
              errorCode: normalizeAppendError(errorCode),
              generationId: g.generationId,
              protocolType: g.protocolType ?? null,
              protocolName: g.protocolName ?? null,
              leader: previousLeader ?? "",
              skipAssignment: false,
              memberId: "",
              members: [],
            });
            return;
          }
          const isLeader = g.isLeader(newMemberId);
          const skip = ctx.apiVersion >= 9 && isLeader;
          this.completeJoinFuture(m, {
            errorCode: E.NONE,
            generationId: g.generationId,
            protocolType: g.protocolType ?? null,
            protocolName: g.protocolName ?? null,
            leader: g.leaderId ?? "",
            skipAssignment: skip,
            memberId: newMemberId,
            members: skip ? g.currentMembers() : [],
          });
        });
        return;
      }
      case "CompletingRebalance":
        // The leader may already be assigning to the old member id: rebalance so the new id gets an assignment.
        this.prepareRebalance(g, now);
        return;
      default:
        // PreparingRebalance: the new member id simply waits for the rebalance.
        return;
    }
  }

  private replaceStaticMember(
    g: Group,
    instanceId: string,
    oldMemberId: string,
    newMemberId: string,
  ): Member {
    const old = g.members.get(oldMemberId)!;
    g.members.delete(oldMemberId);
    this.completeJoinFuture(old, { ...joinError(oldMemberId, E.FENCED_INSTANCE_ID) });
    this.completeSyncFuture(old, syncError(E.FENCED_INSTANCE_ID));
    const m: Member = {
      ...old,
      memberId: newMemberId,
      awaitingJoin: undefined,
      awaitingSync: undefined,
      isNew: false,
    };
    g.members.set(newMemberId, m);
    if (g.isLeader(oldMemberId)) g.leaderId = newMemberId;
    g.staticMembers.set(instanceId, newMemberId);
    if (g.pendingSync.delete(oldMemberId)) g.pendingSync.add(newMemberId);
    return m;
  }

  // ---- rebalance -------------------------------------------------------------------------------------

  private maybePrepareRebalanceOrCompleteJoin(g: Group, now: number): void {
    if (g.canRebalance()) this.prepareRebalance(g, now);
    else this.maybeCompleteJoinPhase(g, now);
  }

  private maybeCompleteJoinPhase(g: Group, now: number): void {
    if (g.state === "PreparingRebalance" && g.hasAllMembersJoined() && g.previousState !== "Empty") {
      this.completeJoin(g, now);
    }
  }

  private prepareRebalance(g: Group, now: number): void {
    // Members waiting for an assignment must rejoin instead.
    if (g.state === "CompletingRebalance")
      this.resetAndPropagateAssignmentWithError(g, E.REBALANCE_IN_PROGRESS, now);
    g.syncTimer = undefined;
    const initial = g.state === "Empty";
    if (initial) {
      const delayMs = this.config.initialRebalanceDelayMs;
      g.joinTimer = {
        kind: "initial",
        at: now + delayMs,
        delayMs,
        remainingMs: Math.max(g.rebalanceTimeoutMs() - delayMs, 0),
      };
    }
    g.transitionTo("PreparingRebalance", now);
    if (!initial) {
      if (g.hasAllMembersJoined()) this.completeJoin(g, now);
      else g.joinTimer = { kind: "complete", at: now + g.rebalanceTimeoutMs() };
    }
  }

  private completeJoin(g: Group, now: number): void {
    g.joinTimer = undefined;
    if (g.state !== "PreparingRebalance") return;
    // Dynamic members that did not rejoin in time are dropped; static ones stay until their session expires.
    for (const m of [...g.members.values()]) {
      if (m.awaitingJoin === undefined && m.groupInstanceId === null) this.removeMember(g, m);
    }
    if (!this.maybeElectNewJoinedLeader(g) && g.members.size > 0) {
      // Nobody rejoined: wait again until session timeouts have removed the silent members.
      g.joinTimer = { kind: "complete", at: now + Math.max(1, g.rebalanceTimeoutMs()) };
      return;
    }
    this.initNextGeneration(g, now);
    if ((g.state as GroupStateName) === "Empty") {
      this.append([this.groupRecord(g, new Map())]);
      return;
    }
    for (const m of g.members.values()) {
      this.completeJoinFuture(m, {
        errorCode: E.NONE,
        generationId: g.generationId,
        protocolType: g.protocolType ?? null,
        protocolName: g.protocolName ?? null,
        leader: g.leaderId ?? "",
        skipAssignment: false,
        memberId: m.memberId,
        members: g.isLeader(m.memberId) ? g.currentMembers() : [],
      });
      m.heartbeatDeadline = now + m.sessionTimeoutMs;
      m.isNew = false;
      g.pendingSync.add(m.memberId);
    }
    g.syncTimer = { at: now + g.rebalanceTimeoutMs(), generation: g.generationId };
  }

  private maybeElectNewJoinedLeader(g: Group): boolean {
    if (g.leaderId === undefined) return false;
    const leader = g.members.get(g.leaderId);
    if (leader?.awaitingJoin !== undefined) return true;
    for (const m of g.members.values()) {
      if (m.awaitingJoin !== undefined) {
        g.leaderId = m.memberId;
        return true;
      }
    }
    return false;
  }

  private initNextGeneration(g: Group, now: number): void {
    g.generationId++;
    if (g.members.size > 0) {
      g.protocolName = g.selectProtocol();
      g.subscribedTopics = g.computeSubscribedTopics();
      g.transitionTo("CompletingRebalance", now);
    } else {
      g.protocolName = undefined;
      g.subscribedTopics = g.computeSubscribedTopics();
      g.transitionTo("Empty", now);
    }
    g.pendingSync.clear();
  }

  private resetAndPropagateAssignmentWithError(g: Group, errorCode: number, now: number): void {
    for (const m of g.members.values()) m.assignment = EMPTY;
    this.propagateAssignment(g, errorCode, now);
  }

  private propagateAssignment(g: Group, errorCode: number, now: number): void {
    const ok = errorCode === E.NONE;
    for (const m of g.members.values()) {
      const sent = this.completeSyncFuture(m, {
        errorCode,
        protocolType: ok ? (g.protocolType ?? null) : null,
        protocolName: ok ? (g.protocolName ?? null) : null,
        assignment: m.assignment,
      });
      // A session that expired while parked was ignored; start it afresh.
      if (sent) m.heartbeatDeadline = now + m.sessionTimeoutMs;
    }
  }

  /** Removes a member; a parked JoinGroup or SyncGroup of it is answered with UNKNOWN_MEMBER_ID. */
  private removeMember(g: Group, m: Member): void {
    this.completeJoinFuture(m, joinError("", E.UNKNOWN_MEMBER_ID));
    this.completeSyncFuture(m, syncError(E.UNKNOWN_MEMBER_ID));
    g.members.delete(m.memberId);
    if (m.groupInstanceId !== null && g.staticMembers.get(m.groupInstanceId) === m.memberId) {
      g.staticMembers.delete(m.groupInstanceId);
    }
    if (g.isLeader(m.memberId)) g.leaderId = g.members.keys().next().value;
    g.pendingJoin.delete(m.memberId);
    g.pendingSync.delete(m.memberId);
  }

  private removeMemberAndUpdateGroup(g: Group, m: Member, now: number): void {
    this.removeMember(g, m);
    if (g.state === "Stable" || g.state === "CompletingRebalance")
      this.maybePrepareRebalanceOrCompleteJoin(g, now);
    else if (g.state === "PreparingRebalance" && g.hasAllMembersJoined()) this.completeJoin(g, now);
  }

  private groupRecord(g: Group, assignments: Map<string, Buffer>): GroupRecord {
    return {
      type: "group",
      groupId: g.groupId,
      value: {
        protocolType: g.protocolType ?? "",
        generation: g.generationId,
        protocol: g.protocolName ?? null,
        leader: g.leaderId ?? null,
        currentStateTimestamp: g.stateTimestamp,
        members: [...g.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          rebalanceTimeoutMs: m.rebalanceTimeoutMs,
          sessionTimeoutMs: m.sessionTimeoutMs,
          subscription: g.memberMetadata(m),
          assignment: assignments.get(m.memberId) ?? EMPTY,
        })),
      },
    };
  }

  // ---- SyncGroup -------------------------------------------------------------------------------------

  syncGroup(rid: number, req: SyncGroupRequest, _ctx: RequestContext, now: number): Output {
    this.begin(now);
    const reply = (response: SyncGroupResponse) => this.deliver({ rid, api: "syncGroup", response });
    const g = this.groups.get(req.groupId);
    if (!req.groupId) {
      reply(syncError(E.INVALID_GROUP_ID));
    } else if (!g || g.state === "Empty") {
      reply(syncError(E.UNKNOWN_MEMBER_ID));
    } else {
      const err = this.validateSyncGroup(g, req);
      if (err !== E.NONE) {
        reply(syncError(err));
      } else if (g.state === "PreparingRebalance") {
        reply(syncError(E.REBALANCE_IN_PROGRESS));
      } else if (g.state === "CompletingRebalance") {
        const m = g.members.get(req.memberId)!;
        this.parkSync(m, rid);
        this.removePendingSyncMember(g, req.memberId);
        if (g.isLeader(req.memberId)) this.onLeaderAssignment(g, req);
      } else if (g.state === "Stable") {
        this.removePendingSyncMember(g, req.memberId);
        reply({
          errorCode: E.NONE,
          protocolType: g.protocolType ?? null,
          protocolName: g.protocolName ?? null,
          assignment: g.members.get(req.memberId)!.assignment,
        });
      }
    }
    return this.end(now);
  }

  private validateSyncGroup(g: Group, req: SyncGroupRequest): number {
    if (g.state === "Dead") return E.COORDINATOR_NOT_AVAILABLE;
    const err = this.validateMember(g, req.memberId, req.groupInstanceId);
    if (err !== E.NONE) return err;
    if (req.generationId !== g.generationId) return E.ILLEGAL_GENERATION;
    const inconsistent = (mine: string | null | undefined, theirs: string | undefined) =>
      mine !== null && mine !== undefined && theirs !== undefined && mine !== theirs;
    if (inconsistent(req.protocolType, g.protocolType) || inconsistent(req.protocolName, g.protocolName)) {
      return E.INCONSISTENT_GROUP_PROTOCOL;
    }
    return E.NONE;
  }

  private onLeaderAssignment(g: Group, req: SyncGroupRequest): void {
    const assignments = new Map<string, Buffer>();
    for (const a of req.assignments) assignments.set(a.memberId, Buffer.from(a.assignment));
    for (const id of g.members.keys()) if (!assignments.has(id)) assignments.set(id, EMPTY);
    const generation = g.generationId;
    this.append([this.groupRecord(g, assignments)], (errorCode, now) => {
      // The group may have moved on while the record was being written.
      if (
        this.groups.get(g.groupId) !== g ||
        g.state !== "CompletingRebalance" ||
        g.generationId !== generation
      ) {
        return;
      }
      if (errorCode !== E.NONE) {
        this.resetAndPropagateAssignmentWithError(g, normalizeAppendError(errorCode), now);
        this.maybePrepareRebalanceOrCompleteJoin(g, now);
        return;
      }
      for (const m of g.members.values()) m.assignment = assignments.get(m.memberId) ?? EMPTY;
      this.propagateAssignment(g, E.NONE, now);
      g.transitionTo("Stable", now);
    });
  }

  private removePendingSyncMember(g: Group, memberId: string): void {
    g.pendingSync.delete(memberId);
    if (g.state === "CompletingRebalance" || g.state === "Stable") {
      if (g.pendingSync.size === 0) g.syncTimer = undefined;
    } else {
      g.syncTimer = undefined;
    }
  }

  // ---- Heartbeat / LeaveGroup --------------------------------------------------------------------------

  heartbeat(rid: number, req: HeartbeatRequest, now: number): Output {
    this.begin(now);
    const reply = (errorCode: number) => this.deliver({ rid, api: "heartbeat", response: { errorCode } });
    const g = this.groups.get(req.groupId);
    if (!req.groupId) reply(E.INVALID_GROUP_ID);
    else if (!g) reply(E.UNKNOWN_MEMBER_ID);
    else if (g.state === "Dead") reply(E.COORDINATOR_NOT_AVAILABLE);
    else {
      const err = this.validateMember(g, req.memberId, req.groupInstanceId);
      if (err !== E.NONE) reply(err);
      else if (req.generationId !== g.generationId) reply(E.ILLEGAL_GENERATION);
      else if (g.state === "Empty") reply(E.UNKNOWN_MEMBER_ID);
      else {
        const m = g.members.get(req.memberId)!;
        m.heartbeatDeadline = now + m.sessionTimeoutMs;
        reply(g.state === "PreparingRebalance" ? E.REBALANCE_IN_PROGRESS : E.NONE);
      }
    }
    return this.end(now);
  }

  leaveGroup(rid: number, req: LeaveGroupRequest, now: number): Output {
    this.begin(now);
    const reply = (response: LeaveGroupResponse) => this.deliver({ rid, api: "leaveGroup", response });
    const g = this.groups.get(req.groupId);
    if (!req.groupId) reply({ errorCode: E.INVALID_GROUP_ID, members: [] });
    else if (!g) reply({ errorCode: E.UNKNOWN_MEMBER_ID, members: [] });
    else if (g.state === "Dead") reply({ errorCode: E.COORDINATOR_NOT_AVAILABLE, members: [] });
    else {
      const results: LeaveGroupMemberResponse[] = [];
      let removed = 0;
      for (const identity of req.members) {
        const instanceId = identity.groupInstanceId ?? null;
        const result = (errorCode: number) =>
          results.push({ memberId: identity.memberId, groupInstanceId: instanceId, errorCode });
        if (identity.memberId === "") {
          // Administrative removal of a static member by its instance id.
          const target = instanceId === null ? undefined : g.staticMembers.get(instanceId);
          if (target === undefined) {
            result(E.UNKNOWN_MEMBER_ID);
          } else {
            this.removeMember(g, g.members.get(target)!);
            removed++;
            result(E.NONE);
          }
        } else if (g.pendingJoin.has(identity.memberId)) {
          g.pendingJoin.delete(identity.memberId);
          removed++;
          result(E.NONE);
        } else {
          const err = this.validateMember(g, identity.memberId, instanceId);
          if (err === E.NONE) {
            this.removeMember(g, g.members.get(identity.memberId)!);
            removed++;
          }
          result(err);
        }
      }
      if (removed > 0) {
        if (g.state === "Stable" || g.state === "CompletingRebalance")
          this.maybePrepareRebalanceOrCompleteJoin(g, now);
        else if (g.state === "PreparingRebalance") this.maybeCompleteJoinPhase(g, now);
      }
      reply({ errorCode: E.NONE, members: results });
    }
    return this.end(now);
  }

  // ---- offsets ---------------------------------------------------------------------------------------

  offsetCommit(rid: number, req: OffsetCommitRequest, ctx: RequestContext, now: number): Output {
    this.begin(now);
    const reply = (response: OffsetCommitResponse) => this.deliver({ rid, api: "offsetCommit", response });
    const failAll = (code: number) => reply(errorResponses.offsetCommit(req, code));
    const generationId = req.generationIdOrMemberEpoch ?? -1;
    const memberId = req.memberId ?? "";
    const instanceId = req.groupInstanceId ?? null;
    let g = this.groups.get(req.groupId);
    if (!req.groupId) {
      failAll(E.INVALID_GROUP_ID);
    } else if (!g && generationId >= 0) {
      // Kafka answers GROUP_ID_NOT_FOUND from v9 and ILLEGAL_GENERATION before.
      failAll(ctx.apiVersion >= 9 ? E.GROUP_ID_NOT_FOUND : E.ILLEGAL_GENERATION);
    } else {
      // Without a group, a commit with generation -1 creates a "simple" group (no members, no protocol).
      const created = g === undefined;
      g ??= this.getOrCreateGroup(req.groupId, now);
      const err = this.validateOffsetCommit(g, memberId, instanceId, generationId);
      if (err !== E.NONE) {
        failAll(err);
      } else {
        const member = g.members.get(memberId);
        if (member && (g.state === "Stable" || g.state === "PreparingRebalance")) {
          member.heartbeatDeadline = now + member.sessionTimeoutMs;
        }
        this.commitOffsets(g, rid, req, now, created);
      }
    }
    return this.end(now);
  }

  private validateOffsetCommit(
    g: Group,
    memberId: string,
    instanceId: string | null,
    generationId: number,
  ): number {
    if (g.state === "Dead") return E.COORDINATOR_NOT_AVAILABLE;
    // Commits from outside group management (generation -1) are accepted while the group is Empty.
    if (generationId < 0 && g.state === "Empty") return E.NONE;
    if (generationId >= 0 || memberId !== "" || instanceId !== null) {
      const err = this.validateMember(g, memberId, instanceId);
      if (err !== E.NONE) return err;
      if (generationId !== g.generationId) return E.ILLEGAL_GENERATION;
    } else if (g.state !== "Empty") {
      return E.UNKNOWN_MEMBER_ID;
    }
    // The member has this generation's JoinGroup response but not yet its assignment.
    if (g.state === "CompletingRebalance") return E.REBALANCE_IN_PROGRESS;
    return E.NONE;
  }

  private commitOffsets(
    g: Group,
    rid: number,
    req: OffsetCommitRequest,
    now: number,
    created: boolean,
  ): void {
    const retention = req.retentionTimeMs ?? -1n;
    const expireTimestamp = retention === -1n ? -1 : now + Number(retention);
    const records: GroupRecord[] = [];
    const committed: {
      partition: { errorCode: number };
      topic: string;
      index: number;
      value: OffsetValue;
    }[] = [];
    const response: OffsetCommitResponse = {
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => {
          const result: { partitionIndex: number; errorCode: number } = {
            partitionIndex: p.partitionIndex,
            errorCode: E.NONE,
          };
          const metadata = p.committedMetadata ?? "";
          if (metadata.length > this.config.offsetMetadataMaxBytes) {
            result.errorCode = E.OFFSET_METADATA_TOO_LARGE;
            return result;
          }
          const value: OffsetValue = {
            offset: p.committedOffset,
            leaderEpoch: p.committedLeaderEpoch ?? -1,
            metadata,
            commitTimestamp: now,
            expireTimestamp,
          };
          records.push({
            type: "offset",
            groupId: g.groupId,
            topic: t.name,
            partition: p.partitionIndex,
            value,
          });
          committed.push({ partition: result, topic: t.name, index: p.partitionIndex, value });
          return result;
        }),
      })),
    };
    if (records.length === 0) {
      this.deliver({ rid, api: "offsetCommit", response });
      return;
    }
    this.append(records, (errorCode) => {
      if (errorCode !== E.NONE) {
        const code = normalizeAppendError(errorCode, true);
        for (const c of committed) c.partition.errorCode = code;
        // A simple group this commit created does not outlive the failed commit if nothing else used it.
        const unused =
          g.state === "Empty" && g.members.size === 0 && g.pendingJoin.size === 0 && g.offsets.size === 0;
        if (created && unused && g.protocolType === undefined && this.groups.get(g.groupId) === g) {
          this.groups.delete(g.groupId);
        }
      } else if (this.groups.get(g.groupId) === g) {
        for (const c of committed) g.setOffset(c.topic, c.index, c.value);
      }
      this.deliver({ rid, api: "offsetCommit", response });
    });
  }

  /** OffsetFetch (v8+ shape). Reads only persisted offsets. */
  offsetFetch(req: OffsetFetchRequest, now: number): { response: OffsetFetchResponse; output: Output } {
    this.begin(now);
    const response = { groups: req.groups.map((rg) => this.fetchGroupOffsets(rg)) };
    return { response, output: this.end(now) };
  }

  private fetchGroupOffsets(rg: OffsetFetchRequestGroup): OffsetFetchResponseGroup {
    if (!rg.groupId) return { groupId: rg.groupId, topics: [], errorCode: E.INVALID_GROUP_ID };
    const g = this.groups.get(rg.groupId);
    const found = g !== undefined && g.state !== "Dead";
    const entry = (partitionIndex: number, v: OffsetValue | undefined) => ({
      partitionIndex,
      committedOffset: v ? v.offset : -1n,
      committedLeaderEpoch: v ? v.leaderEpoch : -1,
      metadata: v ? v.metadata : "",
      errorCode: E.NONE,
    });
    if (rg.topics === null) {
      if (!found) return { groupId: rg.groupId, topics: [], errorCode: E.NONE };
      const topics = [...g.offsets.keys()].sort().map((name) => ({
        name,
        partitions: [...g.offsets.get(name)!.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([p, v]) => entry(p, v)),
      }));
      return { groupId: rg.groupId, topics, errorCode: E.NONE };
    }
    return {
      groupId: rg.groupId,
      topics: rg.topics.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((p) => entry(p, found ? g.offset(t.name, p) : undefined)),
      })),
      errorCode: E.NONE,
    };
  }

  offsetDelete(rid: number, req: OffsetDeleteRequest, now: number): Output {
    this.begin(now);
    const reply = (response: OffsetDeleteResponse) => this.deliver({ rid, api: "offsetDelete", response });
    const g = this.groups.get(req.groupId);
    if (!req.groupId) {
      reply({ errorCode: E.INVALID_GROUP_ID, topics: [] });
    } else if (!g || g.state === "Dead") {
      reply({ errorCode: E.GROUP_ID_NOT_FOUND, topics: [] });
    } else if (g.state !== "Empty" && g.protocolType !== CONSUMER_PROTOCOL_TYPE) {
      // Only consumer groups know which topics their members use; other active groups keep all offsets.
      reply({ errorCode: E.NON_EMPTY_GROUP, topics: [] });
    } else {
      const records: GroupRecord[] = [];
      const response: OffsetDeleteResponse = {
        errorCode: E.NONE,
        topics: req.topics.map((t) => {
          const subscribed = g.isSubscribedToTopic(t.name);
          return {
            name: t.name,
            partitions: t.partitions.map(({ partitionIndex }) => {
              if (subscribed) return { partitionIndex, errorCode: E.GROUP_SUBSCRIBED_TO_TOPIC };
              if (g.offset(t.name, partitionIndex)) {
                records.push({
                  type: "offset",
                  groupId: g.groupId,
                  topic: t.name,
                  partition: partitionIndex,
                  value: null,
                });
              }
              return { partitionIndex, errorCode: E.NONE };
            }),
          };
        }),
      };
      if (records.length === 0) {
        reply(response);
      } else {
        this.append(records, (errorCode) => {
          if (errorCode !== E.NONE) {
            reply({ errorCode: normalizeAppendError(errorCode), topics: [] });
            return;
          }
          if (this.groups.get(g.groupId) === g) {
            for (const r of records) if (r.type === "offset") g.setOffset(r.topic, r.partition, null);
          }
          reply(response);
        });
      }
    }
    return this.end(now);
  }

  /** Expires offsets past retention and deletes Empty groups left without offsets (Kafka's cleanup). */
  private cleanupOffsets(now: number): void {
    const retentionMs = this.config.offsetsRetentionMs;
    if (retentionMs <= 0) return;
    const records: GroupRecord[] = [];
    const expiredByGroup: { g: Group; expired: { topic: string; partition: number }[] }[] = [];
    for (const g of [...this.groups.values()]) {
      const base = this.expirationBase(g);
      let allExpired = true;
      const expired: { topic: string; partition: number }[] = [];
      if (base === undefined) {
        allExpired = g.offsets.size === 0;
      } else {
        for (const [topic, byPartition] of g.offsets) {
          if (g.isSubscribedToTopic(topic)) {
            allExpired = false;
            continue;
          }
          for (const [partition, v] of byPartition) {
            const isExpired =
              v.expireTimestamp >= 0 ? now >= v.expireTimestamp : now - base(v) >= retentionMs;
            if (isExpired) {
              expired.push({ topic, partition });
              records.push({ type: "offset", groupId: g.groupId, topic, partition, value: null });
            } else {
              allExpired = false;
            }
          }
        }
      }
      if (expired.length > 0) expiredByGroup.push({ g, expired });
      if (allExpired && g.state === "Empty") {
        records.push({ type: "group", groupId: g.groupId, value: null });
        this.deleteGroup(g, now);
      }
    }
    if (records.length === 0) return;
    this.append(records, (errorCode) => {
      if (errorCode !== E.NONE) return;
      for (const { g, expired } of expiredByGroup) {
        if (this.groups.get(g.groupId) !== g) continue;
        for (const e of expired) g.setOffset(e.topic, e.partition, null);
      }
    });
  }

  /** What an offset's age counts from, or undefined when the group's offsets do not expire now. */
  private expirationBase(g: Group): ((v: OffsetValue) => number) | undefined {
    if (g.protocolType === undefined) return (v) => v.commitTimestamp;
    if (g.state === "Empty") return () => g.stateTimestamp;
    if (
      g.protocolType === CONSUMER_PROTOCOL_TYPE &&
      g.subscribedTopics !== undefined &&
      g.state === "Stable"
    ) {
      return (v) => v.commitTimestamp;
    }
    return undefined;
  }

  private deleteGroup(g: Group, now: number): void {
    g.transitionTo("Dead", now);
    g.joinTimer = undefined;
    g.syncTimer = undefined;
    for (const m of [...g.members.values()]) this.removeMember(g, m);
    this.groups.delete(g.groupId);
  }

  // ---- admin -----------------------------------------------------------------------------------------

  listGroups(req: ListGroupsRequest, now: number): { response: ListGroupsResponse; output: Output } {
    this.begin(now);
    const states = new Set((req.statesFilter ?? []).map((s) => s.trim().toLowerCase()));
    const types = new Set((req.typesFilter ?? []).map((s) => s.trim().toLowerCase()));
    const groups = [...this.groups.values()]
      .filter((g) => states.size === 0 || states.has(g.state.toLowerCase()))
      .filter(() => types.size === 0 || types.has("classic"))
      .map((g) => ({
        groupId: g.groupId,
        protocolType: g.protocolType ?? "",
        groupState: g.state,
        groupType: "classic",
      }));
    return { response: { errorCode: E.NONE, groups }, output: this.end(now) };
  }

  describeGroups(
    req: DescribeGroupsRequest,
    now: number,
  ): { response: DescribeGroupsResponse; output: Output } {
    this.begin(now);
    const groups = req.groups.map((groupId): DescribedGroup => {
      const base = {
        errorCode: E.NONE,
        groupId,
        groupState: "Dead",
        protocolType: "",
        protocolData: "",
        members: [],
        authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
      };
      if (!groupId) return { ...base, errorCode: E.INVALID_GROUP_ID, groupState: "" };
      const g = this.groups.get(groupId);
      if (!g || g.state === "Dead") return base;
      const stable = g.state === "Stable";
      return {
        ...base,
        groupState: g.state,
        protocolType: g.protocolType ?? "",
        protocolData: stable ? (g.protocolName ?? "") : "",
        members: [...g.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          memberMetadata: stable ? g.memberMetadata(m) : EMPTY,
          memberAssignment: stable ? m.assignment : EMPTY,
        })),
      };
    });
    return { response: { groups }, output: this.end(now) };
  }

  deleteGroups(rid: number, req: DeleteGroupsRequest, now: number): Output {
    this.begin(now);
    const records: GroupRecord[] = [];
    const deleted: Group[] = [];
    const results = req.groupsNames.map((groupId): { groupId: string; errorCode: number } => {
      if (!groupId) return { groupId, errorCode: E.INVALID_GROUP_ID };
      const g = this.groups.get(groupId);
      if (!g || g.state === "Dead") return { groupId, errorCode: E.GROUP_ID_NOT_FOUND };
      if (g.state !== "Empty") return { groupId, errorCode: E.NON_EMPTY_GROUP };
      for (const [topic, byPartition] of g.offsets) {
        for (const partition of byPartition.keys()) {
          records.push({ type: "offset", groupId, topic, partition, value: null });
        }
      }
      records.push({ type: "group", groupId, value: null });
      deleted.push(g);
      this.deleteGroup(g, now);
      return { groupId, errorCode: E.NONE };
    });
    const reply = () => this.deliver({ rid, api: "deleteGroups", response: { results } });
    if (records.length === 0) {
      reply();
    } else {
      this.append(records, (errorCode) => {
        if (errorCode !== E.NONE) {
          // Not persisted: the groups come back unless a new group took the name meanwhile.
          for (const g of deleted) {
            if (!this.groups.has(g.groupId)) {
              g.state = "Empty";
              this.groups.set(g.groupId, g);
            }
          }
          const code = normalizeAppendError(errorCode);
          for (const r of results) if (deleted.some((g) => g.groupId === r.groupId)) r.errorCode = code;
        }
        reply();
      });
    }
    return this.end(now);
  }

  // ---- introspection (tests, metrics) -------------------------------------------------------------------

  /** A group's state name, or undefined when the coordinator does not know the group. */
  groupState(groupId: string): GroupStateName | undefined {
    return this.groups.get(groupId)?.state;
  }

  groupGeneration(groupId: string): number | undefined {
    return this.groups.get(groupId)?.generationId;
  }

  groupIds(): string[] {
    return [...this.groups.keys()];
  }
}
