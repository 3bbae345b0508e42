// kafkajs producer, consumer and drain, run inside a worker process.
//
// Offsets: kafkajs returns one RecordMetadata per partition with the *base* offset of the batch it
// wrote, so the producer sends exactly one message per `send` call and the base offset is that
// message's offset. Concurrency comes from maxInFlight slots, each with its own `send` outstanding.
//
// Consumer polls: kafkajs pushes batches (eachBatch) instead of being polled, so a poll's invoke and
// ok are recorded together when a batch arrives. Offsets are committed manually after each batch and
// recorded as commit operations.

import type { Consumer, EachBatchPayload, Kafka as KafkaClient, RetryOptions } from "kafkajs";
import kafkajs from "kafkajs";
import type { ObservedRecord } from "../history/types.ts";
import type { PlannedMessage } from "./plan.ts";
import type { DrainSpec, WorkloadSpec } from "./types.ts";
import {
  DrainProgress,
  errorName,
  observed,
  runProducerLoop,
  runSignal,
  type SendOutcome,
  sleep,
  type WorkerContext,
  withTimeout,
} from "./worker-common.ts";

const { Kafka, logLevel } = kafkajs;

/**
 * Broker errors that reject a produce request before anything is appended, the same way on every
 * attempt: a send failing with one of them was definitely not written. Everything else (timeouts,
 * disconnects, leadership changes, exhausted retries over those) is indeterminate.
 */
const DEFINITE_PRODUCE_ERRORS = new Set([
  "MESSAGE_TOO_LARGE",
  "RECORD_LIST_TOO_LARGE",
  "INVALID_RECORD",
  "INVALID_TOPIC_EXCEPTION",
  "TOPIC_AUTHORIZATION_FAILED",
  "CLUSTER_AUTHORIZATION_FAILED",
  "INVALID_REQUIRED_ACKS",
  "INVALID_TIMESTAMP",
  "UNSUPPORTED_VERSION",
]);

function rootCause(err: unknown): unknown {
  let e = err as { originalError?: unknown; cause?: unknown } | undefined;
  for (let i = 0; i < 10 && e && (e.originalError || e.cause); i++) {
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return e;
}

export function classifyKafkajsSendError(err: unknown): SendOutcome {
  const root = rootCause(err);
  const name = errorName(root);
  if (DEFINITE_PRODUCE_ERRORS.has(name)) return { type: "fail", error: name };
  // Client-side validation before any request (e.g. an invalid message): nothing was sent.
  const top = err as { name?: string; retriable?: boolean; message?: string };
  if (
    top?.name === "KafkaJSNonRetriableError" &&
    root === err &&
    /invalid|must be/i.test(top.message ?? "")
  ) {
    return { type: "fail", error: name };
  }
  return { type: "info", error: name };
}

function client(workerId: string, bootstrap: string, requestTimeoutMs: number, retries: number): KafkaClient {
  const retry: RetryOptions = { retries, initialRetryTime: 100, maxRetryTime: 1000 };
  return new Kafka({
    clientId: workerId,
    brokers: bootstrap.split(",").map((b) => b.trim()),
    requestTimeout: requestTimeoutMs,
    connectionTimeout: Math.min(requestTimeoutMs, 3000),
    retry,
    logLevel: logLevel.ERROR,
    logCreator: () => (entry) => {
      process.stderr.write(`[kafkajs ${entry.namespace}] ${entry.log.message}\n`);
    },
  });
}

const DISCONNECT_BOUND_MS = 5000;

async function disconnectQuietly(c: { disconnect(): Promise<void> }): Promise<void> {
  await withTimeout(
    c.disconnect().catch(() => {}),
    DISCONNECT_BOUND_MS,
    () => undefined,
  );
}

export async function runKafkajsProducer(
  ctx: WorkerContext,
  spec: WorkloadSpec,
  onReady: () => void,
): Promise<string> {
  const kafka = client(ctx.workerId, spec.bootstrap, spec.requestTimeoutMs, spec.retries);
  const producer = kafka.producer({
    idempotent: spec.idempotent,
    // kafkajs supports idempotence only with one request in flight per broker connection.
    ...(spec.idempotent ? { maxInFlightRequests: 1 } : {}),
    allowAutoTopicCreation: true,
    retry: { retries: spec.retries, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  await producer.connect();
  onReady();
  const send = async (m: PlannedMessage): Promise<SendOutcome> => {
    try {
      const result = await producer.send({
        topic: spec.topic,
        acks: spec.acks,
        timeout: spec.requestTimeoutMs,
        messages: [
          { key: m.key, value: m.value, ...(m.partition === undefined ? {} : { partition: m.partition }) },
        ],
      });
      const meta = result[0];
      // acks=0: the broker never answers, so nothing is known about the write.
      if (spec.acks === 0 || !meta || meta.baseOffset === undefined || Number(meta.baseOffset) < 0) {
        return { type: "info", error: "NO_ACKNOWLEDGEMENT", ...(meta ? { partition: meta.partition } : {}) };
      }
      return { type: "ok", partition: meta.partition, offset: Number(meta.baseOffset) };
    } catch (err) {
      return classifyKafkajsSendError(err);
    }
  };
  try {
    const { sent } = await runProducerLoop(ctx, spec, send);
    return `sent ${sent}`;
  } finally {
    await disconnectQuietly(producer);
  }
}

function assignmentOf(memberAssignment: Record<string, number[]>): { topic: string; partition: number }[] {
  const out: { topic: string; partition: number }[] = [];
  for (const [topic, partitions] of Object.entries(memberAssignment)) {
    for (const partition of [...partitions].sort((a, b) => a - b)) out.push({ topic, partition });
  }
  return out;
}

export async function runKafkajsConsumer(
  ctx: WorkerContext,
  spec: WorkloadSpec,
  onReady: () => void,
): Promise<string> {
  const kafka = client(ctx.workerId, spec.bootstrap, spec.requestTimeoutMs, spec.retries);
  const groupId = spec.groupId!; // validateSpec: kafkajs consumers have a group
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    rebalanceTimeout: 15_000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 250,
    allowAutoTopicCreation: false,
    retry: { retries: Math.max(spec.retries, 5), initialRetryTime: 100, maxRetryTime: 1000 },
    ...(spec.clientRack ? { rackId: spec.clientRack } : {}),
  });
  const process = ctx.workerId;
  consumer.on(consumer.events.REBALANCING, () => {
    ctx.sink.event(process, "rebalance", { partitions: [], description: "rebalancing: partitions revoked" });
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    ctx.sink.event(process, "rebalance", {
      partitions: assignmentOf(e.payload.memberAssignment),
      description: `joined group ${groupId}`,
    });
  });
  const { signal, abort } = runSignal(ctx, spec);
  let consumed = 0;
  let crashed: string | undefined;
  consumer.on(consumer.events.CRASH, (e) => {
    crashed = errorName(e.payload.error);
    if (!e.payload.restart) abort();
  });

  await consumer.connect();
  const sub = ctx.sink.invoke(process, "subscribe", { topic: spec.topic });
  try {
    await consumer.subscribe({ topics: [spec.topic], fromBeginning: true });
    ctx.sink.complete(sub, "ok");
  } catch (err) {
    ctx.sink.complete(sub, "fail", { error: errorName(err) });
    throw err;
  }
  onReady();

  const eachBatch = async ({ batch }: EachBatchPayload) => {
    if (batch.messages.length === 0) return;
    const values: ObservedRecord[] = batch.messages.map((m) =>
      observed(batch.topic, batch.partition, m.offset, m.key, m.value),
    );
    const poll = ctx.sink.invoke(process, "poll", { topic: batch.topic, partition: batch.partition });
    ctx.sink.complete(poll, "ok", { values });
    consumed += values.length;
    const next = Number(batch.lastOffset()) + 1;
    const commit = ctx.sink.invoke(process, "commit", {
      topic: batch.topic,
      partition: batch.partition,
      offset: next,
    });
    try {
      await consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: String(next) },
      ]);
      ctx.sink.complete(commit, "ok");
    } catch (err) {
      ctx.sink.complete(commit, "info", { error: errorName(err) });
    }
    if (spec.maxMessages !== undefined && consumed >= spec.maxMessages) abort();
  };
  await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch });
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await disconnectQuietly(consumer);
  return crashed ? `consumed ${consumed}; consumer crashed: ${crashed}` : `consumed ${consumed}`;
}

/**
 * Reads whole partitions from the log start to the high watermarks taken when the drain starts. kafkajs
 * cannot assign partitions without a group, so the drain joins a fresh group of its own (its single
 * member gets every partition; unwanted ones are ignored) with fromBeginning and never commits.
 */
export async function runKafkajsDrain(
  ctx: WorkerContext,
  spec: DrainSpec,
  process: string,
  onReady: () => void,
): Promise<string> {
  const requestTimeoutMs = spec.requestTimeoutMs ?? 10_000;
  const kafka = client(ctx.workerId, spec.bootstrap, requestTimeoutMs, 5);
  const admin = kafka.admin();
  const groupId = `gauntlet-drain-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  const consumer: Consumer = kafka.consumer({
    groupId,
    maxWaitTimeInMs: 250,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
    allowAutoTopicCreation: false,
  });
  const deadlineMs = spec.deadlineMs ?? 60_000;
  const started = performance.now();
  await admin.connect();
  onReady();
  const drain = ctx.sink.invoke(process, "drain", { topic: spec.topic });
  const values: ObservedRecord[] = [];
  let progress: DrainProgress | undefined;
  let note = "";
  try {
    const offsets = await admin.fetchTopicOffsets(spec.topic);
    const watermarks = offsets
      .map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
      .filter((w) => !spec.partitions || spec.partitions.includes(w.partition))
      .sort((a, b) => a.partition - b.partition);
    const p = new DrainProgress(spec.topic, watermarks);
    progress = p;
    if (!p.done) {
      const finished = new AbortController();
      await consumer.connect();
      await consumer.subscribe({ topics: [spec.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (!p.wants(batch.partition)) return;
          for (const m of batch.messages)
            values.push(observed(batch.topic, batch.partition, m.offset, m.key, m.value));
          if (batch.messages.length) p.advance(batch.partition, Number(batch.lastOffset()) + 1);
          if (p.done) finished.abort();
        },
      });
      const remaining = deadlineMs - (performance.now() - started);
      await sleep(Math.max(0, remaining), AbortSignal.any([finished.signal, ctx.stop]));
      if (!p.done)
        note = `drain stopped before the high watermarks after ${Math.round(performance.now() - started)} ms`;
    }
    ctx.sink.complete(drain, "ok", {
      values,
      endOffsets: p.endOffsets(),
      ...(note ? { description: note } : {}),
    });
  } catch (err) {
    // What was read is still real, but the drain did not finish: record it as indeterminate.
    ctx.sink.complete(drain, "info", { error: errorName(err) });
  } finally {
    await disconnectQuietly(consumer);
    await disconnectQuietly(admin);
  }
  return `drained ${values.length} records${note ? `; ${note}` : ""}${progress ? "" : " (no offsets)"}`;
}
