/**
 * Topics and partitions at runtime: the durable metadata (MetadataStore) plus, per partition, its
 * PartitionLog (broker/storage), idempotent-producer state and produce mutex. Partition directories
 * follow Kafka's `<topic>-<partition>` naming under the data dir.
 */
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { splitBatches } from "../../../protocol/records/batch-header.ts";
import { type Compression, decompress } from "../../../protocol/records/compression.ts";
import type { LogConfig } from "../../storage/config.ts";
import { PartitionLog } from "../../storage/partition-log.ts";
import type { BrokerSettings } from "../config.ts";
import type { BrokerMetrics } from "../metrics.ts";
import { Mutex } from "./append-notifier.ts";
import { type MetadataStore, newTopicId, type TopicMeta } from "./metadata-store.ts";
import { PartitionProducerState } from "./producer-state.ts";
import { effectiveConfig } from "./topic-config.ts";
import { collisionKey, invalidTopicName } from "./topic-names.ts";

export { invalidTopicName };

/** The single node is always the leader, at this epoch (no reassignment ever bumps it). */
export const LEADER_EPOCH = 0;

export interface PartitionRuntime {
  topic: string;
  index: number;
  log: PartitionLog;
  producers: PartitionProducerState;
  mutex: Mutex;
}

export interface TopicRuntime {
  meta: TopicMeta;
  partitions: PartitionRuntime[];
}

export class TopicManager {
  private readonly topics = new Map<string, TopicRuntime>();
  private readonly byId = new Map<string, TopicRuntime>();
  private readonly byCollisionKey = new Map<string, string>();
  /** Serialises metadata changes (create, delete, add partitions, configs). */
  readonly adminMutex = new Mutex();

  constructor(
    private readonly store: MetadataStore,
    private readonly settings: BrokerSettings,
    private readonly log: Logger,
    private readonly metrics: BrokerMetrics,
  ) {}

  /** Opens every partition of every stored topic and rebuilds producer state from the logs. */
  async loadAll(): Promise<void> {
    for (const meta of this.store.topics.values()) {
      const rt: TopicRuntime = { meta, partitions: [] };
      for (let p = 0; p < meta.partitions; p++) rt.partitions.push(await this.openPartition(meta, p, true));
      this.index(rt);
    }
  }

  get(name: string): TopicRuntime | undefined {
    return this.topics.get(name);
  }

  getById(id: string): TopicRuntime | undefined {
    return this.byId.get(id);
  }

  list(): TopicRuntime[] {
    return [...this.topics.values()].sort((a, b) =>
      a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0,
    );
  }

  partition(topic: string, index: number): PartitionRuntime | undefined {
    return this.topics.get(topic)?.partitions[index];
  }

  /** The name an existing topic collides with ('.' vs '_'), if any. */
  collidesWith(name: string): string | undefined {
    const other = this.byCollisionKey.get(collisionKey(name));
    return other !== undefined && other !== name ? other : undefined;
  }

  private index(rt: TopicRuntime): void {
    this.topics.set(rt.meta.name, rt);
    this.byId.set(rt.meta.id, rt);
    this.byCollisionKey.set(collisionKey(rt.meta.name), rt.meta.name);
  }

  private partitionDir(topic: string, p: number): string {
    return join(this.settings.dataDir, `${topic}-${p}`);
  }

  /** Storage configuration for a topic: its overrides on top of the broker defaults. */
  logConfig(meta: TopicMeta): Partial<LogConfig> {
    const flush = this.settings.flush;
    // As in Kafka, retention deletes segments only of topics whose cleanup.policy includes delete
    // (a compact-only topic such as __consumer_offsets keeps its log; compaction is not carried out).
    const deletes = effectiveConfig(meta.configs, "cleanup.policy")
      .split(",")
      .some((p) => p.trim() === "delete");
    return {
      retentionMs: deletes ? Number(effectiveConfig(meta.configs, "retention.ms")) : -1,
      retentionBytes: deletes ? Number(effectiveConfig(meta.configs, "retention.bytes")) : -1,
      segmentBytes: Math.max(128, Number(effectiveConfig(meta.configs, "segment.bytes"))),
      maxMessageBytes: Number(effectiveConfig(meta.configs, "max.message.bytes")),
      flushPolicy: flush.kind === "interval" ? "interval" : flush.kind === "none" ? "none" : "every-batch",
      ...(flush.kind === "interval" ? { flushIntervalMs: flush.ms } : {}),
    };
  }

  private async openPartition(meta: TopicMeta, p: number, rebuild: boolean): Promise<PartitionRuntime> {
    const dir = this.partitionDir(meta.name, p);
    const log = await PartitionLog.open({
      dir,
      config: this.logConfig(meta),
      fsyncObserver: (e) => this.metrics.fsyncLatency.observe({ kind: e.kind }, e.seconds),
      decompress: (codec, data) => decompress(codec as Compression, data),
      onWarning: (message, details) => this.log.warn({ ...details, topic: meta.name, partition: p }, message),
    });
    // A single replica is the whole ISR: everything in the log is committed. In cluster mode the
    // checkpointed high watermark stands; the leader advances it as the ISR confirms.
    if (!this.settings.cluster) log.setHighWatermark(log.logEndOffset);
    const rt: PartitionRuntime = {
      topic: meta.name,
      index: p,
      log,
      producers: new PartitionProducerState(),
      mutex: new Mutex(),
    };
    if (rebuild) await rebuildProducerState(rt);
    this.updateGauges(rt);
    return rt;
  }

  updateGauges(p: PartitionRuntime): void {
    const labels = { topic: p.topic, partition: String(p.index) };
    this.metrics.logEndOffset.set(labels, p.log.logEndOffset);
    this.metrics.highWatermark.set(labels, p.log.highWatermark);
  }

  async create(
    name: string,
    partitions: number,
    configs: Record<string, string>,
    id: string = newTopicId(),
  ): Promise<TopicRuntime> {
    const meta: TopicMeta = { name, id, partitions, configs, createdAtMs: Date.now() };
    const rt: TopicRuntime = { meta, partitions: [] };
    // Start from empty directories even if a crash left some behind from an earlier incarnation.
    for (let p = 0; p < partitions; p++)
      await rm(this.partitionDir(name, p), { recursive: true, force: true });
    for (let p = 0; p < partitions; p++) rt.partitions.push(await this.openPartition(meta, p, false));
    this.store.topics.set(name, meta);
    await this.store.save();
    this.index(rt);
    this.log.info({ topic: name, topicId: meta.id, partitions, configs }, "topic created");
    return rt;
  }

  async delete(name: string): Promise<void> {
    const rt = this.topics.get(name);
    if (!rt) return;
    this.topics.delete(name);
    this.byId.delete(rt.meta.id);
    this.byCollisionKey.delete(collisionKey(name));
    this.store.topics.delete(name);
    await this.store.save();
    for (const p of rt.partitions) {
      await p.log.discard().catch(() => {});
      const dir = this.partitionDir(name, p.index);
      const doomed = `${dir}.${rt.meta.id.replace(/-/g, "")}-delete`;
      await rename(dir, doomed).catch(() => {});
      await rm(doomed, { recursive: true, force: true });
      this.metrics.logEndOffset.remove({ topic: name, partition: String(p.index) });
      this.metrics.highWatermark.remove({ topic: name, partition: String(p.index) });
    }
    this.log.info({ topic: name, topicId: rt.meta.id }, "topic deleted");
  }

  async addPartitions(name: string, total: number): Promise<void> {
    const rt = this.topics.get(name)!;
    for (let p = rt.partitions.length; p < total; p++) {
      await rm(this.partitionDir(name, p), { recursive: true, force: true });
      rt.partitions.push(await this.openPartition(rt.meta, p, false));
    }
    rt.meta.partitions = total;
    await this.store.save();
    this.log.info({ topic: name, partitions: total }, "partitions added");
  }

  async setConfigs(name: string, configs: Record<string, string>): Promise<void> {
    const rt = this.topics.get(name)!;
    rt.meta.configs = configs;
    await this.store.save();
    const cfg = this.logConfig(rt.meta);
    for (const p of rt.partitions) p.log.updateConfig(cfg);
    this.log.info({ topic: name, configs }, "topic configs changed");
  }

  /** Retention pass over every partition (Kafka's log.retention.check.interval.ms task). */
  async enforceRetention(): Promise<void> {
    for (const rt of this.topics.values()) {
      for (const p of rt.partitions) {
        try {
          const n = await p.log.deleteOldSegments();
          if (n > 0)
            this.log.info({ topic: p.topic, partition: p.index, segments: n }, "retention deleted segments");
        } catch (e) {
          this.log.warn(
            { err: (e as Error).message, topic: p.topic, partition: p.index },
            "retention pass failed",
          );
        }
      }
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.topics.values()].flatMap((t) => t.partitions);
    await Promise.all(
      all.map((p) =>
        p.log
          .close()
          .catch((e) => this.log.error({ err: (e as Error).message, topic: p.topic }, "log close failed")),
      ),
    );
  }
}

/**
 * Replays batch headers from the log start to rebuild idempotent-producer state, so duplicate
 * detection and sequence checks survive restarts (Kafka rebuilds from snapshots plus the log tail).
 */
export async function rebuildProducerState(p: PartitionRuntime): Promise<void> {
  const log = p.log;
  let offset = log.logStartOffset;
  const end = log.logEndOffset;
  while (offset < end) {
    const res = await log.read(offset, 1 << 20, { minOneMessage: true });
    if (res.records.length === 0) break;
    let next = offset;
    for (const span of splitBatches(res.records)) {
      const b = res.records;
      const at = span.offset;
      const baseOffset = Number(b.readBigInt64BE(at));
      const lastOffsetDelta = b.readInt32BE(at + 23);
      const producerId = b.readBigInt64BE(at + 43);
      if (producerId >= 0n) {
        p.producers.record(
          {
            producerId,
            producerEpoch: b.readInt16BE(at + 51),
            baseSequence: b.readInt32BE(at + 53),
            lastOffsetDelta,
          },
          baseOffset,
          Number(b.readBigInt64BE(at + 35)),
        );
      }
      next = baseOffset + lastOffsetDelta + 1;
    }
    if (next <= offset) break;
    offset = next;
  }
}
