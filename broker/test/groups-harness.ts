/**
 * Test driver for the pure group state machine: explicit time, request ids, delivered responses and
 * persisted records, with appends acknowledged at once unless told otherwise.
 */
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { encodeSubscription } from "../groups/consumer-protocol.ts";
import {
  type Delivery,
  type GroupConfig,
  GroupStateMachine,
  type Output,
  type PendingAppend,
} from "../groups/state-machine.ts";
import type {
  GroupRecord,
  JoinGroupProtocol,
  JoinGroupResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  RequestContext,
  SyncGroupResponse,
} from "../groups/types.ts";

export const E = ERROR_CODES;

export interface JoinOptions {
  memberId?: string;
  instanceId?: string | null;
  protocolType?: string;
  protocols?: JoinGroupProtocol[];
  topics?: string[];
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  clientId?: string;
  apiVersion?: number;
}

export const TEST_CONFIG: Partial<GroupConfig> = {
  initialRebalanceDelayMs: 0,
  minSessionTimeoutMs: 1000,
  maxSessionTimeoutMs: 600_000,
};

export function subscription(...topics: string[]): Buffer {
  return encodeSubscription({ topics }, 1);
}

export function consumerProtocols(topics: string[], names = ["range"]): JoinGroupProtocol[] {
  return names.map((name) => ({ name, metadata: subscription(...topics) }));
}

export class Harness {
  readonly sm: GroupStateMachine;
  now = 1_000_000;
  private rid = 0;
  readonly responses = new Map<number, Delivery>();
  /** Records acknowledged as persisted, in order. */
  readonly records: GroupRecord[] = [];
  /** When false, appends wait in `pendingAppends` until `ackAppends`/`failAppends`. */
  autoAck = true;
  readonly pendingAppends: PendingAppend[] = [];

  constructor(config: Partial<GroupConfig> = {}, records?: GroupRecord[]) {
    let n = 0;
    this.sm = new GroupStateMachine({
      config: { ...TEST_CONFIG, ...config },
      newMemberId: (prefix) => `${prefix}-${++n}`,
    });
    if (records) this.sm.load(records, this.now);
  }

  process(out: Output): void {
    for (const d of out.deliveries) {
      if (this.responses.has(d.rid)) throw new Error(`rid ${d.rid} answered twice`);
      this.responses.set(d.rid, d);
    }
    for (const a of out.appends) {
      if (this.autoAck) {
        this.records.push(...a.records);
        this.process(this.sm.appendCompleted(a.id, E.NONE, this.now));
      } else {
        this.pendingAppends.push(a);
      }
    }
  }

  ackAppends(): void {
    for (const a of this.pendingAppends.splice(0)) {
      this.records.push(...a.records);
      this.process(this.sm.appendCompleted(a.id, E.NONE, this.now));
    }
  }

  failAppends(code: number = E.KAFKA_STORAGE_ERROR): void {
    for (const a of this.pendingAppends.splice(0))
      this.process(this.sm.appendCompleted(a.id, code, this.now));
  }

  advance(ms: number): void {
    this.now += ms;
    this.process(this.sm.tick(this.now));
  }

  ctx(clientId = "client", apiVersion = 9): RequestContext {
    return { clientId, clientHost: "/127.0.0.1", apiVersion };
  }

  response<T>(rid: number): T | undefined {
    return this.responses.get(rid)?.response as T | undefined;
  }

  // ---- requests -----------------------------------------------------------------------------------

  join(groupId: string, o: JoinOptions = {}): number {
    const rid = ++this.rid;
    this.process(
      this.sm.joinGroup(
        rid,
        {
          groupId,
          memberId: o.memberId ?? "",
          groupInstanceId: o.instanceId ?? null,
          protocolType: o.protocolType ?? "consumer",
          protocols: o.protocols ?? consumerProtocols(o.topics ?? ["t"]),
          sessionTimeoutMs: o.sessionTimeoutMs ?? 10_000,
          rebalanceTimeoutMs: o.rebalanceTimeoutMs ?? 30_000,
        },
        this.ctx(o.clientId, o.apiVersion),
        this.now,
      ),
    );
    return rid;
  }

  joinResponse(rid: number): JoinGroupResponse | undefined {
    return this.response<JoinGroupResponse>(rid);
  }

  /** JoinGroup with the MEMBER_ID_REQUIRED round trip; returns the second join's request id and the member id. */
  joinNew(groupId: string, o: JoinOptions = {}): { rid: number; memberId: string } {
    const first = this.join(groupId, o);
    const r = this.joinResponse(first);
    if (r?.errorCode !== E.MEMBER_ID_REQUIRED)
      throw new Error(`expected MEMBER_ID_REQUIRED, got ${JSON.stringify(r)}`);
    return { rid: this.join(groupId, { ...o, memberId: r.memberId }), memberId: r.memberId };
  }

  sync(
    groupId: string,
    memberId: string,
    generationId: number,
    assignments: Record<string, string> = {},
    extra: { instanceId?: string | null; protocolType?: string | null; protocolName?: string | null } = {},
  ): number {
    const rid = ++this.rid;
    this.process(
      this.sm.syncGroup(
        rid,
        {
          groupId,
          memberId,
          generationId,
          groupInstanceId: extra.instanceId ?? null,
          protocolType: extra.protocolType ?? null,
          protocolName: extra.protocolName ?? null,
          assignments: Object.entries(assignments).map(([id, a]) => ({
            memberId: id,
            assignment: Buffer.from(a),
          })),
        },
        this.ctx(),
        this.now,
      ),
    );
    return rid;
  }

  syncResponse(rid: number): SyncGroupResponse | undefined {
    return this.response<SyncGroupResponse>(rid);
  }

  heartbeat(
    groupId: string,
    memberId: string,
    generationId: number,
    instanceId: string | null = null,
  ): number {
    const rid = ++this.rid;
    this.process(
      this.sm.heartbeat(rid, { groupId, memberId, generationId, groupInstanceId: instanceId }, this.now),
    );
    const r = this.responses.get(rid);
    if (r?.api !== "heartbeat") throw new Error("heartbeat not answered at once");
    return r.response.errorCode;
  }

  leave(groupId: string, members: { memberId: string; groupInstanceId?: string | null }[]) {
    const rid = ++this.rid;
    this.process(this.sm.leaveGroup(rid, { groupId, members }, this.now));
    const r = this.responses.get(rid);
    if (r?.api !== "leaveGroup") throw new Error("leave not answered at once");
    return r.response;
  }

  commit(
    groupId: string,
    offsets: Record<string, Record<number, number>>,
    o: {
      generationId?: number;
      memberId?: string;
      instanceId?: string | null;
      apiVersion?: number;
      metadata?: string | null;
      leaderEpoch?: number;
      retentionTimeMs?: bigint;
    } = {},
  ): number {
    const rid = ++this.rid;
    const req: OffsetCommitRequest = {
      groupId,
      generationIdOrMemberEpoch: o.generationId ?? -1,
      memberId: o.memberId ?? "",
      groupInstanceId: o.instanceId ?? null,
      retentionTimeMs: o.retentionTimeMs ?? -1n,
      topics: Object.entries(offsets).map(([name, ps]) => ({
        name,
        partitions: Object.entries(ps).map(([p, off]) => ({
          partitionIndex: Number(p),
          committedOffset: BigInt(off),
          committedLeaderEpoch: o.leaderEpoch ?? -1,
          committedMetadata: o.metadata === undefined ? "" : o.metadata,
        })),
      })),
    };
    this.process(this.sm.offsetCommit(rid, req, this.ctx("client", o.apiVersion ?? 9), this.now));
    return rid;
  }

  commitResponse(rid: number): OffsetCommitResponse | undefined {
    return this.response<OffsetCommitResponse>(rid);
  }

  /** Error codes of a commit response, flattened "topic/partition" → code. */
  commitErrors(rid: number): Record<string, number> {
    const r = this.commitResponse(rid);
    if (!r) throw new Error(`commit ${rid} not answered`);
    const out: Record<string, number> = {};
    for (const t of r.topics)
      for (const p of t.partitions) out[`${t.name}/${p.partitionIndex}`] = p.errorCode;
    return out;
  }

  /** Committed offsets of one group as "topic/partition" → offset (all partitions). */
  fetchAll(groupId: string): Record<string, number> {
    const { response, output } = this.sm.offsetFetch({ groups: [{ groupId, topics: null }] }, this.now);
    this.process(output);
    const out: Record<string, number> = {};
    for (const t of response.groups[0]!.topics) {
      for (const p of t.partitions) out[`${t.name}/${p.partitionIndex}`] = Number(p.committedOffset);
    }
    return out;
  }

  offsetDelete(groupId: string, topics: Record<string, number[]>) {
    const rid = ++this.rid;
    this.process(
      this.sm.offsetDelete(
        rid,
        {
          groupId,
          topics: Object.entries(topics).map(([name, ps]) => ({
            name,
            partitions: ps.map((partitionIndex) => ({ partitionIndex })),
          })),
        },
        this.now,
      ),
    );
    const r = this.responses.get(rid);
    return r?.api === "offsetDelete" ? r.response : undefined;
  }

  deleteGroups(...groupsNames: string[]) {
    const rid = ++this.rid;
    this.process(this.sm.deleteGroups(rid, { groupsNames }, this.now));
    const r = this.responses.get(rid);
    return r?.api === "deleteGroups" ? r.response : undefined;
  }

  describe(...groups: string[]) {
    const { response, output } = this.sm.describeGroups({ groups }, this.now);
    this.process(output);
    return response.groups;
  }

  list(statesFilter: string[] = [], typesFilter: string[] = []) {
    const { response, output } = this.sm.listGroups({ statesFilter, typesFilter }, this.now);
    this.process(output);
    return response.groups;
  }

  // ---- scenarios ------------------------------------------------------------------------------------

  /**
   * Brings `n` dynamic members into a Stable group: joins, leader assigns "a-<memberId>" to each.
   * Returns the member ids in join order (the first is the leader) and the generation.
   */
  stableGroup(groupId: string, n: number, o: JoinOptions = {}): { members: string[]; generation: number } {
    const joins = Array.from({ length: n }, (_, i) => this.joinNew(groupId, { clientId: `c${i}`, ...o }));
    const members = joins.map((j) => j.memberId);
    let rids = joins.map((j) => j.rid);
    // Members answered for an older generation rejoin until all are in the latest one.
    for (let round = 0; round < 10; round++) {
      const rs = rids.map((rid) => this.joinResponse(rid));
      const gen = this.sm.groupGeneration(groupId);
      if (rs.every((r) => r?.errorCode === E.NONE && r.generationId === gen)) break;
      rids = rids.map((rid, i) =>
        this.joinResponse(rid) ? this.join(groupId, { ...o, memberId: members[i] }) : rid,
      );
    }
    const responses = rids.map((rid) => this.joinResponse(rid));
    if (responses.some((r) => r?.errorCode !== E.NONE)) {
      throw new Error(`join did not complete: ${JSON.stringify(responses)}`);
    }
    const generation = responses[0]!.generationId;
    const leader = responses[0]!.leader;
    const followers = members.filter((m) => m !== leader);
    const syncs = followers.map((m) => this.sync(groupId, m, generation));
    const assignments = Object.fromEntries(members.map((m) => [m, `a-${m}`]));
    syncs.push(this.sync(groupId, leader, generation, assignments));
    for (const s of syncs) {
      if (this.syncResponse(s)?.errorCode !== E.NONE)
        throw new Error(`sync failed: ${JSON.stringify(this.syncResponse(s))}`);
    }
    return { members, generation };
  }
}
