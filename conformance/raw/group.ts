// Raw classic-group membership (JoinGroup/SyncGroup/Heartbeat/LeaveGroup) and offset requests, for the
// group tests that need exact error codes, and for a member that "crashes" (stops heartbeating
// without leaving) so the session-timeout path can be observed.

import type { RawConnection } from "../../protocol/client/connection.ts";
import {
  decodeConsumerProtocolAssignment,
  encodeConsumerProtocolAssignment,
} from "../../protocol/generated/consumer-protocol-assignment.ts";
import {
  decodeConsumerProtocolSubscription,
  encodeConsumerProtocolSubscription,
} from "../../protocol/generated/consumer-protocol-subscription.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import { Reader } from "../../protocol/wire/reader.ts";
import { Writer } from "../../protocol/wire/writer.ts";
import { E, type RawKafka } from "./kafka.ts";

export function subscriptionBytes(topics: string[]): Buffer {
  const w = new Writer(64);
  w.int16(0);
  encodeConsumerProtocolSubscription(w, { topics, userData: null } as never, 0);
  return w.finish();
}

export function subscriptionTopics(buf: Buffer): string[] {
  const r = new Reader(buf);
  const version = r.int16();
  return decodeConsumerProtocolSubscription(r, Math.min(version, 3)).topics;
}

export function assignmentBytes(assignment: { topic: string; partitions: number[] }[]): Buffer {
  const w = new Writer(64);
  w.int16(0);
  encodeConsumerProtocolAssignment(w, { assignedPartitions: assignment, userData: null } as never, 0);
  return w.finish();
}

export function decodeAssignment(buf: Buffer): { topic: string; partitions: number[] }[] {
  if (!buf.length) return [];
  const r = new Reader(buf);
  const version = r.int16();
  return decodeConsumerProtocolAssignment(r, Math.min(version, 3)).assignedPartitions;
}

export interface JoinResult {
  errorCode: number;
  generationId: number;
  memberId: string;
  leader: string;
  protocolName: string | null;
  members: { memberId: string; groupInstanceId?: string | null; metadata: Buffer }[];
}

/** One raw member of a classic consumer group. */
export class RawMember {
  memberId = "";
  generationId = -1;
  private conn: RawConnection | undefined;

  constructor(
    private readonly raw: RawKafka,
    readonly groupId: string,
    readonly topics: string[],
    readonly opts: {
      sessionTimeoutMs?: number;
      rebalanceTimeoutMs?: number;
      instanceId?: string | null;
      /** Assignor protocol names offered (default ["range"]); must overlap the other members'. */
      protocols?: string[];
    } = {},
  ) {}

  async coordinator(): Promise<RawConnection> {
    this.conn ??= await this.raw.coordinator(this.groupId);
    return this.conn;
  }

  /** One JoinGroup request as is (no MEMBER_ID_REQUIRED retry). */
  async joinOnce(memberId = this.memberId): Promise<JoinResult> {
    const conn = await this.coordinator();
    const v = await this.raw.version(ApiKey.JoinGroup, 9, 4);
    const res = await conn.request(
      ApiKey.JoinGroup,
      v,
      {
        groupId: this.groupId,
        sessionTimeoutMs: this.opts.sessionTimeoutMs ?? 10_000,
        rebalanceTimeoutMs: this.opts.rebalanceTimeoutMs ?? 10_000,
        memberId,
        groupInstanceId: this.opts.instanceId ?? null,
        protocolType: "consumer",
        protocols: (this.opts.protocols ?? ["range"]).map((name) => ({
          name,
          metadata: subscriptionBytes(this.topics),
        })),
        reason: null,
      },
      30_000,
    );
    if (res.memberId) this.memberId = res.memberId;
    if (res.errorCode === 0) this.generationId = res.generationId;
    return {
      errorCode: res.errorCode,
      generationId: res.generationId,
      memberId: res.memberId,
      leader: res.leader,
      protocolName: res.protocolName,
      members: res.members,
    };
  }

  /** JoinGroup, repeating once with the assigned member id after MEMBER_ID_REQUIRED. */
  async join(): Promise<JoinResult> {
    let res = await this.joinOnce();
    if (res.errorCode === E.MEMBER_ID_REQUIRED) res = await this.joinOnce(res.memberId);
    return res;
  }

  /**
   * SyncGroup. As leader, assigns partitions of `partitionsOf` round-robin over the members (by
   * member id order); followers send no assignments. Returns the error code and own assignment.
   */
  async sync(
    join: JoinResult,
    partitionsOf: Record<string, number> = {},
  ): Promise<{ errorCode: number; assignment: { topic: string; partitions: number[] }[] }> {
    const conn = await this.coordinator();
    const v = await this.raw.version(ApiKey.SyncGroup, 5, 0);
    let assignments: { memberId: string; assignment: Buffer }[] = [];
    if (join.leader === this.memberId) {
      const ids = join.members.map((m) => m.memberId).sort();
      const per = new Map<string, { topic: string; partitions: number[] }[]>(ids.map((id) => [id, []]));
      let i = 0;
      for (const [topic, n] of Object.entries(partitionsOf)) {
        for (let p = 0; p < n; p++) {
          const list = per.get(ids[i++ % ids.length])!;
          let entry = list.find((x) => x.topic === topic);
          if (!entry) {
            entry = { topic, partitions: [] };
            list.push(entry);
          }
          entry.partitions.push(p);
        }
      }
      assignments = ids.map((id) => ({ memberId: id, assignment: assignmentBytes(per.get(id)!) }));
    }
    const res = await conn.request(
      ApiKey.SyncGroup,
      v,
      {
        groupId: this.groupId,
        generationId: join.generationId,
        memberId: this.memberId,
        groupInstanceId: this.opts.instanceId ?? null,
        protocolType: "consumer",
        protocolName: join.protocolName ?? "range",
        assignments,
      },
      30_000,
    );
    return {
      errorCode: res.errorCode,
      assignment: res.errorCode === 0 ? decodeAssignment(res.assignment) : [],
    };
  }

  async heartbeat(generationId = this.generationId, memberId = this.memberId): Promise<number> {
    const conn = await this.coordinator();
    const v = await this.raw.version(ApiKey.Heartbeat, 4, 0);
    const res = await conn.request(ApiKey.Heartbeat, v, {
      groupId: this.groupId,
      generationId,
      memberId,
      groupInstanceId: this.opts.instanceId ?? null,
    });
    return res.errorCode;
  }

  /** LeaveGroup (v3+ per-member form); returns [top-level error, member error]. */
  async leave(memberId = this.memberId): Promise<[number, number]> {
    const conn = await this.coordinator();
    const v = await this.raw.version(ApiKey.LeaveGroup, 5, 3);
    const res = await conn.request(ApiKey.LeaveGroup, v, {
      groupId: this.groupId,
      members: [{ memberId, groupInstanceId: this.opts.instanceId ?? null, reason: null }],
    });
    return [res.errorCode, res.members?.[0]?.errorCode ?? -1];
  }
}

/** OffsetCommit outside any generation (standalone, as admin tools commit). Returns the partition error. */
export async function rawCommit(
  raw: RawKafka,
  groupId: string,
  topic: string,
  partition: number,
  offset: bigint,
  member: { generationId: number; memberId: string } = { generationId: -1, memberId: "" },
): Promise<number> {
  const conn = await raw.coordinator(groupId);
  const v = await raw.version(ApiKey.OffsetCommit, 8, 2);
  const res = await conn.request(ApiKey.OffsetCommit, v, {
    groupId,
    generationIdOrMemberEpoch: member.generationId,
    memberId: member.memberId,
    groupInstanceId: null,
    retentionTimeMs: -1n,
    topics: [
      {
        name: topic,
        partitions: [
          {
            partitionIndex: partition,
            committedOffset: offset,
            committedLeaderEpoch: -1,
            committedMetadata: "",
          },
        ],
      },
    ],
  });
  return res.topics[0].partitions[0].errorCode;
}

/** OffsetFetch (v1-v7 form) of one partition: the committed offset (-1 when none) and error codes. */
export async function rawFetchOffset(
  raw: RawKafka,
  groupId: string,
  topic: string,
  partition: number,
): Promise<{ offset: bigint; errorCode: number; groupError: number }> {
  const conn = await raw.coordinator(groupId);
  const v = await raw.version(ApiKey.OffsetFetch, 7, 1);
  const res = await conn.request(ApiKey.OffsetFetch, v, {
    groupId,
    topics: [{ name: topic, partitionIndexes: [partition] }],
    requireStable: false,
  });
  const p = res.topics?.[0]?.partitions[0];
  return { offset: p?.committedOffset ?? -1n, errorCode: p?.errorCode ?? -1, groupError: res.errorCode ?? 0 };
}
