// The node-rdkafka (librdkafka) implementation of ConformanceClient. Producers use librdkafka's
// `murmur2_random` partitioner (Java-compatible key placement). Assignment-style consume() uses
// assign() without joining a group. node-rdkafka's AdminClient only has createTopic, deleteTopic and
// createPartitions: the other admin operations are declared unsupported.
import { randomBytes } from "node:crypto";
import type {
  KafkaConsumer as KafkaConsumerType,
  LibrdKafkaError,
  Message,
  MessageHeader,
  Producer as ProducerType,
} from "node-rdkafka";
import rdkafka from "node-rdkafka";
import { errorName } from "../../protocol/error-codes.ts";
import {
  type Assignment,
  ClientError,
  type ConformanceClient,
  type ConsumeOptions,
  type ConsumeResult,
  type GroupDescription,
  type GroupMember,
  type GroupMemberOptions,
  type GroupSummary,
  type InMessage,
  type OutMessage,
  type PartitionResult,
  type ProduceOptions,
  sortAssignment,
  type TopicPartitionOffset,
  type TopicSpec,
} from "./types.ts";

const { Producer, KafkaConsumer, AdminClient, CODES } = rdkafka;
const ERR = CODES.ERRORS as Record<string, number>;
const CODE_NAMES = new Map<number, string>(Object.entries(ERR).map(([name, code]) => [code, name]));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uid = () => randomBytes(4).toString("hex");

const NO_ADMIN = (op: string) =>
  `node-rdkafka 3.6 AdminClient has no ${op} (only createTopic, deleteTopic and createPartitions)`;

/** librdkafka error → Kafka error name for broker errors (positive codes), librdkafka's name otherwise. */
/**
 * node-rdkafka delivery reports lose the broker's error code (code -1) and keep only librdkafka's
 * description ("Broker: Message size too large"); these are the descriptions librdkafka uses for the
 * broker errors the tests expect.
 */
const BROKER_ERROR_TEXT: Record<string, string> = {
  "message size too large": "MESSAGE_TOO_LARGE",
  "not enough in-sync replicas": "NOT_ENOUGH_REPLICAS",
  "message(s) written to insufficient number of in-sync replicas": "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
  "unknown topic or partition": "UNKNOWN_TOPIC_OR_PARTITION",
  "invalid required acks value": "INVALID_REQUIRED_ACKS",
  "broker received an out of order sequence number": "OUT_OF_ORDER_SEQUENCE_NUMBER",
  "message batch larger than configured server segment size": "RECORD_LIST_TOO_LARGE",
  "invalid timestamp": "INVALID_TIMESTAMP",
  "invalid message": "CORRUPT_MESSAGE",
};

export function rdkafkaErrorName(err: { code?: number; message?: string } | null | undefined): string {
  if (!err) return "UNKNOWN";
  const code = err.code;
  if (code === -1 && err.message) {
    const text = err.message
      .replace(/^broker:\s*/i, "")
      .trim()
      .toLowerCase();
    if (BROKER_ERROR_TEXT[text]) return BROKER_ERROR_TEXT[text];
  }
  if (typeof code === "number") {
    if (code > 0) return errorName(code) ?? `KAFKA_${code}`;
    return CODE_NAMES.get(code) ?? `ERR_${code}`;
  }
  return err.message ?? "UNKNOWN";
}

function wrap(err: unknown): ClientError {
  if (err instanceof ClientError) return err;
  const e = err as LibrdKafkaError;
  return new ClientError(rdkafkaErrorName(e), e?.message ?? String(err), err);
}

function cb<T>(fn: (done: (err: LibrdKafkaError | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    fn((err, value) => (err ? reject(wrap(err)) : resolve(value as T)));
  });
}

function headersOf(h: MessageHeader[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of h ?? []) {
    for (const [k, v] of Object.entries(entry)) out[k] = Buffer.isBuffer(v) ? v.toString() : String(v);
  }
  return out;
}

function toIn(m: Message): InMessage {
  return {
    topic: m.topic,
    partition: m.partition,
    offset: BigInt(m.offset),
    key: m.key == null ? null : Buffer.isBuffer(m.key) ? m.key : Buffer.from(String(m.key)),
    value: m.value ?? null,
    headers: headersOf(m.headers),
    timestamp: m.timestamp ?? -1,
  };
}

const toBuf = (v: string | Buffer | null | undefined): Buffer | null =>
  v == null ? null : Buffer.isBuffer(v) ? v : Buffer.from(v);

export class RdkafkaClient implements ConformanceClient {
  readonly kind = "rdkafka" as const;
  readonly unsupported = {
    emptyValue: "node-rdkafka produces an empty Buffer value as a null value",
    describeConfigs: NO_ADMIN("describeConfigs"),
    alterConfigs: NO_ADMIN("alterConfigs"),
    deleteRecords: NO_ADMIN("deleteRecords"),
    listGroups: NO_ADMIN("listGroups"),
    describeGroups: NO_ADMIN("describeGroups"),
    deleteGroups: NO_ADMIN("deleteGroups"),
  };
  private producers = new Map<string, ProducerType>();
  private consumers = new Set<KafkaConsumerType>();
  private adminClient: ReturnType<typeof AdminClient.create> | undefined;

  constructor(private readonly bootstrap: string) {}

  private base(): Record<string, string | number | boolean> {
    return {
      "bootstrap.servers": this.bootstrap,
      "client.id": "gauntlet-conformance-rdkafka",
      "socket.timeout.ms": 10_000,
      "reconnect.backoff.ms": 50,
      "reconnect.backoff.max.ms": 500,
      "retry.backoff.ms": 100,
      "topic.metadata.refresh.interval.ms": 2000,
      "log.connection.close": false,
      log_level: 0,
    };
  }

  private async producer(opts: ProduceOptions, transactionalId?: string): Promise<ProducerType> {
    const key =
      transactionalId ?? JSON.stringify([opts.acks ?? -1, opts.compression, opts.idempotent, opts.retries]);
    const existing = transactionalId ? undefined : this.producers.get(key);
    if (existing) return existing;
    const conf: Record<string, string | number | boolean> = {
      ...this.base(),
      dr_cb: true,
      "linger.ms": 5,
      "message.timeout.ms": opts.timeoutMs ?? 15_000,
      "request.timeout.ms": Math.min(opts.timeoutMs ?? 10_000, 10_000),
      "compression.codec": opts.compression ?? "none",
      "enable.idempotence": opts.idempotent ?? !!transactionalId,
    };
    // topic-level properties: librdkafka applies them only from the topic configuration
    const topicConf = { partitioner: "murmur2_random", "request.required.acks": opts.acks ?? -1 };
    if (!opts.idempotent && !transactionalId) conf.retries = opts.retries ?? 2;
    if (transactionalId) conf["transactional.id"] = transactionalId;
    const p = new Producer(conf as never, topicConf as never);
    await cb<unknown>((done) => p.connect({}, (err) => done(err as LibrdKafkaError)));
    p.setPollInterval(20);
    if (!transactionalId) this.producers.set(key, p);
    return p;
  }

  private send(p: ProducerType, topic: string, messages: OutMessage[]): Promise<PartitionResult[]> {
    return new Promise((resolve, reject) => {
      const results = new Map<number, bigint>();
      let pending = messages.length;
      let failed: unknown;
      const onReport = (
        err: LibrdKafkaError | null,
        report: { opaque?: unknown; partition: number; offset: number },
      ) => {
        if (typeof report?.opaque !== "object" || (report.opaque as { tag?: unknown }).tag !== tag) return;
        if (err) failed ??= err;
        else {
          const prev = results.get(report.partition);
          const off = BigInt(report.offset ?? -1);
          if (prev === undefined || off < prev) results.set(report.partition, off);
        }
        if (--pending === 0) {
          p.removeListener("delivery-report", onReport as never);
          if (failed) reject(wrap(failed));
          else resolve([...results].map(([partition, baseOffset]) => ({ partition, baseOffset })));
        }
      };
      const tag = Symbol("batch");
      p.on("delivery-report", onReport as never);
      try {
        for (const m of messages) {
          const headers = m.headers ? Object.entries(m.headers).map(([k, v]) => ({ [k]: v })) : undefined;
          p.produce(
            topic,
            m.partition ?? null,
            toBuf(m.value) as Buffer,
            toBuf(m.key) ?? undefined,
            m.timestamp ?? null,
            { tag },
            headers,
          );
        }
        p.flush(15_000, () => {});
      } catch (err) {
        p.removeListener("delivery-report", onReport as never);
        reject(wrap(err));
      }
    });
  }

  async produce(
    topic: string,
    messages: OutMessage[],
    opts: ProduceOptions = {},
  ): Promise<PartitionResult[]> {
    const p = await this.producer(opts);
    return this.send(p, topic, messages);
  }

  async produceTransaction(
    topic: string,
    messages: OutMessage[],
    outcome: "commit" | "abort",
  ): Promise<void> {
    const p = await this.producer({ idempotent: true }, `gauntlet-tx-${uid()}`);
    try {
      await cb((done) => p.initTransactions(15_000, done));
      await cb((done) => p.beginTransaction(done));
      await this.send(p, topic, messages);
      if (outcome === "commit") await cb((done) => p.commitTransaction(15_000, done));
      else await cb((done) => p.abortTransaction(15_000, done));
    } finally {
      await new Promise<void>((r) => p.disconnect(() => r()));
    }
  }

  private newConsumer(
    conf: Record<string, string | number | boolean | ((...args: never[]) => void)>,
    topicConf: Record<string, string | number> = {},
  ): KafkaConsumerType {
    const c = new KafkaConsumer(
      {
        ...this.base(),
        "enable.auto.commit": false,
        "fetch.wait.max.ms": 100,
        "fetch.error.backoff.ms": 100,
        ...conf,
      } as never,
      topicConf as never,
    );
    this.consumers.add(c);
    return c;
  }

  private async closeConsumer(c: KafkaConsumerType): Promise<void> {
    if (!this.consumers.delete(c)) return;
    await new Promise<void>((r) => {
      const t = setTimeout(r, 10_000);
      c.disconnect(() => {
        clearTimeout(t);
        r();
      });
    });
  }

  private async partitionsOf(topic: string): Promise<number[]> {
    const p = await this.producer({});
    const md = await cb<{ topics: { name: string; partitions: { id: number }[] }[] }>((done) =>
      p.getMetadata({ topic, timeout: 5000 }, done as never),
    );
    const t = md.topics.find((x) => x.name === topic);
    if (!t?.partitions.length) throw new ClientError("UNKNOWN_TOPIC_OR_PARTITION", topic);
    return t.partitions.map((x) => x.id).sort((a, b) => a - b);
  }

  async consume(topic: string, opts: ConsumeOptions): Promise<ConsumeResult> {
    const from = opts.from ?? "earliest";
    const reset = opts.reset ?? from;
    const c = this.newConsumer(
      {
        "group.id": opts.groupId ?? `gauntlet-consume-${uid()}`,
        "isolation.level": opts.isolation ?? "read_committed",
      },
      { "auto.offset.reset": reset === "none" ? "error" : reset },
    );
    const messages: InMessage[] = [];
    let error: string | undefined;
    try {
      await cb((done) => c.connect({}, done as never));
      if (opts.groupId) {
        c.subscribe([topic]);
      } else {
        const partitions = await this.partitionsOf(topic);
        c.assign(
          partitions.map((partition) => {
            const explicit = opts.offsets?.find((o) => o.partition === partition);
            return {
              topic,
              partition,
              offset: explicit ? Number(explicit.offset) : from === "earliest" ? -2 : -1,
            };
          }),
        );
      }
      const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
      let readyDone = !opts.onReady;
      let firstPoll = true;
      while (messages.length < opts.count && Date.now() < deadline && !error) {
        const batch = await new Promise<Message[]>((resolve) => {
          c.consume(100, (err, msgs) => {
            if (err && err.code !== ERR.ERR__PARTITION_EOF && err.code !== ERR.ERR__TIMED_OUT) {
              error = rdkafkaErrorName(err);
            }
            resolve(msgs ?? []);
          });
        });
        messages.push(...batch.map(toIn));
        if (!readyDone && !firstPoll) {
          readyDone = true;
          await opts.onReady!();
        }
        firstPoll = false;
        if (!batch.length) await sleep(20);
      }
      return { messages, error };
    } finally {
      await this.closeConsumer(c);
    }
  }

  private async admin() {
    if (!this.adminClient) this.adminClient = AdminClient.create(this.base() as never);
    return this.adminClient;
  }

  async createTopics(topics: TopicSpec[]): Promise<void> {
    const admin = await this.admin();
    for (const t of topics) {
      await cb((done) =>
        admin.createTopic(
          {
            topic: t.topic,
            num_partitions: t.partitions ?? 1,
            replication_factor: t.replicationFactor ?? -1,
            config: t.configs ?? {},
          },
          15_000,
          done,
        ),
      );
    }
    // createTopic resolves once the controller created it; wait until metadata shows every leader.
    for (const t of topics) {
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          if ((await this.partitionsOf(t.topic)).length === (t.partitions ?? 1)) break;
        } catch {}
        if (Date.now() > deadline) throw new ClientError("TIMEOUT", `${t.topic} has no leaders`);
        await sleep(100);
      }
    }
  }

  async deleteTopics(topics: string[]): Promise<void> {
    const admin = await this.admin();
    for (const t of topics) await cb((done) => admin.deleteTopic(t, 15_000, done));
  }

  async createPartitions(topic: string, totalCount: number): Promise<void> {
    const admin = await this.admin();
    await cb((done) => admin.createPartitions(topic, totalCount, 15_000, done));
  }

  describeConfigs(): Promise<Record<string, string | null>> {
    throw new ClientError("UNSUPPORTED", this.unsupported.describeConfigs);
  }
  alterConfigs(): Promise<void> {
    throw new ClientError("UNSUPPORTED", this.unsupported.alterConfigs);
  }
  deleteRecords(): Promise<void> {
    throw new ClientError("UNSUPPORTED", this.unsupported.deleteRecords);
  }
  listGroups(): Promise<GroupSummary[]> {
    throw new ClientError("UNSUPPORTED", this.unsupported.listGroups);
  }
  describeGroups(): Promise<GroupDescription[]> {
    throw new ClientError("UNSUPPORTED", this.unsupported.describeGroups);
  }
  deleteGroups(): Promise<void> {
    throw new ClientError("UNSUPPORTED", this.unsupported.deleteGroups);
  }

  async listOffsets(
    topic: string,
    spec: "earliest" | "latest" | { timestamp: number },
  ): Promise<Map<number, bigint>> {
    const partitions = await this.partitionsOf(topic);
    const out = new Map<number, bigint>();
    if (typeof spec === "object") {
      const c = this.newConsumer({ "group.id": `gauntlet-offsets-${uid()}` });
      try {
        await cb((done) => c.connect({}, done as never));
        const res = await cb<{ partition: number; offset: number }[]>((done) =>
          c.offsetsForTimes(
            partitions.map((partition) => ({ topic, partition, offset: spec.timestamp })),
            10_000,
            done as never,
          ),
        );
        for (const r of res) out.set(r.partition, BigInt(r.offset));
      } finally {
        await this.closeConsumer(c);
      }
      return out;
    }
    const p = await this.producer({});
    for (const partition of partitions) {
      const w = await cb<{ lowOffset: number; highOffset: number }>((done) =>
        p.queryWatermarkOffsets(topic, partition, 10_000, done as never),
      );
      out.set(partition, BigInt(spec === "earliest" ? w.lowOffset : w.highOffset));
    }
    return out;
  }

  async fetchOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const partitions = await this.partitionsOf(topic);
    const c = this.newConsumer({ "group.id": groupId });
    try {
      await cb((done) => c.connect({}, done as never));
      const res = await cb<{ partition: number; offset: number }[]>((done) =>
        c.committed(
          partitions.map((partition) => ({ topic, partition })),
          10_000,
          done as never,
        ),
      );
      return new Map(res.map((r) => [r.partition, BigInt(r.offset ?? -1)]));
    } finally {
      await this.closeConsumer(c);
    }
  }

  async joinGroup(opts: GroupMemberOptions): Promise<GroupMember> {
    let current: Assignment = [];
    const history: Assignment[] = [];
    let generations = 0;
    const received: InMessage[] = [];
    const assignor = opts.assignor ?? "range";
    const conf: Record<string, string | number | boolean | ((...args: never[]) => void)> = {
      "group.id": opts.groupId,
      "session.timeout.ms": opts.sessionTimeoutMs ?? 10_000,
      "heartbeat.interval.ms": 300,
      "partition.assignment.strategy": assignor,
      "isolation.level": "read_committed",
      rebalance_cb: function (
        this: KafkaConsumerType,
        err: LibrdKafkaError,
        assignment: { topic: string; partition: number }[],
      ) {
        try {
          const cooperative = this.rebalanceProtocol() === "COOPERATIVE";
          const parts = assignment.map((a) => ({ topic: a.topic, partition: a.partition }));
          if (err.code === ERR.ERR__ASSIGN_PARTITIONS) {
            if (cooperative) {
              this.incrementalAssign(assignment);
              current = sortAssignment([...current, ...parts]);
            } else {
              this.assign(assignment);
              current = sortAssignment(parts);
            }
            history.push(current);
            generations++;
          } else if (err.code === ERR.ERR__REVOKE_PARTITIONS) {
            if (cooperative) {
              this.incrementalUnassign(assignment);
              current = current.filter(
                (c) => !parts.some((p) => p.topic === c.topic && p.partition === c.partition),
              );
            } else {
              this.unassign();
              current = [];
            }
            history.push(current);
          }
        } catch {
          // the consumer is closing: librdkafka refuses (un)assign in that state (ERR__STATE)
        }
      } as never,
    };
    if (opts.instanceId) conf["group.instance.id"] = opts.instanceId;
    const c = this.newConsumer(conf, {
      "auto.offset.reset": opts.fromBeginning === false ? "latest" : "earliest",
    });
    await cb((done) => c.connect({}, done as never));
    c.on("data", (m) => received.push(toIn(m)));
    c.subscribe(opts.topics);
    c.consume();
    const self = this;
    return {
      groupId: opts.groupId,
      assignment: () => current,
      history: () => history,
      get generations() {
        return generations;
      },
      received,
      async waitForAssignment(pred, timeoutMs = 20_000) {
        const deadline = Date.now() + timeoutMs;
        while (!(generations > 0 && pred(current))) {
          if (Date.now() > deadline) {
            throw new Error(`rdkafka member: assignment ${JSON.stringify(current)} never matched`);
          }
          await sleep(50);
        }
        return current;
      },
      async waitForMessages(count, timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        while (received.length < count && Date.now() < deadline) await sleep(20);
        return received;
      },
      async commit(offsets: TopicPartitionOffset[]) {
        try {
          c.commitSync(
            offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: Number(o.offset) })),
          );
        } catch (err) {
          throw wrap(err);
        }
      },
      async leave() {
        await self.closeConsumer(c);
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => this.closeConsumer(c)));
    await Promise.all(
      [...this.producers.values()].map((p) => new Promise<void>((r) => p.disconnect(() => r()))),
    );
    this.producers.clear();
    this.adminClient?.disconnect();
    this.adminClient = undefined;
  }
}
