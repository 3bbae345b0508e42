/**
 * One follower fetcher per leader broker: it keeps this node's replicas of that leader's partitions in
 * step, with the Kafka protocol over one connection, as Kafka's ReplicaFetcherThread does.
 *
 * A partition starts (and restarts after every leader or epoch change) in `truncate`: OffsetForLeaderEpoch
 * for the latest epoch in the local log tells where the leader's log and ours diverge, and the local
 * log is cut there (KIP-101/279), so records the leader never had cannot survive. Then `fetch`: Fetch
 * with replica id = this node from the local log end offset; batches are appended with the leader's
 * offsets and epochs, the idempotent-producer state follows (so a later leader here still recognises
 * duplicates), and the local high watermark becomes min(leader's, local log end).
 */
import type { Logger } from "pino";
import { RawConnection } from "../../../protocol/client/connection.ts";
import { ERROR_CODES } from "../../../protocol/error-codes.ts";
import { ApiKey } from "../../../protocol/generated/index.ts";
import { splitBatches } from "../../../protocol/records/batch-header.ts";
import type { AppendNotifier } from "../state/append-notifier.ts";
import { type PartitionRuntime, rebuildProducerState } from "../state/topics.ts";

const FETCH_VERSION = 12;
const OFFSET_FOR_LEADER_EPOCH_VERSION = 4;
const LIST_OFFSETS_VERSION = 7;
const MAX_WAIT_MS = 500;
const PARTITION_MAX_BYTES = 1 << 20;
const MAX_BYTES = 10 << 20;
const BACKOFF_MS = 100;

export interface FollowedPartition {
  topic: string;
  topicId: string;
  partition: number;
  part: PartitionRuntime;
  /** The leader epoch this node follows at. */
  epoch: number;
}

interface Entry extends FollowedPartition {
  state: "truncate" | "fetch";
  /** Not fetched again before this time (after a partition-level error). */
  retryAt: number;
}

export interface FollowerFetcherOptions {
  nodeId: number;
  leaderId: number;
  log: Logger;
  notifier: AppendNotifier;
  onHighWatermark: (part: PartitionRuntime) => void;
  /** Mutation tests only: never cut a divergent tail (a known-bad follower the suites must catch). */
  skipTruncation?: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class FollowerFetcher {
  private readonly entries = new Map<string, Entry>();
  private endpoint: { host: string; port: number } | undefined;
  private conn: RawConnection | undefined;
  private loop: Promise<void> = Promise.resolve();
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: FollowerFetcherOptions) {
    this.log = opts.log.child({ fetcherFor: opts.leaderId });
  }

  get size(): number {
    return this.entries.size;
  }

  setLeaderEndpoint(ep: { host: string; port: number } | undefined): void {
    if (!ep) return;
    if (this.endpoint && this.endpoint.host === ep.host && this.endpoint.port === ep.port) return;
    this.endpoint = { host: ep.host, port: ep.port };
    this.conn?.close();
    this.conn = undefined;
  }

  /** Adds a partition, or restarts it at truncation when its leader epoch changed. */
  upsert(k: string, fp: FollowedPartition): void {
    const cur = this.entries.get(k);
    if (cur && cur.epoch === fp.epoch && cur.part === fp.part) return;
    this.entries.set(k, { ...fp, state: "truncate", retryAt: 0 });
    this.wake?.();
  }

  remove(k: string): void {
    this.entries.delete(k);
  }

  start(): void {
    this.loop = this.run().catch((e: unknown) => {
      this.log.error({ err: (e as Error).message }, "follower fetcher stopped by an error");
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.conn?.close();
    await this.loop;
  }

  private async connection(): Promise<RawConnection | undefined> {
    if (this.conn && !this.conn.isClosed) return this.conn;
    if (!this.endpoint) return undefined;
    try {
      this.conn = await RawConnection.open(this.endpoint, `gauntlet-replica-${this.opts.nodeId}`, 2000);
      return this.conn;
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, "cannot reach the leader");
      return undefined;
    }
  }

  private async idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = Date.now();
      const ready = [...this.entries.entries()].filter(([, e]) => e.retryAt <= now);
      if (ready.length === 0) {
        await this.idle(this.entries.size === 0 ? 1000 : BACKOFF_MS);
        continue;
      }
      const conn = await this.connection();
      if (!conn) {
        await this.idle(BACKOFF_MS * 2);
        continue;
      }
      try {
        const truncating = ready.filter(([, e]) => e.state === "truncate");
        if (this.opts.skipTruncation) for (const [, e] of truncating) e.state = "fetch";
        else if (truncating.length > 0) await this.truncate(conn, truncating);
        const fetching = ready.filter(([k, e]) => e.state === "fetch" && this.entries.get(k) === e);
        if (fetching.length > 0) await this.fetch(conn, fetching);
      } catch (e) {
        if (this.stopped) return;
        this.log.warn({ err: (e as Error).message }, "replica fetch failed; reconnecting");
        this.conn?.close();
        this.conn = undefined;
        await sleep(BACKOFF_MS);
      }
    }
  }

  private backoff(e: Entry, ms = BACKOFF_MS * 2): void {
    e.retryAt = Date.now() + ms;
  }

  /** OffsetForLeaderEpoch for each partition's latest local epoch; cuts the log where it diverges. */
  private async truncate(conn: RawConnection, list: [string, Entry][]): Promise<void> {
    const byTopic = new Map<string, [string, Entry][]>();
    for (const item of list) {
      const arr = byTopic.get(item[1].topic) ?? [];
      arr.push(item);
      byTopic.set(item[1].topic, arr);
    }
    const res = await conn.request(ApiKey.OffsetForLeaderEpoch, OFFSET_FOR_LEADER_EPOCH_VERSION, {
      replicaId: this.opts.nodeId,
      topics: [...byTopic].map(([topic, items]) => ({
        topic,
        partitions: items.map(([, e]) => ({
          partition: e.partition,
          currentLeaderEpoch: e.epoch,
          leaderEpoch: e.part.log.latestEpoch,
        })),
      })),
    });
    for (const t of res.topics) {
      for (const r of t.partitions) {
        const item = byTopic.get(t.topic)?.find(([, e]) => e.partition === r.partition);
        if (!item) continue;
        const [k, e] = item;
        if (this.entries.get(k) !== e) continue;
        if (r.errorCode !== 0) {
          this.backoff(e);
          continue;
        }
        const log = e.part.log;
        const leaderEpoch = r.leaderEpoch ?? -1;
        let cut: number;
        if (log.latestEpoch < 0 || leaderEpoch < 0) {
          // no epoch information on one side: fall back to the high watermark (Kafka's pre-KIP-101 rule)
          cut =
            log.latestEpoch < 0 && log.logEndOffset === log.logStartOffset
              ? log.logEndOffset
              : log.highWatermark;
        } else if (leaderEpoch === log.latestEpoch) {
          cut = Math.min(Number(r.endOffset), log.logEndOffset);
        } else {
          const local = log.endOffsetForEpoch(leaderEpoch);
          cut = Math.min(Number(r.endOffset), local.endOffset < 0 ? log.logEndOffset : local.endOffset);
        }
        if (cut < log.logEndOffset) {
          let failed = false;
          await this.perPartition(e, "truncate", () =>
            e.part.mutex
              .run(async () => {
                const before = log.logEndOffset;
                await log.truncateTo(cut);
                e.part.producers.clear();
                await rebuildProducerState(e.part);
                this.log.info(
                  {
                    topic: e.topic,
                    partition: e.partition,
                    from: before,
                    to: log.logEndOffset,
                    leaderEpoch: e.epoch,
                  },
                  "truncated a divergent log",
                );
              })
              .catch((err: unknown) => {
                failed = true;
                throw err;
              }),
          );
          if (failed) continue;
        }
        e.state = "fetch";
      }
    }
  }

  private async fetch(conn: RawConnection, list: [string, Entry][]): Promise<void> {
    const byTopic = new Map<string, [string, Entry][]>();
    for (const item of list) {
      const arr = byTopic.get(item[1].topic) ?? [];
      arr.push(item);
      byTopic.set(item[1].topic, arr);
    }
    const res = await conn.request(
      ApiKey.Fetch,
      FETCH_VERSION,
      {
        replicaId: this.opts.nodeId,
        maxWaitMs: MAX_WAIT_MS,
        minBytes: 1,
        maxBytes: MAX_BYTES,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [...byTopic].map(([topic, items]) => ({
          topic,
          partitions: items.map(([, e]) => ({
            partition: e.partition,
            currentLeaderEpoch: e.epoch,
            fetchOffset: BigInt(e.part.log.logEndOffset),
            lastFetchedEpoch: -1,
            logStartOffset: BigInt(e.part.log.logStartOffset),
            partitionMaxBytes: PARTITION_MAX_BYTES,
          })),
        })),
        forgottenTopicsData: [],
        rackId: "",
      },
      MAX_WAIT_MS + 10_000,
    );
    if (res.errorCode !== 0) throw new Error(`replica fetch failed with error ${res.errorCode}`);
    for (const t of res.responses) {
      for (const pd of t.partitions) {
        const item = byTopic.get(t.topic ?? "")?.find(([, e]) => e.partition === pd.partitionIndex);
        if (!item) continue;
        const [k, e] = item;
        if (this.entries.get(k) !== e || this.stopped) continue;
        if (pd.errorCode !== 0 && pd.errorCode !== ERROR_CODES.OFFSET_OUT_OF_RANGE) {
          this.backoff(e);
          continue;
        }
        // One partition's failure must not stall the others sharing this fetcher.
        await this.perPartition(e, "append", () =>
          pd.errorCode === ERROR_CODES.OFFSET_OUT_OF_RANGE
            ? this.outOfRange(conn, e)
            : this.appendFetched(
                e,
                pd.records ?? Buffer.alloc(0),
                Number(pd.highWatermark),
                Number(pd.logStartOffset),
              ),
        );
      }
    }
  }

  /** Runs one partition's step; a failure is logged and backs that partition off (1 s), nothing else. */
  private async perPartition(e: Entry, step: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.warn(
        { topic: e.topic, partition: e.partition, step, err: (err as Error).message },
        "replica step failed for a partition; retrying it later",
      );
      e.state = "truncate";
      this.backoff(e, 1000);
    }
  }

  private async appendFetched(
    e: Entry,
    records: Buffer,
    leaderHw: number,
    leaderLogStart: number,
  ): Promise<void> {
    const part = e.part;
    const log = part.log;
    await part.mutex.run(async () => {
      if (records.length > 0) {
        // a batch cut short by the byte limit is left for the next fetch
        const spans = splitBatches(records);
        if (spans.length > 0) {
          const last = spans[spans.length - 1]!;
          const whole = records.subarray(0, last.offset + last.length);
          const first = Number(whole.readBigInt64BE(0));
          if (first === log.logEndOffset) {
            await log.appendAsFollower(whole);
            for (const span of spans) {
              const at = span.offset;
              const producerId = whole.readBigInt64BE(at + 43);
              if (producerId < 0n) continue;
              part.producers.record(
                {
                  producerId,
                  producerEpoch: whole.readInt16BE(at + 51),
                  baseSequence: whole.readInt32BE(at + 53),
                  lastOffsetDelta: whole.readInt32BE(at + 23),
                },
                Number(whole.readBigInt64BE(at)),
                Number(whole.readBigInt64BE(at + 35)),
              );
            }
          }
        }
      }
      const hw = Math.min(leaderHw, log.logEndOffset);
      if (hw > log.highWatermark) log.setHighWatermark(hw);
      // DeleteRecords on the leader: follow its log start once our high watermark has reached it
      if (leaderLogStart > log.logStartOffset && leaderLogStart <= log.highWatermark) {
        await log.deleteRecordsBefore(leaderLogStart);
      }
    });
    this.opts.onHighWatermark(part);
    this.opts.notifier.notify(part.topic, part.index);
  }

  /** Our log end is outside the leader's log: restart at its log start, or re-check divergence. */
  private async outOfRange(conn: RawConnection, e: Entry): Promise<void> {
    const res = await conn.request(ApiKey.ListOffsets, LIST_OFFSETS_VERSION, {
      replicaId: this.opts.nodeId,
      isolationLevel: 0,
      topics: [
        {
          name: e.topic,
          partitions: [
            { partitionIndex: e.partition, currentLeaderEpoch: e.epoch, timestamp: -2n, maxNumOffsets: 1 },
          ],
        },
      ],
    });
    const p = res.topics[0]?.partitions[0];
    if (p?.errorCode !== 0 || p.offset === undefined) {
      this.backoff(e);
      return;
    }
    const leaderStart = Number(p.offset);
    if (this.opts.skipTruncation) {
      this.backoff(e, 1000);
      return;
    }
    if (e.part.log.logEndOffset < leaderStart) {
      await e.part.mutex.run(async () => {
        await e.part.log.truncateFullyAndStartAt(leaderStart);
        e.part.producers.clear();
      });
      this.log.info(
        { topic: e.topic, partition: e.partition, offset: leaderStart },
        "restarted the replica at the leader's log start",
      );
    } else {
      e.state = "truncate";
    }
  }
}
