// The kafkajs implementation of ConformanceClient. kafkajs consumers always belong to a group, so an
// assignment-style consume() joins a fresh single-member group. Snappy/LZ4/ZSTD codecs are plugged in
// from protocol/records (kafkajs-codecs.ts), so every compression test covers kafkajs too.
import { randomBytes } from "node:crypto";
import kafkajs, {
  type Admin,
  type Consumer,
  type IHeaders,
  type Kafka as KafkaType,
  type Message,
  type Producer,
} from "kafkajs";
import { registerKafkajsCodecs } from "./kafkajs-codecs.ts";
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

const { Kafka, logLevel, CompressionTypes, Partitioners, ConfigResourceTypes, AssignerProtocol } = kafkajs;

const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uid = () => randomBytes(4).toString("hex");

/** Finds the Kafka error type in a kafkajs error chain (retries wrap it, admin ops aggregate it). */
export function kafkajsErrorName(err: unknown): string {
  const seen = new Set<unknown>();
  const stack: unknown[] = [err];
  while (stack.length) {
    const e = stack.shift() as
      | { type?: string; cause?: unknown; originalError?: unknown; errors?: unknown[]; groups?: unknown[] }
      | undefined;
    if (!e || typeof e !== "object" || seen.has(e)) continue;
    seen.add(e);
    if (typeof e.type === "string" && e.type !== "UNKNOWN") return e.type;
    stack.push(e.cause, e.originalError, ...(e.errors ?? []));
    for (const g of (e.groups ?? []) as { error?: unknown }[]) stack.push(g.error);
  }
  return (err as Error)?.name ?? "UNKNOWN";
}

function wrap(err: unknown): ClientError {
  if (err instanceof ClientError) return err;
  return new ClientError(kafkajsErrorName(err), (err as Error)?.message ?? String(err), err);
}

function toHeaders(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String).join(",") : String(v);
  }
  return out;
}

function toMessage(m: OutMessage): Message {
  return {
    key: m.key ?? null,
    value: m.value,
    headers: m.headers,
    partition: m.partition,
    timestamp: m.timestamp !== undefined ? String(m.timestamp) : undefined,
  };
}

export class KafkajsClient implements ConformanceClient {
  readonly kind = "kafkajs" as const;
  readonly unsupported = {
    resetNone:
      'kafkajs has no auto.offset.reset "none": an out-of-range position is always reset (fromBeginning decides earliest/latest)',
    cooperativeSticky: "kafkajs 2.2.4 implements only the eager rebalance protocol (no cooperative-sticky)",
    staticMembership: "kafkajs 2.2.4 has no static membership (group.instance.id, KIP-345)",
  };
  private readonly kafka: KafkaType;
  private adminClient: Admin | undefined;
  private producers = new Map<string, Producer>();
  private consumers = new Set<Consumer>();

  constructor(bootstrap: string) {
    registerKafkajsCodecs();
    this.kafka = new Kafka({
      clientId: "gauntlet-conformance-kafkajs",
      brokers: bootstrap.split(","),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3000,
      requestTimeout: 15_000,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  private async admin(): Promise<Admin> {
    if (!this.adminClient) {
      const a = this.kafka.admin({ retry: { retries: 2, initialRetryTime: 100 } });
      await a.connect();
      this.adminClient = a;
    }
    return this.adminClient;
  }

  private async producer(opts: ProduceOptions): Promise<Producer> {
    const retries = opts.retries ?? 2;
    const key = `${opts.idempotent ? "idem" : "plain"}-${retries}`;
    let p = this.producers.get(key);
    if (!p) {
      p = this.kafka.producer({
        idempotent: opts.idempotent ?? false,
        maxInFlightRequests: opts.idempotent ? 1 : undefined,
        createPartitioner: Partitioners.JavaCompatiblePartitioner,
        allowAutoTopicCreation: false,
        retry: { retries, initialRetryTime: 100, maxRetryTime: 1000 },
      });
      await p.connect();
      this.producers.set(key, p);
    }
    return p;
  }

  async produce(
    topic: string,
    messages: OutMessage[],
    opts: ProduceOptions = {},
  ): Promise<PartitionResult[]> {
    try {
      const p = await this.producer(opts);
      const res = await p.send({
        topic,
        messages: messages.map(toMessage),
        acks: opts.acks ?? -1,
        timeout: opts.timeoutMs ?? 10_000,
        compression: COMPRESSION[opts.compression ?? "none"],
      });
      return res.map((r) => ({ partition: r.partition, baseOffset: BigInt(r.baseOffset ?? "-1") }));
    } catch (err) {
      throw wrap(err);
    }
  }

  async produceTransaction(
    topic: string,
    messages: OutMessage[],
    outcome: "commit" | "abort",
  ): Promise<void> {
    const p = this.kafka.producer({
      transactionalId: `gauntlet-tx-${uid()}`,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.JavaCompatiblePartitioner,
      retry: { retries: 3, initialRetryTime: 100 },
    });
    await p.connect();
    try {
      const tx = await p.transaction();
      await tx.send({ topic, messages: messages.map(toMessage) });
      if (outcome === "commit") await tx.commit();
      else await tx.abort();
    } catch (err) {
      throw wrap(err);
    } finally {
      await p.disconnect();
    }
  }

  private newConsumer(groupId: string, extra: Partial<Parameters<KafkaType["consumer"]>[0]> = {}): Consumer {
    const c = this.kafka.consumer({
      groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 500,
      rebalanceTimeout: 10_000,
      maxWaitTimeInMs: 100,
      retry: { retries: 3, initialRetryTime: 100 },
      ...extra,
    });
    this.consumers.add(c);
    return c;
  }

  private async closeConsumer(c: Consumer): Promise<void> {
    this.consumers.delete(c);
    await c.disconnect().catch(() => {});
  }

  async consume(topic: string, opts: ConsumeOptions): Promise<ConsumeResult> {
    if (opts.reset === "none") throw new ClientError("UNSUPPORTED", this.unsupported.resetNone);
    const from = opts.reset ?? opts.from ?? "earliest";
    const groupId = opts.groupId ?? `gauntlet-consume-${uid()}`;
    const consumer = this.newConsumer(groupId, { readUncommitted: opts.isolation === "read_uncommitted" });
    const messages: InMessage[] = [];
    let crash: unknown;
    try {
      await consumer.connect();
      let joined!: () => void;
      const joinedP = new Promise<void>((r) => {
        joined = r;
      });
      consumer.on(consumer.events.GROUP_JOIN, () => joined());
      let retriedError: unknown;
      consumer.on(consumer.events.CRASH, (e) => {
        // kafkajs restarts the consumer itself after a retriable error (a coordinator still loading
        // on a fresh cluster, say): keep waiting, and report the error only if records never come
        if (e.payload.restart) retriedError = e.payload.error;
        else crash = e.payload.error;
      });
      await consumer.subscribe({ topics: [topic], fromBeginning: from === "earliest" });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic: t, partition, message }) => {
          // a rejoin without commits re-reads from the start: a re-read offset is not a new record
          if (messages.some((m) => m.partition === partition && m.offset === BigInt(message.offset))) return;
          messages.push({
            topic: t,
            partition,
            offset: BigInt(message.offset),
            key: message.key ?? null,
            value: message.value ?? null,
            headers: toHeaders(message.headers),
            timestamp: Number(message.timestamp),
          });
        },
      });
      for (const o of opts.offsets ?? [])
        consumer.seek({ topic, partition: o.partition, offset: String(o.offset) });
      const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
      await Promise.race([joinedP, sleep(opts.timeoutMs ?? 15_000)]);
      if (opts.onReady) {
        await sleep(300); // let the first fetch position the consumer before "new" records arrive
        await opts.onReady();
      }
      while (messages.length < opts.count && Date.now() < deadline && !crash) await sleep(20);
      if (crash) return { messages, error: kafkajsErrorName(crash) };
      if (messages.length < opts.count && retriedError) {
        return { messages, error: kafkajsErrorName(retriedError) };
      }
      return { messages: messages.slice(0, Math.max(opts.count, messages.length)) };
    } finally {
      await this.closeConsumer(consumer);
    }
  }

  async createTopics(topics: TopicSpec[]): Promise<void> {
    const admin = await this.admin();
    let created: boolean;
    try {
      created = await admin.createTopics({
        waitForLeaders: true,
        timeout: 15_000,
        topics: topics.map((t) => ({
          topic: t.topic,
          numPartitions: t.partitions ?? 1,
          replicationFactor: t.replicationFactor ?? -1,
          configEntries: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
        })),
      });
    } catch (err) {
      throw wrap(err);
    }
    // kafkajs reports TOPIC_ALREADY_EXISTS (for every topic of the request) by returning false.
    if (!created) throw new ClientError("TOPIC_ALREADY_EXISTS", "kafkajs createTopics returned false");
  }

  async deleteTopics(topics: string[]): Promise<void> {
    const admin = await this.admin();
    await admin.deleteTopics({ topics, timeout: 15_000 }).catch((e) => {
      throw wrap(e);
    });
  }

  async createPartitions(topic: string, totalCount: number): Promise<void> {
    const admin = await this.admin();
    await admin.createPartitions({ topicPartitions: [{ topic, count: totalCount }] }).catch((e) => {
      throw wrap(e);
    });
  }

  async describeConfigs(topic: string): Promise<Record<string, string | null>> {
    const admin = await this.admin();
    try {
      const res = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
      });
      const r = res.resources[0];
      if (r.errorCode) throw new ClientError(String(r.errorCode), r.errorMessage ?? "describeConfigs");
      return Object.fromEntries(r.configEntries.map((e) => [e.configName, e.configValue ?? null]));
    } catch (err) {
      throw wrap(err);
    }
  }

  async alterConfigs(topic: string, configs: Record<string, string>): Promise<void> {
    const admin = await this.admin();
    await admin
      .alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: topic,
            configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
          },
        ],
      })
      .catch((e) => {
        throw wrap(e);
      });
  }

  async listOffsets(
    topic: string,
    spec: "earliest" | "latest" | { timestamp: number },
  ): Promise<Map<number, bigint>> {
    const admin = await this.admin();
    try {
      if (typeof spec === "object") {
        const res = await admin.fetchTopicOffsetsByTimestamp(topic, spec.timestamp);
        return new Map(res.map((r) => [r.partition, BigInt(r.offset)]));
      }
      const res = await admin.fetchTopicOffsets(topic);
      return new Map(res.map((r) => [r.partition, BigInt(spec === "earliest" ? r.low : r.high)]));
    } catch (err) {
      throw wrap(err);
    }
  }

  async deleteRecords(topic: string, partition: number, beforeOffset: bigint): Promise<void> {
    const admin = await this.admin();
    await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => {}); // learn the leader first
    await admin
      .deleteTopicRecords({ topic, partitions: [{ partition, offset: String(beforeOffset) }] })
      .catch((e) => {
        throw wrap(e);
      });
  }

  async listGroups(): Promise<GroupSummary[]> {
    const admin = await this.admin();
    const res = await admin.listGroups().catch((e) => {
      throw wrap(e);
    });
    return res.groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType }));
  }

  async describeGroups(groupIds: string[]): Promise<GroupDescription[]> {
    const admin = await this.admin();
    const res = await admin.describeGroups(groupIds).catch((e) => {
      throw wrap(e);
    });
    return res.groups.map((g) => ({
      groupId: g.groupId,
      state: g.state,
      protocolType: g.protocolType,
      protocol: g.protocol,
      members: g.members.map((m) => {
        const decoded = m.memberAssignment?.length
          ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
          : null;
        return {
          memberId: m.memberId,
          clientId: m.clientId,
          assignment: Object.entries(decoded?.assignment ?? {}).map(([topic, partitions]) => ({
            topic,
            partitions: [...(partitions as number[])].sort((a, b) => a - b),
          })),
        };
      }),
    }));
  }

  async deleteGroups(groupIds: string[]): Promise<void> {
    const admin = await this.admin();
    await admin.deleteGroups(groupIds).catch((e) => {
      throw wrap(e);
    });
  }

  async fetchOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const admin = await this.admin();
    const res = await admin.fetchOffsets({ groupId, topics: [topic] }).catch((e) => {
      throw wrap(e);
    });
    return new Map(res[0].partitions.map((p) => [p.partition, BigInt(p.offset)]));
  }

  async joinGroup(opts: GroupMemberOptions): Promise<GroupMember> {
    if (opts.assignor === "cooperative-sticky") {
      throw new ClientError("UNSUPPORTED", this.unsupported.cooperativeSticky);
    }
    if (opts.instanceId) throw new ClientError("UNSUPPORTED", this.unsupported.staticMembership);
    const consumer = this.newConsumer(opts.groupId, {
      sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 300,
    });
    let current: Assignment = [];
    const history: Assignment[] = [];
    let generations = 0;
    const received: InMessage[] = [];
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const a: Assignment = [];
      for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
        for (const partition of partitions) a.push({ topic, partition });
      }
      current = sortAssignment(a);
      history.push(current);
      generations++;
    });
    await consumer.connect();
    await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning ?? true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        received.push({
          topic,
          partition,
          offset: BigInt(message.offset),
          key: message.key ?? null,
          value: message.value ?? null,
          headers: toHeaders(message.headers),
          timestamp: Number(message.timestamp),
        });
      },
    });
    const self = this;
    const member: GroupMember = {
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
            throw new Error(`kafkajs member: assignment ${JSON.stringify(current)} never matched`);
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
        await consumer
          .commitOffsets(
            offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: String(o.offset) })),
          )
          .catch((e) => {
            throw wrap(e);
          });
      },
      async leave() {
        await self.closeConsumer(consumer);
      },
    };
    return member;
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => this.closeConsumer(c)));
    await Promise.all([...this.producers.values()].map((p) => p.disconnect().catch(() => {})));
    this.producers.clear();
    await this.adminClient?.disconnect().catch(() => {});
    this.adminClient = undefined;
  }
}
