/**
 * Cluster mode: the internal `__consumer_offsets` topic — its name and configs, and the view of one of
 * its partitions that a group coordinator writes through (`OffsetsPartitionLog`, the `OffsetsLogPort`
 * of `broker/groups/partition-store.ts`).
 *
 * Writes go through the partition log as its leader (at the leader epoch the coordinator was loaded
 * in), then wait for the ISR like a Produce with acks=all (`ReplicaManager.waitForReplication`,
 * bounded by Kafka's offsets.commit.timeout.ms): a write is acknowledged only once committed, so a
 * failover to any ISR member keeps it. Reads (loading) first wait until the high watermark covers the
 * log end offset this leader started with — everything an earlier leader acknowledged is below it —
 * then read from the log start up to the high watermark.
 */
import { ERROR_CODES } from "../../../protocol/error-codes.ts";
import { decodeRecordBatch, encodeRecordBatch, splitBatches } from "../../../protocol/records/index.ts";
import { type KeyValue, type OffsetsLogPort, storeError } from "../../groups/index.ts";
import { isStorageError } from "../../storage/errors.ts";
import type { Broker } from "../broker.ts";
import { effectiveConfig } from "../state/topic-config.ts";
import type { PartitionRuntime } from "../state/topics.ts";

export const OFFSETS_TOPIC = "__consumer_offsets";
/** Kafka's internal topics (Topic.isInternal): Metadata reports them with isInternal = true. */
export const INTERNAL_TOPICS: ReadonlySet<string> = new Set([OFFSETS_TOPIC, "__transaction_state"]);
/** The configs Kafka gives `__consumer_offsets` (compression.type=producer is the default here). */
export const OFFSETS_TOPIC_CONFIGS: Readonly<Record<string, string>> = {
  "cleanup.policy": "compact",
  "segment.bytes": "104857600",
};
/** offsets.commit.timeout.ms: how long a group write waits for the ISR. */
export const OFFSETS_COMMIT_TIMEOUT_MS = 5000;
/** offsets.load.buffer.size: bytes read per step while loading a partition. */
const LOAD_BUFFER_BYTES = 5 * 1024 * 1024;
/** How often a load waiting for the high watermark re-checks that this node still leads. */
const LOAD_WAIT_STEP_MS = 1000;

const E = ERROR_CODES;

export class OffsetsPartitionLog implements OffsetsLogPort {
  private closed = false;

  constructor(
    private readonly broker: Broker,
    readonly partition: number,
    readonly leaderEpoch: number,
  ) {}

  /** Later appends and loads fail with NOT_LEADER_OR_FOLLOWER (the coordinator was unloaded). */
  close(): void {
    this.closed = true;
  }

  /** The partition, while this node still leads it at the epoch it was loaded in; else throws. */
  private leaderPartition(): PartitionRuntime {
    const part = this.broker.topics.partition(OFFSETS_TOPIC, this.partition);
    const lead = this.broker.partitionLeadership(OFFSETS_TOPIC, this.partition);
    if (this.closed || !part || lead.errorCode !== 0 || lead.leaderEpoch !== this.leaderEpoch) {
      throw storeError(
        `no longer the leader of ${OFFSETS_TOPIC}-${this.partition} at epoch ${this.leaderEpoch}`,
        E.NOT_LEADER_OR_FOLLOWER,
      );
    }
    return part;
  }

  private get replication() {
    const r = this.broker.replication;
    if (!r) throw new Error("OffsetsPartitionLog needs cluster mode (partition replication)");
    return r;
  }

  async append(records: KeyValue[]): Promise<void> {
    const part = this.leaderPartition();
    const replication = this.replication;
    const broker = this.broker;
    const placement = broker.partitionReplicas(OFFSETS_TOPIC, this.partition);
    const replicas = placement?.replicas ?? [broker.nodeId];
    const isr = replication.isr(OFFSETS_TOPIC, this.partition) ?? placement?.isr ?? replicas;
    const configs = broker.topics.get(OFFSETS_TOPIC)?.meta.configs ?? {};
    const minIsr = Math.min(Number(effectiveConfig(configs, "min.insync.replicas")), replicas.length);
    if (isr.length < minIsr) {
      throw storeError(
        `the ISR of ${OFFSETS_TOPIC}-${this.partition} (${isr.length}) is below min.insync.replicas (${minIsr})`,
        E.NOT_ENOUGH_REPLICAS,
      );
    }
    const now = Date.now();
    const batch = encodeRecordBatch({
      partitionLeaderEpoch: this.leaderEpoch,
      records: records.map((r) => ({ key: r.key, value: r.value, timestamp: now })),
    });
    const required = await part.mutex.run(async () => {
      this.leaderPartition();
      let lastOffset: number;
      try {
        const result = await part.log.append(batch, {
          leaderEpoch: this.leaderEpoch,
          timestampType: "CreateTime",
          now,
        });
        lastOffset = result.lastOffset;
      } catch (e) {
        if (isStorageError(e)) throw storeError(e.message, E[e.kafkaError]);
        throw e;
      }
      replication.onLeaderAppend(part);
      broker.topics.updateGauges(part);
      broker.notifier.notify(OFFSETS_TOPIC, this.partition);
      return lastOffset + 1;
    });
    const code = await replication.waitForReplication(part, required, minIsr, OFFSETS_COMMIT_TIMEOUT_MS);
    if (code !== 0) {
      throw storeError(
        `group write to ${OFFSETS_TOPIC}-${this.partition} not replicated (error ${code})`,
        code,
      );
    }
  }

  async read(): Promise<{ key: Buffer | null; value: Buffer | null }[]> {
    const part = this.leaderPartition();
    const target = part.log.logEndOffset;
    // Everything an earlier leader acknowledged is in this log (this node was in the ISR), below
    // `target`; records above the local high watermark are committed once the ISR has them.
    for (;;) {
      const code = await this.replication.waitForReplication(part, target, 1, LOAD_WAIT_STEP_MS);
      if (code === 0) break;
      if (code !== E.REQUEST_TIMED_OUT) {
        throw storeError(`cannot load ${OFFSETS_TOPIC}-${this.partition} (error ${code})`, code);
      }
      this.leaderPartition();
    }
    this.leaderPartition();
    const out: { key: Buffer | null; value: Buffer | null }[] = [];
    const hw = part.log.highWatermark;
    let offset = part.log.logStartOffset;
    while (offset < hw) {
      const res = await part.log.read(offset, LOAD_BUFFER_BYTES, { maxOffset: hw, minOneMessage: true });
      if (res.records.length === 0) break;
      let next = offset;
      for (const span of splitBatches(res.records)) {
        const batch = decodeRecordBatch(res.records, span.offset);
        if (!batch.isControl) for (const r of batch.records) out.push({ key: r.key, value: r.value });
        next = Number(batch.header.baseOffset) + batch.header.lastOffsetDelta + 1;
      }
      if (next <= offset) break;
      offset = next;
    }
    return out;
  }
}
