/**
 * Produce (key 0). Per partition: structural checks (Kafka's ProduceRequest.validateRecords and
 * analyzeAndValidateRecords: one v2 batch, CRC, size, no control batches), then under the partition's
 * mutex the idempotence checks (duplicate → original offsets; sequence gap → OUT_OF_ORDER_SEQUENCE_NUMBER;
 * old epoch → INVALID_PRODUCER_EPOCH), the append and the producer-state update. acks=0 gets no
 * response; an acks=0 request that failed closes the connection, as Kafka does, so the producer notices.
 *
 * Cluster mode: only the leader appends; acks=all then waits (outside the partition mutex, so later
 * requests keep appending) until the high watermark passes the batch, i.e. the whole ISR has it
 * (`ReplicaManager.waitForReplication`), bounded by the request's timeout.
 */
import { apis, type ProduceResponse } from "../../../protocol/generated/index.ts";
import type { PartitionProduceData } from "../../../protocol/generated/produce-request.ts";
import type {
  PartitionProduceResponse,
  TopicProduceResponse,
} from "../../../protocol/generated/produce-response.ts";
import {
  ATTRIBUTES_OFFSET,
  BATCH_HEADER_SIZE,
  COMPRESSION_CODEC_MASK,
  CONTROL_FLAG_MASK,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  readBatchHeader,
  splitBatches,
  TRANSACTIONAL_FLAG_MASK,
  verifyBatchCrc,
} from "../../../protocol/records/batch-header.ts";
import { isProtocolError } from "../../../protocol/wire/errors.ts";
import { INTERNAL_TOPICS } from "../cluster/offsets-topic.ts";
import { CloseConnection } from "../network/connection.ts";
import { effectiveConfig } from "../state/topic-config.ts";
import type { PartitionRuntime } from "../state/topics.ts";
import { code, errorCodeOf } from "./common.ts";
import { defineHandler, type RequestContext } from "./types.ts";

const ZSTD = 4;

interface Outcome {
  errorCode: number;
  errorMessage?: string;
  baseOffset?: number;
  logAppendTime?: number;
  logStartOffset?: number;
}

function fail(name: Parameters<typeof code>[0], message?: string): Outcome {
  return { errorCode: code(name), errorMessage: message };
}

/** Checks that need no partition state; returns the batch header on success. */
function precheck(
  ctx: RequestContext,
  records: Buffer | null,
  maxMessageBytes: number,
): { ok: true; header: ReturnType<typeof readBatchHeader> } | { ok: false; outcome: Outcome } {
  if (records === null || records.length === 0) {
    return {
      ok: false,
      outcome: fail(
        "INVALID_RECORD",
        "Produce requests with version 3 are only allowed to contain exactly one record batch",
      ),
    };
  }
  let spans: ReturnType<typeof splitBatches>;
  try {
    spans = splitBatches(records);
  } catch (e) {
    if (isProtocolError(e)) return { ok: false, outcome: fail("CORRUPT_MESSAGE", e.message) };
    throw e;
  }
  if (spans.length !== 1) {
    if (spans.length === 0 && records.length >= LOG_OVERHEAD) {
      // A batch that declares more bytes than were sent.
      const declared = LOG_OVERHEAD + records.readInt32BE(8);
      if (declared > maxMessageBytes) {
        return {
          ok: false,
          outcome: fail(
            "MESSAGE_TOO_LARGE",
            `The request included a message larger than the max message size the server will accept.`,
          ),
        };
      }
      return { ok: false, outcome: fail("CORRUPT_MESSAGE", "record batch is truncated") };
    }
    return {
      ok: false,
      outcome: fail(
        "INVALID_RECORD",
        "Produce requests with version 3 are only allowed to contain exactly one record batch",
      ),
    };
  }
  const span = spans[0]!;
  if (records.readInt8(MAGIC_OFFSET) !== 2) {
    return {
      ok: false,
      outcome: fail(
        "INVALID_RECORD",
        "Produce requests with version 3 are only allowed to contain record batches with magic version 2",
      ),
    };
  }
  if (span.length < BATCH_HEADER_SIZE)
    return { ok: false, outcome: fail("CORRUPT_MESSAGE", "record batch is shorter than its header") };
  if (span.length > maxMessageBytes) {
    return {
      ok: false,
      outcome: fail(
        "MESSAGE_TOO_LARGE",
        `The request included a message larger than the max message size the server will accept.`,
      ),
    };
  }
  if (!verifyBatchCrc(records, 0)) {
    return { ok: false, outcome: fail("CORRUPT_MESSAGE", "Record batch is corrupt (CRC mismatch)") };
  }
  const header = readBatchHeader(records, 0);
  const attributes = records.readInt16BE(ATTRIBUTES_OFFSET);
  if ((attributes & COMPRESSION_CODEC_MASK) === ZSTD && ctx.apiVersion < 7) {
    return {
      ok: false,
      outcome: fail(
        "UNSUPPORTED_COMPRESSION_TYPE",
        "Produce requests with ZStandard compression require version 7 or later",
      ),
    };
  }
  if ((attributes & COMPRESSION_CODEC_MASK) > ZSTD) {
    return {
      ok: false,
      outcome: fail("CORRUPT_MESSAGE", `unknown compression codec ${attributes & COMPRESSION_CODEC_MASK}`),
    };
  }
  if (attributes & CONTROL_FLAG_MASK) {
    return { ok: false, outcome: fail("INVALID_RECORD", "Clients are not allowed to write control records") };
  }
  if (attributes & TRANSACTIONAL_FLAG_MASK) {
    return { ok: false, outcome: fail("INVALID_TXN_STATE", "This broker does not support transactions") };
  }
  if (header.recordCount <= 0 || header.lastOffsetDelta + 1 !== header.recordCount) {
    return { ok: false, outcome: fail("INVALID_RECORD", "Inconsistent batch offset range and record count") };
  }
  if (header.producerId >= 0n && header.baseSequence < 0) {
    return {
      ok: false,
      outcome: fail(
        "INVALID_RECORD",
        `Invalid sequence number ${header.baseSequence} in record batch with producerId ${header.producerId}`,
      ),
    };
  }
  return { ok: true, header };
}

async function producePartition(
  ctx: RequestContext,
  topic: string,
  pd: PartitionProduceData,
  acks: number,
  timeoutMs: number,
  /** Called when the records are appended and only replication is awaited. */
  onAppended?: () => void,
): Promise<Outcome> {
  const rt = ctx.broker.topics.get(topic);
  const part: PartitionRuntime | undefined = rt?.partitions[pd.index];
  if (!rt || !part)
    return fail("UNKNOWN_TOPIC_OR_PARTITION", "This server does not host this topic-partition.");
  // Kafka: clients may not append to internal topics (only the group coordinator writes them).
  if (ctx.broker.cluster && INTERNAL_TOPICS.has(topic))
    return fail("INVALID_TOPIC_EXCEPTION", `Cannot append to internal topic ${topic}`);
  const lead = ctx.broker.partitionLeadership(topic, pd.index);
  if (lead.errorCode !== 0)
    return {
      errorCode: lead.errorCode,
      errorMessage: "This server is not the leader for that topic-partition.",
    };
  const configs = rt.meta.configs;
  const pre = precheck(ctx, pd.records, Number(effectiveConfig(configs, "max.message.bytes")));
  if (!pre.ok) return pre.outcome;
  const header = pre.header;
  // Kafka 4.x (Partition.appendRecordsToLeader): the effective minimum ISR is min.insync.replicas
  // capped at the partition's replica count, and acks=all fails only when the ISR is below it. A
  // single node is every partition's sole replica and its ISR.
  const replication = ctx.broker.replication;
  const placement = ctx.broker.partitionReplicas(topic, pd.index);
  const replicas = placement?.replicas ?? [ctx.broker.nodeId];
  const isr = replication?.isr(topic, pd.index) ?? placement?.isr ?? replicas;
  const minIsr = Math.min(Number(effectiveConfig(configs, "min.insync.replicas")), replicas.length);
  if (acks === -1 && isr.length < minIsr) {
    return fail(
      "NOT_ENOUGH_REPLICAS",
      `The size of the current ISR : ${isr.length} is insufficient to satisfy the min.isr requirement of ${minIsr} for partition ${topic}-${pd.index}, live replica(s) broker.id are : [${isr.join(", ")}]`,
    );
  }
  const logAppendTimeType = effectiveConfig(configs, "message.timestamp.type") === "LogAppendTime";
  const records = pd.records!;
  const appended = await part.mutex.run(async (): Promise<Outcome & { required?: number }> => {
    const idempotent = header.producerId >= 0n;
    const incoming = {
      producerId: header.producerId,
      producerEpoch: header.producerEpoch,
      baseSequence: header.baseSequence,
      lastOffsetDelta: header.lastOffsetDelta,
    };
    if (idempotent) {
      const check = part.producers.check(incoming);
      if (check.kind === "duplicate") {
        ctx.log.debug(
          { topic, partition: pd.index, producerId: String(header.producerId) },
          "duplicate batch",
        );
        return {
          errorCode: 0,
          baseOffset: check.batch.firstOffset,
          logAppendTime: check.batch.timestamp,
          logStartOffset: part.log.logStartOffset,
          required: check.batch.firstOffset + header.lastOffsetDelta + 1,
        };
      }
      if (check.kind === "error") return fail(check.error, check.message);
    }
    let result: Awaited<ReturnType<typeof part.log.append>>;
    try {
      result = await part.log.append(records, {
        leaderEpoch: lead.leaderEpoch,
        timestampType: logAppendTimeType ? "LogAppendTime" : "CreateTime",
        now: Date.now(),
        firstCrcVerified: true, // precheck verified it
      });
    } catch (e) {
      return { errorCode: errorCodeOf(ctx, e, "append"), errorMessage: (e as Error).message };
    }
    if (result.baseOffset < 0) return fail("CORRUPT_MESSAGE", "no complete record batch");
    if (idempotent) {
      const ts = logAppendTimeType ? result.logAppendTime : Number(header.maxTimestamp);
      part.producers.record(incoming, result.baseOffset, ts);
    }
    if (replication) replication.onLeaderAppend(part);
    else part.log.setHighWatermark(Math.max(part.log.highWatermark, result.lastOffset + 1));
    ctx.broker.topics.updateGauges(part);
    ctx.broker.metrics.messagesIn.inc({ topic }, header.recordCount);
    ctx.broker.notifier.notify(topic, pd.index);
    return {
      errorCode: 0,
      baseOffset: result.baseOffset,
      logAppendTime: result.logAppendTime,
      logStartOffset: result.logStartOffset,
      required: result.lastOffset + 1,
    };
  });
  if (acks !== -1 || !replication || appended.errorCode !== 0 || appended.required === undefined) {
    return appended;
  }
  onAppended?.();
  const replicated = await replication.waitForReplication(part, appended.required, minIsr, timeoutMs);
  if (replicated === 0) return appended;
  return {
    errorCode: replicated,
    errorMessage:
      replicated === code("NOT_ENOUGH_REPLICAS_AFTER_APPEND")
        ? `The ISR of ${topic}-${pd.index} shrank below min.insync.replicas (${minIsr}) after the append`
        : replicated === code("REQUEST_TIMED_OUT")
          ? `The ISR did not replicate the records within ${timeoutMs} ms`
          : "This server is no longer the leader for that topic-partition.",
  };
}

export const produce = defineHandler(
  apis.Produce,
  3,
  11,
  async (ctx, req): Promise<ProduceResponse | null> => {
    const v = ctx.apiVersion;
    const acks = req.acks;
    const validAcks = acks === -1 || acks === 0 || acks === 1;
    // Once every partition is appended (or done), the connection may start its next Produce while
    // this one waits for replication: appends stay in request order, responses too.
    let unappended = req.topicData.reduce((n, t) => n + t.partitionData.length, 0);
    const appendedOne = () => {
      if (--unappended === 0) ctx.releaseConnection?.();
    };
    if (unappended === 0) ctx.releaseConnection?.();
    const topicResults = await Promise.all(
      req.topicData.map(async (t): Promise<TopicProduceResponse> => {
        const partitionResponses = await Promise.all(
          t.partitionData.map(async (pd): Promise<PartitionProduceResponse> => {
            let o: Outcome;
            let counted = false;
            const once = () => {
              if (!counted) {
                counted = true;
                appendedOne();
              }
            };
            if (!validAcks) o = fail("INVALID_REQUIRED_ACKS");
            else if (req.transactionalId != null) o = fail("TRANSACTIONAL_ID_AUTHORIZATION_FAILED");
            else o = await producePartition(ctx, t.name, pd, acks, req.timeoutMs, once);
            once();
            const r: PartitionProduceResponse = {
              index: pd.index,
              errorCode: o.errorCode,
              baseOffset: BigInt(o.baseOffset ?? -1),
              logAppendTimeMs: BigInt(o.errorCode === 0 ? (o.logAppendTime ?? -1) : -1),
            };
            if (v >= 5) r.logStartOffset = BigInt(o.errorCode === 0 ? (o.logStartOffset ?? -1) : -1);
            if (v >= 8) {
              r.recordErrors = [];
              r.errorMessage = o.errorCode === 0 ? null : (o.errorMessage ?? null);
            }
            return r;
          }),
        );
        return { name: t.name, partitionResponses };
      }),
    );
    if (acks === 0) {
      if (topicResults.some((t) => t.partitionResponses.some((p) => p.errorCode !== 0))) {
        throw new CloseConnection("acks=0 produce request failed");
      }
      return null;
    }
    return { responses: topicResults, throttleTimeMs: 0 };
  },
);
