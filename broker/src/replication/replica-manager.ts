/**
 * Cluster mode's partition replication, the way Apache Kafka's ReplicaManager/Partition do it.
 *
 * Leader side (partitions this node leads in the committed image): tracks each follower's log end
 * offset from the fetch offsets of its replica Fetch requests, advances the high watermark to the
 * smallest log end offset in the ISR, completes acks=all produce requests once the high watermark
 * passes them, and changes the ISR through the controller (AlterPartition): a follower that has not
 * been caught up for `replica.lag.time.max.ms` is removed; one that reached the high watermark (and
 * this leader epoch's start) is added back. While an addition is in flight the high watermark already
 * counts the new member (Kafka's "maximal ISR"), so a replica that becomes electable never misses a
 * committed record.
 *
 * Follower side: one `FollowerFetcher` per leader broker, fetching with the Kafka protocol (replica id
 * set). When leadership or the leader epoch changes, the fetcher first truncates a divergent log with
 * OffsetForLeaderEpoch, then fetches.
 *
 * Image changes arrive serially through `onImage`, after the local topics were reconciled.
 */
import type { Logger } from "pino";
import { ERROR_CODES } from "../../../protocol/error-codes.ts";
import type { AlterPartitionRequest } from "../../../protocol/generated/alter-partition-request.ts";
import type { MetadataImage, PartitionImage } from "../../controller/metadata-image.ts";
import type { MetadataNode } from "../cluster/metadata-node.ts";
import type { AppendNotifier } from "../state/append-notifier.ts";
import type { PartitionRuntime, TopicManager } from "../state/topics.ts";
import { type FollowedPartition, FollowerFetcher } from "./follower-fetcher.ts";

export interface ReplicationOptions {
  nodeId: number;
  topics: TopicManager;
  notifier: AppendNotifier;
  cluster: MetadataNode;
  log: Logger;
  replicaLagTimeMaxMs: number;
  /**
   * How this node reaches other brokers' Kafka listeners (`--kafka-peers`), when set: overrides the
   * registered endpoint, so a harness can route each replication link through its own proxy.
   */
  kafkaPeers?: ReadonlyMap<number, string>;
  /** Mutation tests only: followers skip divergence truncation. */
  skipTruncation?: boolean;
}

interface FollowerState {
  /** The follower's log end offset (its last fetch offset); -1 until it fetched in this epoch. */
  leo: number;
  /** When the follower was last known to be caught up with this leader's log end offset. */
  lastCaughtUpMs: number;
  lastFetchMs: number;
  /** This leader's log end offset at the follower's previous fetch. */
  lastFetchLeaderLeo: number;
}

interface LeaderState {
  topic: string;
  topicId: string;
  partition: number;
  leaderEpoch: number;
  partitionEpoch: number;
  /** The log end offset when this epoch began (a follower must reach it to rejoin the ISR). */
  epochStartOffset: number;
  isr: readonly number[];
  replicas: readonly number[];
  followers: Map<number, FollowerState>;
  /** ISR members being added by an AlterPartition in flight (counted for the high watermark). */
  adding: Set<number>;
  alterInFlight: boolean;
}

interface Waiter {
  requiredOffset: number;
  minIsr: number;
  resolve: (errorCode: number) => void;
  timer: NodeJS.Timeout;
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class ReplicaManager {
  private readonly leaders = new Map<string, LeaderState>();
  private readonly fetchers = new Map<number, FollowerFetcher>();
  /** Which leader's fetcher follows a partition. */
  private readonly following = new Map<string, number>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** ISR changes waiting for the next AlterPartition batch, by partition. */
  private readonly pendingIsrChanges = new Map<
    string,
    { st: LeaderState; newIsr: number[]; why: "shrink" | "expand" }
  >();
  private isrBatchInFlight = false;
  private readonly log: Logger;
  private image: MetadataImage | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: ReplicationOptions) {
    this.log = opts.log.child({ component: "replication" });
  }

  start(): void {
    const every = Math.max(50, Math.min(1000, Math.floor(this.opts.replicaLagTimeMaxMs / 2)));
    this.timer = setInterval(() => this.checkLaggingFollowers(), every);
    this.timer.unref();
  }

  /** Follows a new committed image: leaderships gained and lost, ISR changes, fetcher targets. */
  async onImage(image: MetadataImage): Promise<void> {
    if (this.stopped) return;
    this.image = image;
    const self = this.opts.nodeId;
    const seen = new Set<string>();
    for (const t of image.topics.values()) {
      for (const p of t.partitions.values()) {
        const k = key(t.name, p.partition);
        seen.add(k);
        const part = this.opts.topics.partition(t.name, p.partition);
        if (!part) continue;
        if (p.leader === self) {
          this.unfollow(k);
          this.lead(k, t.name, t.id, p, part);
        } else {
          this.resign(k, ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
          if (p.replicas.includes(self) && p.leader >= 0 && image.brokers.has(p.leader)) {
            this.follow(k, p.leader, {
              topic: t.name,
              topicId: t.id,
              partition: p.partition,
              part,
              epoch: p.leaderEpoch,
            });
          } else {
            this.unfollow(k);
            if (!p.replicas.includes(self)) await this.deleteRemovedReplica(part);
          }
        }
      }
    }
    for (const k of [...this.leaders.keys()])
      if (!seen.has(k)) this.resign(k, ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    for (const k of [...this.following.keys()]) if (!seen.has(k)) this.unfollow(k);
    for (const [id, f] of this.fetchers) f.setLeaderEndpoint(this.endpointOf(id));
  }

  /**
   * A partition this node does not (or no longer) hold a replica of, after a reassignment moved it
   * away: its local copy is deleted (emptied; every node keeps a log directory for every partition), as
   * Kafka deletes a removed replica's log, so a stale copy is neither kept nor reused.
   */
  private async deleteRemovedReplica(part: PartitionRuntime): Promise<void> {
    if (part.log.logEndOffset === 0) return;
    await part.mutex.run(async () => {
      await part.log.truncateFullyAndStartAt(0);
      part.producers.clear();
    });
    this.opts.topics.updateGauges(part);
    this.log.info({ topic: part.topic, partition: part.index }, "deleted the log of a removed replica");
  }

  private endpointOf(brokerId: number): { host: string; port: number } | undefined {
    const routed = this.opts.kafkaPeers?.get(brokerId);
    if (routed) {
      const i = routed.lastIndexOf(":");
      return { host: routed.slice(0, i), port: Number(routed.slice(i + 1)) };
    }
    return this.image?.brokers.get(brokerId)?.endpoints.get("PLAINTEXT");
  }

  private lead(k: string, topic: string, topicId: string, p: PartitionImage, part: PartitionRuntime): void {
    let st = this.leaders.get(k);
    if (!st || st.leaderEpoch !== p.leaderEpoch) {
      const now = Date.now();
      st = {
        topic,
        topicId,
        partition: p.partition,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        epochStartOffset: part.log.logEndOffset,
        isr: p.isr,
        replicas: p.replicas,
        followers: new Map(),
        adding: new Set(),
        alterInFlight: false,
      };
      for (const r of p.replicas) {
        if (r !== this.opts.nodeId)
          st.followers.set(r, { leo: -1, lastCaughtUpMs: now, lastFetchMs: 0, lastFetchLeaderLeo: -1 });
      }
      this.leaders.set(k, st);
      this.log.info({ topic, partition: p.partition, leaderEpoch: p.leaderEpoch, isr: p.isr }, "leading");
    } else {
      st.isr = p.isr;
      st.replicas = p.replicas;
      st.partitionEpoch = p.partitionEpoch;
      for (const r of st.adding) if (p.isr.includes(r)) st.adding.delete(r);
      for (const r of p.replicas) {
        if (r !== this.opts.nodeId && !st.followers.has(r))
          st.followers.set(r, {
            leo: -1,
            lastCaughtUpMs: Date.now(),
            lastFetchMs: 0,
            lastFetchLeaderLeo: -1,
          });
      }
    }
    this.maybeAdvanceHighWatermark(st, part);
    this.wakeWaiters(k, st, part);
  }

  /** This node no longer leads the partition: pending acks=all requests fail with `errorCode`. */
  private resign(k: string, errorCode: number): void {
    if (!this.leaders.delete(k)) return;
    const ws = this.waiters.get(k);
    if (!ws) return;
    this.waiters.delete(k);
    for (const w of ws) {
      clearTimeout(w.timer);
      w.resolve(errorCode);
    }
  }

  private follow(k: string, leaderId: number, fp: FollowedPartition): void {
    const current = this.following.get(k);
    if (current !== undefined && current !== leaderId) this.fetchers.get(current)?.remove(k);
    let f = this.fetchers.get(leaderId);
    if (!f) {
      f = new FollowerFetcher({
        nodeId: this.opts.nodeId,
        leaderId,
        log: this.log,
        notifier: this.opts.notifier,
        onHighWatermark: (part) => this.opts.topics.updateGauges(part),
        skipTruncation: this.opts.skipTruncation,
      });
      this.fetchers.set(leaderId, f);
      f.setLeaderEndpoint(this.endpointOf(leaderId));
      f.start();
    }
    f.upsert(k, fp);
    this.following.set(k, leaderId);
  }

  private unfollow(k: string): void {
    const leaderId = this.following.get(k);
    if (leaderId === undefined) return;
    this.following.delete(k);
    const f = this.fetchers.get(leaderId);
    if (!f) return;
    f.remove(k);
    if (f.size === 0) {
      this.fetchers.delete(leaderId);
      void f.stop();
    }
  }

  // ---- leader side -------------------------------------------------------------------------------

  /**
   * KIP-392 replica selection: the in-sync followers' progress as this leader sees it (log end offset,
   * when last caught up), or undefined when this node does not lead the partition.
   */
  inSyncFollowers(
    topic: string,
    partition: number,
  ): { brokerId: number; logEndOffset: number; lastCaughtUpMs: number }[] | undefined {
    const st = this.leaders.get(key(topic, partition));
    if (!st) return undefined;
    return [...st.followers]
      .filter(([id]) => st.isr.includes(id))
      .map(([brokerId, f]) => ({ brokerId, logEndOffset: f.leo, lastCaughtUpMs: f.lastCaughtUpMs }));
  }

  /** The ISR this leader currently counts, or undefined when it does not lead the partition. */
  isr(topic: string, partition: number): readonly number[] | undefined {
    return this.leaders.get(key(topic, partition))?.isr;
  }

  /**
   * A replica Fetch from `replicaId` at `fetchOffset`: records its progress (which may advance the
   * high watermark or add it back to the ISR). Returns an error code for the partition (0 when fine).
   */
  onReplicaFetch(part: PartitionRuntime, replicaId: number, fetchOffset: number): number {
    const k = key(part.topic, part.index);
    const st = this.leaders.get(k);
    if (!st) return ERROR_CODES.NOT_LEADER_OR_FOLLOWER;
    const f = st.followers.get(replicaId);
    if (!f) return ERROR_CODES.NOT_LEADER_OR_FOLLOWER;
    const now = Date.now();
    const leaderLeo = part.log.logEndOffset;
    f.leo = Math.min(fetchOffset, leaderLeo);
    if (fetchOffset >= leaderLeo) f.lastCaughtUpMs = now;
    else if (f.lastFetchLeaderLeo >= 0 && fetchOffset >= f.lastFetchLeaderLeo)
      f.lastCaughtUpMs = f.lastFetchMs;
    f.lastFetchLeaderLeo = leaderLeo;
    f.lastFetchMs = now;
    this.maybeAdvanceHighWatermark(st, part);
    this.maybeExpandIsr(st, part, replicaId, f);
    return 0;
  }

  /** After a leader append: with the leader alone in the ISR the new records are committed at once. */
  onLeaderAppend(part: PartitionRuntime): void {
    const st = this.leaders.get(key(part.topic, part.index));
    if (st) this.maybeAdvanceHighWatermark(st, part);
  }

  private maybeAdvanceHighWatermark(st: LeaderState, part: PartitionRuntime): void {
    let hw = part.log.logEndOffset;
    for (const r of new Set([...st.isr, ...st.adding])) {
      if (r === this.opts.nodeId) continue;
      const leo = st.followers.get(r)?.leo ?? -1;
      hw = Math.min(hw, leo);
    }
    if (hw > part.log.highWatermark) {
      part.log.setHighWatermark(hw);
      this.opts.topics.updateGauges(part);
      this.opts.notifier.notify(part.topic, part.index);
      this.wakeWaiters(key(part.topic, part.index), st, part);
    }
  }

  /**
   * acks=all: resolves with 0 once the high watermark reaches `requiredOffset` (then
   * NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below `minIsr` meanwhile, as Kafka answers),
   * NOT_LEADER_OR_FOLLOWER if leadership moves, REQUEST_TIMED_OUT after `timeoutMs`.
   */
  waitForReplication(
    part: PartitionRuntime,
    requiredOffset: number,
    minIsr: number,
    timeoutMs: number,
  ): Promise<number> {
    const k = key(part.topic, part.index);
    const st = this.leaders.get(k);
    if (!st) return Promise.resolve(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    const done = this.completion(st, part, requiredOffset, minIsr);
    if (done !== undefined) return Promise.resolve(done);
    return new Promise<number>((resolve) => {
      let set = this.waiters.get(k);
      if (!set) {
        set = new Set();
        this.waiters.set(k, set);
      }
      const w: Waiter = {
        requiredOffset,
        minIsr,
        resolve,
        timer: setTimeout(
          () => {
            set!.delete(w);
            resolve(ERROR_CODES.REQUEST_TIMED_OUT);
          },
          Math.max(0, timeoutMs),
        ),
      };
      set.add(w);
    });
  }

  private completion(
    st: LeaderState,
    part: PartitionRuntime,
    required: number,
    minIsr: number,
  ): number | undefined {
    if (part.log.highWatermark < required) return undefined;
    return st.isr.length < minIsr ? ERROR_CODES.NOT_ENOUGH_REPLICAS_AFTER_APPEND : 0;
  }

  private wakeWaiters(k: string, st: LeaderState, part: PartitionRuntime): void {
    const ws = this.waiters.get(k);
    if (!ws) return;
    for (const w of [...ws]) {
      const r = this.completion(st, part, w.requiredOffset, w.minIsr);
      if (r === undefined) continue;
      ws.delete(w);
      clearTimeout(w.timer);
      w.resolve(r);
    }
  }

  private maybeExpandIsr(st: LeaderState, part: PartitionRuntime, replicaId: number, f: FollowerState): void {
    if (st.alterInFlight || st.isr.includes(replicaId) || !st.isr.includes(this.opts.nodeId)) return;
    if (f.leo < part.log.highWatermark || f.leo < st.epochStartOffset) return;
    const b = this.image?.brokers.get(replicaId);
    if (!b || b.fenced || b.inControlledShutdown) return;
    st.adding.add(replicaId);
    this.alterIsr(st, [...st.isr, replicaId], "expand");
  }

  private checkLaggingFollowers(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const st of this.leaders.values()) {
      if (st.alterInFlight) continue;
      const lagging = st.isr.filter((r) => {
        if (r === this.opts.nodeId) return false;
        const f = st.followers.get(r);
        return !f || now - f.lastCaughtUpMs > this.opts.replicaLagTimeMaxMs;
      });
      if (lagging.length === 0) continue;
      this.alterIsr(
        st,
        st.isr.filter((r) => !lagging.includes(r)),
        "shrink",
      );
    }
  }

  /**
   * Queues an ISR change for the controller; the committed image brings the result back. Changes are
   * sent in batches, one AlterPartition request in flight per broker: after a restart a leader may
   * expand hundreds of ISRs at once, and one request per partition queued so many controller decisions
   * that broker heartbeats waited behind them and sessions expired.
   */
  private alterIsr(st: LeaderState, newIsr: number[], why: "shrink" | "expand"): void {
    if (!this.image || this.opts.cluster.brokerEpoch < 0n) {
      st.adding.clear();
      return;
    }
    st.alterInFlight = true;
    this.pendingIsrChanges.set(key(st.topic, st.partition), { st, newIsr, why });
    this.flushIsrChanges();
  }

  private flushIsrChanges(): void {
    if (this.isrBatchInFlight || this.pendingIsrChanges.size === 0) return;
    const cluster = this.opts.cluster;
    const image = this.image;
    const batch = [...this.pendingIsrChanges.values()];
    this.pendingIsrChanges.clear();
    if (!image || cluster.brokerEpoch < 0n || this.stopped) {
      for (const c of batch) this.finishIsrChange(c.st);
      return;
    }
    const byTopic = new Map<string, AlterPartitionRequest["topics"][number]>();
    for (const { st, newIsr } of batch) {
      let t = byTopic.get(st.topicId);
      if (!t) {
        t = { topicId: st.topicId, partitions: [] };
        byTopic.set(st.topicId, t);
      }
      t.partitions.push({
        partitionIndex: st.partition,
        leaderEpoch: st.leaderEpoch,
        newIsr: [],
        newIsrWithEpochs: newIsr.map((id) => ({
          brokerId: id,
          brokerEpoch: image.brokers.get(id)?.epoch ?? -1n,
        })),
        leaderRecoveryState: 0,
        partitionEpoch: st.partitionEpoch,
      });
    }
    const req: AlterPartitionRequest = {
      brokerId: this.opts.nodeId,
      brokerEpoch: cluster.brokerEpoch,
      topics: [...byTopic.values()],
    };
    for (const { st, newIsr, why } of batch)
      this.log.info(
        { topic: st.topic, partition: st.partition, isr: st.isr, newIsr, why },
        "changing the ISR",
      );
    this.isrBatchInFlight = true;
    const failed = (err: string) => {
      for (const { st, why } of batch)
        this.log.warn({ topic: st.topic, partition: st.partition, err, why }, "ISR change failed");
    };
    cluster
      .call("alterPartition", req, 5000)
      .then((res) => {
        if (res.errorCode !== 0) return failed(`error code ${res.errorCode}`);
        const errors = new Map<string, number>();
        for (const t of res.topics)
          for (const p of t.partitions) errors.set(`${t.topicId}:${p.partitionIndex}`, p.errorCode);
        for (const { st, why } of batch) {
          const e = errors.get(`${st.topicId}:${st.partition}`) ?? 0;
          if (e !== 0)
            this.log.warn(
              { topic: st.topic, partition: st.partition, errorCode: e, why },
              "ISR change refused",
            );
        }
      })
      .catch((e: unknown) => failed((e as Error).message))
      .finally(() => {
        this.isrBatchInFlight = false;
        for (const { st } of batch) this.finishIsrChange(st);
        this.flushIsrChanges();
      });
  }

  private finishIsrChange(st: LeaderState): void {
    st.alterInFlight = false;
    st.adding.clear();
    // the committed image (applied before call() returned) carries the new ISR
    const current = this.opts.cluster.image.topics.get(st.topicId)?.partitions.get(st.partition);
    if (current && current.leaderEpoch === st.leaderEpoch) {
      st.isr = current.isr;
      st.partitionEpoch = current.partitionEpoch;
    }
    const part = this.opts.topics.partition(st.topic, st.partition);
    if (part && this.leaders.get(key(st.topic, st.partition)) === st) {
      this.maybeAdvanceHighWatermark(st, part);
      this.wakeWaiters(key(st.topic, st.partition), st, part);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const k of [...this.leaders.keys()]) this.resign(k, ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    const all = [...this.fetchers.values()];
    this.fetchers.clear();
    this.following.clear();
    await Promise.all(all.map((f) => f.stop()));
  }
}
