// node-rdkafka (librdkafka) producer, consumer and drain, run inside a worker process.
//
// Producer: every message is produced with an opaque id; its delivery report (dr_cb) carries the
// partition and offset, or the error. Idempotence is librdkafka's `enable.idempotence`.
// Consumer: an explicit poll loop (`consume(n)`), so each poll is a real invoke/ok pair. In a group,
// the rebalance callback records the new assignment before it takes effect; offsets are committed
// asynchronously after each poll and the commit completes on librdkafka's offset-commit callback.
import type {
  DeliveryReport,
  KafkaConsumer as KafkaConsumerType,
  LibrdKafkaError,
  Message,
  Metadata,
  Producer as ProducerType,
  TopicPartition,
  TopicPartitionOffset,
} from "node-rdkafka";
import rdkafka from "node-rdkafka";
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

const { Producer, KafkaConsumer, CODES } = rdkafka;
const ERR = CODES.ERRORS as Record<string, number>;
const OFFSET_BEGINNING = -2;

/** librdkafka error code → its name, e.g. -192 → "ERR__MSG_TIMED_OUT". */
const CODE_NAMES = new Map<number, string>(Object.entries(ERR).map(([name, code]) => [code, name]));

export function rdkafkaErrorName(err: { code?: number; message?: string } | null | undefined): string {
  if (!err) return "UNKNOWN";
  if (typeof err.code === "number") return CODE_NAMES.get(err.code) ?? `ERR_${err.code}`;
  return errorName(err);
}

/**
 * Delivery-report errors after which the message was definitely not written: purged from the local
 * queue before it was sent, or rejected by the broker the same way on every attempt. Everything else
 * (timeouts, purged in flight, transport errors, fatal idempotence errors) is indeterminate.
 */
const DEFINITE_DELIVERY_ERRORS = new Set([
  "ERR__PURGE_QUEUE",
  "ERR__MSG_SIZE_TOO_LARGE",
  "ERR_MSG_SIZE_TOO_LARGE",
  "ERR_RECORD_LIST_TOO_LARGE",
  "ERR_INVALID_MSG",
  "ERR_INVALID_REQUIRED_ACKS",
  "ERR_TOPIC_AUTHORIZATION_FAILED",
  "ERR_CLUSTER_AUTHORIZATION_FAILED",
  "ERR_TOPIC_EXCEPTION",
  "ERR_INVALID_TIMESTAMP",
]);

export function classifyDeliveryError(err: { code?: number; message?: string }): SendOutcome {
  const name = rdkafkaErrorName(err);
  return { type: DEFINITE_DELIVERY_ERRORS.has(name) ? "fail" : "info", error: name };
}

function baseConfig(workerId: string, bootstrap: string, requestTimeoutMs: number, rack?: string) {
  return {
    "bootstrap.servers": bootstrap,
    "client.id": workerId,
    "socket.timeout.ms": Math.max(requestTimeoutMs, 1000),
    "reconnect.backoff.ms": 100,
    "reconnect.backoff.max.ms": 1000,
    "topic.metadata.refresh.interval.ms": 5000,
    "log.connection.close": false,
    ...(rack ? { "client.rack": rack } : {}),
  };
}

function connect(c: ProducerType | KafkaConsumerType, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    c.connect({ timeout: timeoutMs }, (err) =>
      err ? reject(new Error(`rdkafka connect: ${err.message}`)) : resolve(),
    );
  });
}

const DISCONNECT_BOUND_MS = 5000;

function disconnect(c: ProducerType | KafkaConsumerType): Promise<void> {
  if (!c.isConnected()) return Promise.resolve();
  return withTimeout(
    new Promise<void>((resolve) => {
      // Client.disconnect(cb); the producer's variant flushes (5 s at most) first.
      (c as KafkaConsumerType).disconnect(() => resolve());
    }),
    DISCONNECT_BOUND_MS + 1000,
    () => undefined,
  );
}

export async function runRdkafkaProducer(
  ctx: WorkerContext,
  spec: WorkloadSpec,
  onReady: () => void,
): Promise<string> {
  const producer = new Producer(
    {
      ...baseConfig(ctx.workerId, spec.bootstrap, spec.requestTimeoutMs, spec.clientRack),
      dr_cb: true,
      "enable.idempotence": spec.idempotent,
      "message.send.max.retries": spec.retries,
      "retry.backoff.ms": 100,
      "retry.backoff.max.ms": 1000,
      "linger.ms": 1,
      "queue.buffering.max.messages": Math.max(spec.maxInFlight * 2, 1000),
    },
    {
      "request.required.acks": spec.acks,
      "request.timeout.ms": spec.requestTimeoutMs,
      // librdkafka's delivery timeout covers all attempts; the worker's own bound sits above it.
      "message.timeout.ms": spec.requestTimeoutMs * (spec.retries + 1) + 1000 * spec.retries,
    },
  );
  const pending = new Map<number, (outcome: SendOutcome) => void>();
  producer.on("delivery-report", (err: LibrdKafkaError | null, report: DeliveryReport) => {
    const id = report?.opaque as number | undefined;
    const resolve = id === undefined ? undefined : pending.get(id);
    if (!resolve) return; // a report after the worker's own bound: already recorded as info
    pending.delete(id!);
    if (err && err.code !== ERR.NO_ERROR) resolve(classifyDeliveryError(err));
    else if (spec.acks === 0 || report.offset < 0) {
      resolve({ type: "info", error: "NO_ACKNOWLEDGEMENT", partition: report.partition });
    } else resolve({ type: "ok", partition: report.partition, offset: report.offset });
  });
  producer.on("event.error", (err: LibrdKafkaError) => {
    ctx.sink.log(`rdkafka producer error: ${rdkafkaErrorName(err)} ${err.message}`);
  });
  await connect(producer, Math.max(spec.requestTimeoutMs, 10_000));
  producer.setPollInterval(5);
  onReady();

  let nextOpaque = 0;
  const send = (m: PlannedMessage): Promise<SendOutcome> => {
    const id = nextOpaque++;
    return new Promise<SendOutcome>((resolve) => {
      pending.set(id, resolve);
      try {
        producer.produce(spec.topic, m.partition ?? null, Buffer.from(m.value), m.key, Date.now(), id);
      } catch (err) {
        // produce() throws only before the message is queued (queue full, bad partition): not written.
        pending.delete(id);
        resolve({ type: "fail", error: rdkafkaErrorName(err as LibrdKafkaError) });
      }
    });
  };
  try {
    const { sent } = await runProducerLoop(ctx, spec, send);
    return `sent ${sent}`;
  } finally {
    await withTimeout(
      new Promise<void>((resolve) => producer.flush(DISCONNECT_BOUND_MS, () => resolve())),
      DISCONNECT_BOUND_MS + 1000,
      () => undefined,
    );
    await disconnect(producer);
  }
}

/**
 * Offset commits of a group consumer, one outstanding at a time as the logical process
 * `${workerId}#commit`: librdkafka reports a commit's result through the offset-commit callback, which
 * it serves only while the consumer polls, so the poll loop must keep running while a commit is out.
 * Each commit covers one partition; a newer offset for a partition replaces a queued older one.
 */
class CommitPump {
  private readonly queued = new Map<number, number>();
  private current: { id: number; partition: number; offset: number; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly ctx: WorkerContext,
    private readonly process: string,
    private readonly topic: string,
    private readonly timeoutMs: number,
    private readonly commit: (offsets: TopicPartitionOffset[]) => void,
  ) {}

  request(partition: number, offset: number): void {
    this.queued.set(partition, Math.max(this.queued.get(partition) ?? 0, offset));
    this.pump();
  }

  completed(err: LibrdKafkaError | null, offsets: TopicPartitionOffset[]): void {
    const c = this.current;
    if (!c) return;
    const mine = offsets?.some(
      (o) => o.topic === this.topic && o.partition === c.partition && o.offset === c.offset,
    );
    if (err && (mine || !offsets?.length)) this.finish("info", rdkafkaErrorName(err));
    else if (mine) this.finish("ok");
  }

  /** At shutdown: an outstanding commit's result will not be polled for, so it stays unknown. */
  abandon(): void {
    this.queued.clear();
    if (this.current) this.finish("info", "STOPPED");
  }

  private finish(type: "ok" | "info", error?: string): void {
    const c = this.current!;
    clearTimeout(c.timer);
    this.current = undefined;
    this.ctx.sink.complete(c.id, type, error ? { error } : {});
    this.pump();
  }

  private pump(): void {
    if (this.current || this.queued.size === 0) return;
    const [partition, offset] = this.queued.entries().next().value as [number, number];
    this.queued.delete(partition);
    const id = this.ctx.sink.invoke(this.process, "commit", { topic: this.topic, partition, offset });
    const timer = setTimeout(() => this.finish("info", "CLIENT_TIMEOUT"), this.timeoutMs);
    this.current = { id, partition, offset, timer };
    try {
      this.commit([{ topic: this.topic, partition, offset }]);
    } catch (err) {
      this.finish("info", rdkafkaErrorName(err as LibrdKafkaError));
    }
  }
}

function consume(consumer: KafkaConsumerType, max: number): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    consumer.consume(max, (err, messages) => (err ? reject(err) : resolve(messages)));
  });
}

function toRecords(messages: Message[]): ObservedRecord[] {
  return messages.map((m) => observed(m.topic, m.partition, m.offset, m.key, m.value));
}

export async function runRdkafkaConsumer(
  ctx: WorkerContext,
  spec: WorkloadSpec,
  onReady: () => void,
): Promise<string> {
  const process = ctx.workerId;
  const inGroup = spec.groupId !== undefined;
  // Commits complete through the offset-commit callback (served while polling).
  let commitWaiter: ((err: LibrdKafkaError | null, offsets: TopicPartitionOffset[]) => void) | undefined;
  const consumer = new KafkaConsumer(
    {
      ...baseConfig(ctx.workerId, spec.bootstrap, spec.requestTimeoutMs, spec.clientRack),
      // librdkafka wants a group id even for manual assignment; nothing is committed then.
      "group.id": spec.groupId ?? `gauntlet-assign-${ctx.workerId}-${Date.now()}`,
      "enable.auto.commit": false,
      "enable.auto.offset.store": false,
      "session.timeout.ms": 10_000,
      "heartbeat.interval.ms": 1000,
      "fetch.wait.max.ms": 250,
      offset_commit_cb: (err: LibrdKafkaError | null, offsets: TopicPartitionOffset[]) => {
        commitWaiter?.(err && err.code !== ERR.NO_ERROR ? err : null, offsets);
      },
      rebalance_cb(this: KafkaConsumerType, err: LibrdKafkaError, assignment: TopicPartition[]) {
        if (err.code === ERR.ERR__ASSIGN_PARTITIONS) {
          ctx.sink.event(process, "rebalance", {
            partitions: assignment.map((a) => ({ topic: a.topic, partition: a.partition })),
            description: "partitions assigned",
          });
          this.assign(assignment);
        } else {
          ctx.sink.event(process, "rebalance", { partitions: [], description: "partitions revoked" });
          this.unassign();
        }
      },
    },
    { "auto.offset.reset": "earliest" },
  );
  consumer.on("event.error", (err: LibrdKafkaError) => {
    ctx.sink.log(`rdkafka consumer error: ${rdkafkaErrorName(err)} ${err.message}`);
  });
  await connect(consumer, Math.max(spec.requestTimeoutMs, 10_000));
  consumer.setDefaultConsumeTimeout(250);

  if (inGroup) {
    const sub = ctx.sink.invoke(process, "subscribe", { topic: spec.topic });
    consumer.subscribe([spec.topic]);
    ctx.sink.complete(sub, "ok");
  } else {
    const partitions = spec.partitions!.map((partition) => ({ topic: spec.topic, partition }));
    const op = ctx.sink.invoke(process, "assign", { partitions });
    consumer.assign(partitions.map((p) => ({ ...p, offset: OFFSET_BEGINNING })));
    ctx.sink.complete(op, "ok", { partitions });
  }
  onReady();

  const { signal } = runSignal(ctx, spec);
  const commits = new CommitPump(ctx, `${process}#commit`, spec.topic, spec.requestTimeoutMs, (offsets) =>
    consumer.commit(offsets),
  );
  commitWaiter = (err, offsets) => commits.completed(err, offsets);
  let consumed = 0;
  while (!signal.aborted && (spec.maxMessages === undefined || consumed < spec.maxMessages)) {
    const poll = ctx.sink.invoke(process, "poll", { topic: spec.topic });
    let messages: Message[];
    try {
      messages = await consume(consumer, 500);
    } catch (err) {
      ctx.sink.complete(poll, "info", { error: rdkafkaErrorName(err as LibrdKafkaError) });
      await sleep(100, signal);
      continue;
    }
    ctx.sink.complete(poll, "ok", { values: toRecords(messages) });
    consumed += messages.length;
    if (!inGroup) continue;
    for (const m of messages) commits.request(m.partition, m.offset + 1);
  }
  commits.abandon();
  await disconnect(consumer);
  return `consumed ${consumed}`;
}

function metadata(c: KafkaConsumerType, topic: string, timeout: number): Promise<Metadata> {
  return new Promise((resolve, reject) => {
    c.getMetadata({ topic, timeout }, (err, data) => (err ? reject(err) : resolve(data)));
  });
}

function watermarks(c: KafkaConsumerType, topic: string, partition: number, timeout: number) {
  return new Promise<{ partition: number; low: number; high: number }>((resolve, reject) => {
    c.queryWatermarkOffsets(topic, partition, timeout, (err, o) =>
      err ? reject(err) : resolve({ partition, low: o.lowOffset, high: o.highOffset }),
    );
  });
}

/** Reads whole partitions, assigned manually, from the log start to the high watermarks taken first. */
export async function runRdkafkaDrain(
  ctx: WorkerContext,
  spec: DrainSpec,
  process: string,
  onReady: () => void,
): Promise<string> {
  const requestTimeoutMs = spec.requestTimeoutMs ?? 10_000;
  const consumer = new KafkaConsumer(
    {
      ...baseConfig(ctx.workerId, spec.bootstrap, requestTimeoutMs),
      "group.id": `gauntlet-drain-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`,
      "enable.auto.commit": false,
      "enable.auto.offset.store": false,
      "fetch.wait.max.ms": 250,
    },
    { "auto.offset.reset": "earliest" },
  );
  await connect(consumer, Math.max(requestTimeoutMs, 10_000));
  consumer.setDefaultConsumeTimeout(250);
  onReady();
  const deadline = performance.now() + (spec.deadlineMs ?? 60_000);
  const drain = ctx.sink.invoke(process, "drain", { topic: spec.topic });
  const values: ObservedRecord[] = [];
  let note = "";
  try {
    let partitions = spec.partitions;
    if (!partitions) {
      const md = await metadata(consumer, spec.topic, requestTimeoutMs);
      const t = md.topics.find((x) => x.name === spec.topic);
      if (!t || t.partitions.length === 0)
        throw new Error(`topic ${spec.topic} has no partitions in metadata`);
      partitions = t.partitions.map((p) => p.id).sort((a, b) => a - b);
    }
    const marks = [];
    for (const p of partitions) marks.push(await watermarks(consumer, spec.topic, p, requestTimeoutMs));
    const progress = new DrainProgress(spec.topic, marks);
    consumer.assign(
      marks
        .filter((m) => m.high > m.low)
        .map((m) => ({ topic: spec.topic, partition: m.partition, offset: m.low })),
    );
    while (!progress.done && performance.now() < deadline && !ctx.stop.aborted) {
      let messages: Message[] = [];
      try {
        messages = await consume(consumer, 1000);
      } catch (err) {
        ctx.sink.log(`drain poll error: ${rdkafkaErrorName(err as LibrdKafkaError)}`);
        await sleep(100);
      }
      for (const m of messages) {
        if (!progress.wants(m.partition)) continue;
        values.push(observed(m.topic, m.partition, m.offset, m.key, m.value));
        progress.advance(m.partition, m.offset + 1);
      }
    }
    if (!progress.done) note = "drain stopped before the high watermarks";
    ctx.sink.complete(drain, "ok", {
      values,
      endOffsets: progress.endOffsets(),
      ...(note ? { description: note } : {}),
    });
  } catch (err) {
    ctx.sink.complete(drain, "info", { error: rdkafkaErrorName(err as LibrdKafkaError) });
  } finally {
    await disconnect(consumer);
  }
  return `drained ${values.length} records${note ? `; ${note}` : ""}`;
}
