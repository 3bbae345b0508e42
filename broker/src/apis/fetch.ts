/**
 * Fetch (key 1), v4..v17. Consumers read up to the high watermark (which is also the last stable
 * offset: no transactions). Long poll: answer at once when min_bytes are available, max_wait_ms is
 * 0 or a partition errored; otherwise wait for an append to one of the partitions or the deadline.
 * KIP-74: the first non-empty partition returns at least one whole batch even above the byte
 * limits. KIP-227 sessions are refused correctly: every response carries session id 0 (a full
 * response), and an incremental request for a session we never created gets FETCH_SESSION_ID_NOT_FOUND.
 *
 * Cluster mode: a Fetch with a replica id (>= 0) is a follower replicating. It is served only by the
 * leader, to a replica of the partition, up to the log end offset (not the high watermark); its fetch
 * offset is the follower's log end, which the replica manager uses to advance the high watermark and
 * the ISR.
 *
 * Fetch from follower (KIP-392, `cluster/replica-selector.ts`): a consumer Fetch from v11 (client
 * metadata with its rack) is also served by a follower, up to the follower's high watermark; with the
 * rack-aware replica selector the leader may answer a partition with `preferredReadReplica` (an in-sync
 * replica in the consumer's rack) and no records, at once.
 */

import type { FetchPartition } from "../../../protocol/generated/fetch-request.ts";
import type { FetchableTopicResponse, PartitionData } from "../../../protocol/generated/fetch-response.ts";
import { apis, type FetchResponse } from "../../../protocol/generated/index.ts";
import { isFollowerReplica, preferredReadReplica } from "../cluster/replica-selector.ts";
import { AppendNotifier } from "../state/append-notifier.ts";
import type { PartitionRuntime } from "../state/topics.ts";
import { checkLeaderEpoch, code, errorCodeOf, ZERO_UUID } from "./common.ts";
import { defineHandler, type RequestContext } from "./types.ts";

const EMPTY = Buffer.alloc(0);
const READ_COMMITTED = 1;

interface Slot {
  topicName: string | undefined;
  partition: FetchPartition;
  runtime: PartitionRuntime | undefined;
  /** Set when the topic (id) is unknown. */
  missingError: number;
}

function errorPartition(index: number, errorCode: number): PartitionData {
  return {
    partitionIndex: index,
    errorCode,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    abortedTransactions: null,
    preferredReadReplica: -1,
    records: EMPTY,
  };
}

async function readAll(
  ctx: RequestContext,
  slots: Slot[],
  maxBytes: number,
  readCommitted: boolean,
  replicaId: number,
  /** A consumer's fetch v11+ (KIP-392 client metadata): followers serve it, the leader may redirect it. */
  client?: { rackId: string },
): Promise<{ data: PartitionData[]; bytes: number; errors: boolean; redirected: boolean }> {
  let remaining = maxBytes;
  let minOneMessage = true;
  let bytes = 0;
  let errors = false;
  let redirected = false;
  const data: PartitionData[] = [];
  for (const s of slots) {
    const index = s.partition.partition;
    const p = s.runtime;
    if (!p) {
      errors = true;
      data.push(errorPartition(index, s.missingError));
      continue;
    }
    const lead = ctx.broker.partitionLeadership(p.topic, p.index);
    const followerRead =
      client !== undefined &&
      lead.errorCode === code("NOT_LEADER_OR_FOLLOWER") &&
      isFollowerReplica(ctx.broker, p.topic, p.index);
    const epochError =
      checkLeaderEpoch(s.partition.currentLeaderEpoch, lead.leaderEpoch) ||
      (followerRead ? 0 : lead.errorCode);
    if (epochError !== 0) {
      errors = true;
      data.push(errorPartition(index, epochError));
      continue;
    }
    const log = p.log;
    const fetchOffset = Number(s.partition.fetchOffset);
    let maxOffset = log.highWatermark;
    if (replicaId >= 0) {
      const replication = ctx.broker.replication;
      const replicaError = replication
        ? replication.onReplicaFetch(p, replicaId, fetchOffset)
        : code("NOT_LEADER_OR_FOLLOWER");
      if (replicaError !== 0) {
        errors = true;
        data.push(errorPartition(index, replicaError));
        continue;
      }
      maxOffset = log.logEndOffset;
    } else if (client !== undefined && !followerRead) {
      const preferred = preferredReadReplica(ctx.broker, p, fetchOffset, client.rackId);
      if (preferred >= 0) {
        redirected = true;
        data.push({
          partitionIndex: index,
          errorCode: 0,
          highWatermark: BigInt(log.highWatermark),
          lastStableOffset: BigInt(log.highWatermark),
          logStartOffset: BigInt(log.logStartOffset),
          abortedTransactions: readCommitted ? [] : null,
          preferredReadReplica: preferred,
          records: EMPTY,
        });
        continue;
      }
    }
    let records: Buffer = EMPTY;
    try {
      const limit = Math.max(0, Math.min(s.partition.partitionMaxBytes, remaining));
      if (limit > 0 || minOneMessage) {
        const res = await log.read(fetchOffset, limit, { maxOffset, minOneMessage });
        records = res.records;
      } else if (fetchOffset < log.logStartOffset || fetchOffset > log.logEndOffset) {
        await log.read(fetchOffset, 0, { maxOffset, minOneMessage: false });
      }
    } catch (e) {
      errors = true;
      data.push(errorPartition(index, errorCodeOf(ctx, e, "fetch read")));
      continue;
    }
    if (records.length > 0) {
      minOneMessage = false;
      remaining = Math.max(0, remaining - records.length);
      bytes += records.length;
    }
    const hw = BigInt(log.highWatermark);
    data.push({
      partitionIndex: index,
      errorCode: 0,
      highWatermark: hw,
      lastStableOffset: hw,
      logStartOffset: BigInt(log.logStartOffset),
      abortedTransactions: readCommitted ? [] : null,
      preferredReadReplica: -1,
      records,
    });
  }
  return { data, bytes, errors, redirected };
}

export const fetch = defineHandler(apis.Fetch, 4, 17, async (ctx, req): Promise<FetchResponse> => {
  const v = ctx.apiVersion;
  const broker = ctx.broker;
  const base: FetchResponse = { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [] };
  if (v >= 16) base.nodeEndpoints = [];
  if (v >= 7 && (req.sessionEpoch ?? -1) > 0) {
    // An incremental fetch in a session this broker never created.
    base.errorCode = code("FETCH_SESSION_ID_NOT_FOUND");
    return base;
  }
  const readCommitted = (req.isolationLevel ?? 0) === READ_COMMITTED;
  const replicaId = v >= 15 ? (req.replicaState?.replicaId ?? -1) : (req.replicaId ?? -1);
  const useIds = v >= 13;
  const client = v >= 11 && replicaId < 0 ? { rackId: req.rackId ?? "" } : undefined;
  const groups: { key: { topic?: string; topicId?: string }; slots: Slot[] }[] = [];
  const allSlots: Slot[] = [];
  for (const t of req.topics) {
    let name: string | undefined;
    let missingError = code("UNKNOWN_TOPIC_OR_PARTITION");
    if (useIds) {
      const rt = t.topicId && t.topicId !== ZERO_UUID ? broker.topics.getById(t.topicId) : undefined;
      name = rt?.meta.name;
      missingError = code("UNKNOWN_TOPIC_ID");
    } else {
      name = t.topic;
    }
    const slots = t.partitions.map((partition): Slot => {
      const runtime = name === undefined ? undefined : broker.topics.partition(name, partition.partition);
      return { topicName: name, partition, runtime, missingError };
    });
    groups.push({ key: useIds ? { topicId: t.topicId ?? ZERO_UUID } : { topic: t.topic ?? "" }, slots });
    allSlots.push(...slots);
  }
  const maxBytes = v >= 3 ? (req.maxBytes ?? 0x7fffffff) : 0x7fffffff;
  const maxWait = Math.min(Math.max(0, req.maxWaitMs), broker.settings.maxFetchWaitMs);
  const deadline = Date.now() + maxWait;
  let result = await readAll(ctx, allSlots, maxBytes, readCommitted, replicaId, client);
  const keys = allSlots
    .filter((s) => s.runtime)
    .map((s) => AppendNotifier.key(s.runtime!.topic, s.runtime!.index));
  while (
    maxWait > 0 &&
    allSlots.length > 0 &&
    !result.errors &&
    !result.redirected &&
    result.bytes < req.minBytes &&
    !broker.isStopping &&
    !ctx.connection.isClosed
  ) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    await broker.notifier.wait(keys, left);
    result = await readAll(ctx, allSlots, maxBytes, readCommitted, replicaId, client);
  }
  let i = 0;
  base.responses = groups.map((g): FetchableTopicResponse => {
    const partitions = result.data.slice(i, i + g.slots.length);
    i += g.slots.length;
    return { ...g.key, partitions };
  });
  return base;
});
