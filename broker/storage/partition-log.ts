/**
 * The durable log of one partition: an ordered list of segments (the last one active), the offsets
 * checkpoint (log start offset, high watermark, recovery point) and the leader-epoch cache.
 *
 * Concurrency: every mutation goes through one serial queue drained by a single writer. Consecutive
 * queued appends are patched (offsets, epoch, LogAppendTime) and written with one writev, and under
 * the "every-batch" policy share one fsync before they all resolve (group commit). Reads never
 * queue: they see bytes up to each segment's `size`, which moves only after a write completes.
 */
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  ATTRIBUTES_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  setBaseOffset,
  setMaxTimestampAndTimestampType,
  setPartitionLeaderEpoch,
  TIMESTAMP_TYPE_MASK,
} from "../../protocol/records/batch-header.ts";
import {
  batchBaseOffset,
  batchLastOffset,
  batchLeaderEpoch,
  batchMaxTimestamp,
  type Decompressor,
  readInt64,
  type TimestampHit,
  type ValidatedRecords,
  validateBatches,
} from "./batch-format.ts";
import { type LogConfig, resolveLogConfig } from "./config.ts";
import { asStorageError, StorageError } from "./errors.ts";
import {
  CLEAN_SHUTDOWN_FILE,
  DELETED_SUFFIX,
  type FsyncObserver,
  fsyncDir,
  INDEX_SUFFIX,
  isNotFound,
  LEADER_EPOCH_CHECKPOINT_FILE,
  OFFSETS_CHECKPOINT_FILE,
  parseSegmentFileName,
  segmentPaths,
  TIME_INDEX_SUFFIX,
  unlinkIfExists,
  writeFileAtomic,
} from "./files.ts";
import { type EpochEntry, LeaderEpochCache } from "./leader-epoch-cache.ts";
import { type EpochTransition, Segment } from "./segment.ts";

const MAX_RELATIVE_OFFSET = 0x7fffffff;
const EMPTY = Buffer.alloc(0);

export type TimestampType = "CreateTime" | "LogAppendTime";

export interface AppendOptions {
  /** The leader epoch stamped into every batch (and recorded in the epoch cache when new). */
  leaderEpoch: number;
  timestampType: TimestampType;
  /** Wall clock in ms: the LogAppendTime and the reference for timestamp bounds. */
  now: number;
  /** The caller already verified the first batch's CRC (Produce's precheck): not computed twice. */
  firstCrcVerified?: boolean;
}

export interface AppendResult {
  /** First offset assigned (-1 when the input held no complete batch). */
  baseOffset: number;
  lastOffset: number;
  /** The broker time written into the batches for LogAppendTime, -1 for CreateTime. */
  logAppendTime: number;
  logStartOffset: number;
}

export interface ReadOptions {
  /** Exclusive upper bound: batches whose last offset is >= this are not returned (e.g. the HW). */
  maxOffset?: number;
  /** Return the first batch whole even when it is larger than maxBytes (KIP-74). Default true. */
  minOneMessage?: boolean;
}

export interface ReadResult {
  /** Whole batches, as stored; empty when nothing is available within the bounds. */
  records: Buffer;
  logStartOffset: number;
  logEndOffset: number;
  highWatermark: number;
}

export interface SegmentInfo {
  baseOffset: number;
  nextOffset: number;
  size: number;
  maxTimestamp: number;
}

export interface PartitionLogOptions {
  /** The partition directory (created when missing). */
  dir: string;
  config?: Partial<LogConfig>;
  /** Called after every fsync with its latency (metrics). */
  fsyncObserver?: FsyncObserver;
  /** Decompresses a records section; lets offsetForTimestamp be exact inside compressed batches. */
  decompress?: Decompressor;
  /** Recovery and background-failure notices (the broker passes its logger). */
  onWarning?: (message: string, details?: Record<string, unknown>) => void;
  /** Clock for retention, segment.ms and mtimes; defaults to Date.now. */
  clock?: () => number;
}

interface AppendTask {
  kind: "append";
  records: ValidatedRecords;
  /** Leader appends assign offsets; follower appends keep the leader's. */
  follower: boolean;
  leaderEpoch: number;
  /** -1 for CreateTime. */
  logAppendTime: number;
  now: number;
  baseOffset: number;
  lastOffset: number;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

interface OpTask {
  kind: "op";
  run: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

type Task = AppendTask | OpTask;

interface OffsetsCheckpoint {
  logStartOffset: number;
  highWatermark: number;
  recoveryPoint: number;
}

export class PartitionLog {
  readonly dir: string;
  private config: LogConfig;
  private readonly observer: FsyncObserver | undefined;
  private readonly decompress: Decompressor | undefined;
  private readonly warn: (message: string, details?: Record<string, unknown>) => void;
  private readonly clock: () => number;

  private segments: Segment[] = [];
  private epochs = new LeaderEpochCache();
  private _logStartOffset = 0;
  private _logEndOffset = 0;
  private _highWatermark = 0;
  private _recoveryPoint = 0;

  private queue: Task[] = [];
  private draining = false;
  /** Seals of rolled segments, in roll order; never rejects (failures mark the log failed). */
  private sealChain: Promise<void> = Promise.resolve();
  private checkpointChain: Promise<void> = Promise.resolve();
  private lastOffsetsCheckpoint = "";
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private failure: StorageError | undefined;

  private constructor(options: PartitionLogOptions) {
    this.dir = options.dir;
    this.config = resolveLogConfig(options.config);
    this.observer = options.fsyncObserver;
    this.decompress = options.decompress;
    this.warn = options.onWarning ?? (() => {});
    this.clock = options.clock ?? Date.now;
  }

  /** Opens (creating or recovering as needed) the log in `options.dir`. */
  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(options);
    try {
      await log.load();
    } catch (e) {
      await log.closeFiles();
      throw asStorageError(e, `cannot open log ${options.dir}`);
    }
    return log;
  }

  // ---- state -------------------------------------------------------------------------------------

  get logStartOffset(): number {
    return this._logStartOffset;
  }

  get logEndOffset(): number {
    return this._logEndOffset;
  }

  get highWatermark(): number {
    return this._highWatermark;
  }

  /** Offsets below this are known to be on disk (fsynced). */
  get recoveryPoint(): number {
    return this._recoveryPoint;
  }

  /** Sets the high watermark (clamped to [logStartOffset, logEndOffset]); persisted at the next checkpoint. */
  setHighWatermark(offset: number): number {
    this._highWatermark = Math.min(Math.max(offset, this._logStartOffset), this._logEndOffset);
    return this._highWatermark;
  }

  /** Total bytes in all segments. */
  get size(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  segmentInfos(): SegmentInfo[] {
    return this.segments.map((s) => ({
      baseOffset: s.baseOffset,
      nextOffset: s.nextOffset,
      size: s.size,
      maxTimestamp: s.maxTimestamp,
    }));
  }

  get currentConfig(): Readonly<LogConfig> {
    return this.config;
  }

  /** Changes configuration at runtime; values apply from the next append, roll or retention pass. */
  updateConfig(overrides: Partial<LogConfig>): void {
    const before = this.config;
    this.config = resolveLogConfig(overrides, before);
    this.active.setIndexIntervalBytes(this.config.indexIntervalBytes);
    if (
      before.flushPolicy !== this.config.flushPolicy ||
      before.flushIntervalMs !== this.config.flushIntervalMs
    ) {
      this.startFlushTimer();
    }
  }

  /** Set when an I/O failure took the log offline; every later operation fails with it. */
  get failed(): StorageError | undefined {
    return this.failure;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1];
  }

  // ---- leader epochs -----------------------------------------------------------------------------

  /** Epoch → start offset history, oldest first. */
  epochStartOffsets(): readonly EpochEntry[] {
    return this.epochs.all;
  }

  get latestEpoch(): number {
    return this.epochs.latestEpoch;
  }

  /** OffsetForLeaderEpoch semantics; (-1, -1) when the epoch is unknown or above the latest. */
  endOffsetForEpoch(epoch: number): { epoch: number; endOffset: number } {
    return this.epochs.endOffsetFor(epoch, this._logEndOffset);
  }

  // ---- appends -----------------------------------------------------------------------------------

  /**
   * Leader append: validates every batch (structure, magic 2, CRC, sizes, CreateTime bounds),
   * then assigns offsets by patching each batch's baseOffset and partitionLeaderEpoch in place —
   * the caller's buffer is modified and then written as is. LogAppendTime also rewrites
   * maxTimestamp and the CRC. Resolves once written (and fsynced under "every-batch").
   */
  async append(records: Buffer, opts: AppendOptions): Promise<AppendResult> {
    this.ensureWritable();
    const validated = validateBatches(records, {
      config: this.config,
      checkTimestamps: opts.timestampType === "CreateTime",
      now: opts.now,
      firstCrcVerified: opts.firstCrcVerified,
    });
    if (validated.batches.length === 0) {
      return { baseOffset: -1, lastOffset: -1, logAppendTime: -1, logStartOffset: this._logStartOffset };
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.enqueue({
        kind: "append",
        records: validated,
        follower: false,
        leaderEpoch: opts.leaderEpoch,
        logAppendTime: opts.timestampType === "LogAppendTime" ? opts.now : -1,
        now: opts.now,
        baseOffset: -1,
        lastOffset: -1,
        resolve,
        reject,
      });
    });
  }

  /**
   * Follower append: batches keep the leader's offsets and epochs (validated for structure and
   * CRC, and required to start at or after the log end offset). The epoch cache follows the
   * batches' partitionLeaderEpoch.
   */
  async appendAsFollower(records: Buffer): Promise<AppendResult> {
    this.ensureWritable();
    const validated = validateBatches(records, { config: this.config, checkTimestamps: false, now: 0 });
    if (validated.batches.length === 0) {
      return { baseOffset: -1, lastOffset: -1, logAppendTime: -1, logStartOffset: this._logStartOffset };
    }
    let prevLast = -1;
    for (const b of validated.batches) {
      if (batchBaseOffset(validated.bytes, b.pos) <= prevLast) {
        throw new StorageError("INVALID_RECORD", "replicated batches are not in increasing offset order");
      }
      prevLast = batchLastOffset(validated.bytes, b.pos);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.enqueue({
        kind: "append",
        records: validated,
        follower: true,
        leaderEpoch: -1,
        logAppendTime: -1,
        now: this.clock(),
        baseOffset: -1,
        lastOffset: -1,
        resolve,
        reject,
      });
    });
  }

  private ensureWritable(): void {
    if (this.failure) throw this.failure;
    if (this.closing) throw new StorageError("KAFKA_STORAGE_ERROR", `log ${this.dir} is closed`);
  }

  private enqueue(task: Task): void {
    this.queue.push(task);
    if (!this.draining) {
      this.draining = true;
      queueMicrotask(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head.kind === "op") {
        this.queue.shift();
        if (this.failure) {
          head.reject(this.failure);
          continue;
        }
        try {
          head.resolve(await head.run());
        } catch (e) {
          if (!(e instanceof StorageError) || e.kafkaError === "KAFKA_STORAGE_ERROR") this.fail(e);
          head.reject(e instanceof StorageError ? e : asStorageError(e, `log ${this.dir}`));
        }
        continue;
      }
      const group: AppendTask[] = [];
      while (this.queue.length > 0 && this.queue[0].kind === "append")
        group.push(this.queue.shift() as AppendTask);
      try {
        await this.writeGroup(group);
      } catch (e) {
        // writeGroup settles its tasks itself; this only guards the drain loop against a bug.
        const err = this.fail(e);
        for (const t of group) t.reject(err);
      }
    }
    this.draining = false;
  }

  /** Runs `fn` in the writer, after everything queued before it. */
  private runOp<T>(fn: () => Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.enqueue({ kind: "op", run: fn, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  private async writeGroup(group: AppendTask[]): Promise<void> {
    const done: AppendTask[] = [];
    let pending: AppendTask[] = [];
    let buffers: Buffer[] = [];
    let bytes = 0;
    let segment = this.active;
    let next = this._logEndOffset;

    const writePending = async (): Promise<void> => {
      if (bytes === 0) return;
      let filePos = segment.size;
      await segment.write(buffers, bytes);
      for (const t of pending) {
        const v = t.records;
        for (const b of v.batches) segment.trackBatch(v.bytes, b.pos, filePos + b.pos, b.size);
        filePos += v.bytes.length;
      }
      segment.lastModifiedMs = this.clock();
      this._logEndOffset = Math.max(this._logEndOffset, segment.nextOffset);
      done.push(...pending);
      pending = [];
      buffers = [];
      bytes = 0;
    };

    try {
      for (const t of group) {
        if (this.failure) throw this.failure;
        if (this.closed) throw new StorageError("KAFKA_STORAGE_ERROR", `log ${this.dir} is closed`);
        const v = t.records;
        let base = next;
        if (t.follower) {
          base = batchBaseOffset(v.bytes, 0);
          if (base < next) {
            t.reject(
              new StorageError(
                "OFFSET_OUT_OF_RANGE",
                `replicated batch starts at ${base}, log end offset is ${next}`,
              ),
            );
            continue;
          }
        }
        const last = t.follower
          ? batchLastOffset(v.bytes, v.batches[v.batches.length - 1].pos)
          : base + v.offsetCount - 1;
        const inSegment = segment.size + bytes;
        // Relative offsets are int32 in the index: a batch too far from the base needs a new
        // segment even when the current one is empty (a follower jumping over a gap).
        if (
          last - segment.baseOffset > MAX_RELATIVE_OFFSET ||
          (inSegment > 0 &&
            (inSegment + v.bytes.length > this.config.segmentBytes ||
              (bytes === 0 && this.timeToRoll(segment, t))))
        ) {
          await writePending();
          await this.roll(base);
          segment = this.active;
        }
        if (t.follower) {
          for (const b of v.batches) {
            const epoch = batchLeaderEpoch(v.bytes, b.pos);
            if (epoch > this.epochs.latestEpoch) this.epochs.assign(epoch, batchBaseOffset(v.bytes, b.pos));
          }
        } else {
          this.patchLeaderBatches(t, base);
          if (t.leaderEpoch > this.epochs.latestEpoch) this.epochs.assign(t.leaderEpoch, base);
        }
        t.baseOffset = base;
        t.lastOffset = last;
        pending.push(t);
        buffers.push(v.bytes);
        bytes += v.bytes.length;
        next = last + 1;
      }
      await writePending();
      if (this.epochs.dirty) await this.writeEpochCheckpoint();
      if (this.config.flushPolicy === "every-batch" && done.length > 0) {
        await this.sealChain;
        if (this.failure) throw this.failure;
        const end = this._logEndOffset;
        await this.active.datasync();
        this._recoveryPoint = Math.max(this._recoveryPoint, end);
      }
    } catch (e) {
      const err = this.fail(e);
      for (const t of group) t.reject(err);
      for (const t of this.queue.splice(0)) t.reject(err);
      return;
    }
    for (const t of done) {
      t.resolve({
        baseOffset: t.baseOffset,
        lastOffset: t.lastOffset,
        logAppendTime: t.logAppendTime,
        logStartOffset: this._logStartOffset,
      });
    }
  }

  private patchLeaderBatches(t: AppendTask, base: number): void {
    const v = t.records;
    let offset = base;
    for (const b of v.batches) {
      setBaseOffset(v.bytes, b.pos, BigInt(offset));
      setPartitionLeaderEpoch(v.bytes, b.pos, t.leaderEpoch);
      if (t.logAppendTime >= 0) {
        setMaxTimestampAndTimestampType(v.bytes, b.pos, BigInt(t.logAppendTime), true);
      } else if (v.bytes.readInt16BE(b.pos + ATTRIBUTES_OFFSET) & TIMESTAMP_TYPE_MASK) {
        // A CreateTime topic stores CreateTime batches even if the producer set the LogAppendTime bit.
        setMaxTimestampAndTimestampType(
          v.bytes,
          b.pos,
          BigInt(readInt64(v.bytes, b.pos + MAX_TIMESTAMP_OFFSET)),
          false,
        );
      }
      offset += b.offsetCount;
    }
  }

  /** segment.ms: measured from the first batch's timestamp to this append's largest timestamp. */
  private timeToRoll(segment: Segment, t: AppendTask): boolean {
    const segmentMs = this.config.segmentMs;
    if (!Number.isFinite(segmentMs)) return false;
    if (segment.firstBatchTimestamp < 0) return t.now - segment.createdMs > segmentMs;
    let maxTimestamp = t.logAppendTime;
    if (maxTimestamp < 0) {
      for (const b of t.records.batches)
        maxTimestamp = Math.max(maxTimestamp, batchMaxTimestamp(t.records.bytes, b.pos));
    }
    return maxTimestamp - segment.firstBatchTimestamp > segmentMs;
  }

  /**
   * Starts a new active segment at `baseOffset`. The old one is sealed (indexes written, fsynced)
   * in the background, in roll order; the recovery point follows each completed seal.
   */
  private async roll(baseOffset: number): Promise<void> {
    const old = this.active;
    const segment = await Segment.create(
      this.dir,
      baseOffset,
      this.config.indexIntervalBytes,
      this.observer,
      this.clock(),
    );
    this.segments.push(segment);
    if (this.config.flushPolicy !== "none") await fsyncDir(this.dir, this.observer);
    this.sealChain = this.sealChain
      .then(() => old.seal(true))
      .then(
        () => {
          this._recoveryPoint = Math.max(this._recoveryPoint, Math.min(baseOffset, this._logEndOffset));
        },
        (e) => {
          this.fail(e);
        },
      );
  }

  private fail(e: unknown): StorageError {
    if (!this.failure) {
      this.failure = asStorageError(e, `log ${this.dir} failed`);
      this.warn("partition log failed; it is offline until reopened", {
        dir: this.dir,
        error: this.failure.message,
      });
    }
    return this.failure;
  }

  // ---- reads -------------------------------------------------------------------------------------

  /**
   * Whole batches starting at the one containing `fetchOffset`, from a single segment, up to
   * `maxBytes` (but at least one batch when `minOneMessage`). OFFSET_OUT_OF_RANGE when
   * `fetchOffset` is below the log start offset or above the log end offset.
   */
  async read(fetchOffset: number, maxBytes: number, opts: ReadOptions = {}): Promise<ReadResult> {
    if (this.failure) throw this.failure;
    const logStartOffset = this._logStartOffset;
    const logEndOffset = this._logEndOffset;
    if (fetchOffset < logStartOffset || fetchOffset > logEndOffset) {
      throw new StorageError(
        "OFFSET_OUT_OF_RANGE",
        `offset ${fetchOffset} is outside [${logStartOffset}, ${logEndOffset}] in ${this.dir}`,
      );
    }
    const maxOffset = Math.min(opts.maxOffset ?? logEndOffset, logEndOffset);
    const result: ReadResult = {
      records: EMPTY,
      logStartOffset,
      logEndOffset,
      highWatermark: this._highWatermark,
    };
    if (fetchOffset >= maxOffset) return result;
    const minOneMessage = opts.minOneMessage ?? true;
    let segment: Segment | undefined = this.segmentFor(fetchOffset);
    while (segment) {
      try {
        segment.acquire();
      } catch {
        // Deleted by retention or truncation since we looked it up: start over on the new list.
        return this.read(fetchOffset, maxBytes, opts);
      }
      let records: Buffer | undefined;
      try {
        records = await segment.read(fetchOffset, maxBytes, maxOffset, minOneMessage);
      } catch (e) {
        throw asStorageError(e, `read of ${this.dir} at ${fetchOffset}`);
      } finally {
        segment.release();
      }
      if (records !== undefined) {
        result.records = records;
        return result;
      }
      segment = this.segmentAfter(segment.baseOffset);
    }
    return result;
  }

  /** The segment whose range contains `offset` (the last with baseOffset <= offset). */
  private segmentFor(offset: number): Segment | undefined {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (segs[mid].baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? segs[0] : segs[found];
  }

  private segmentAfter(baseOffset: number): Segment | undefined {
    return this.segments.find((s) => s.baseOffset > baseOffset);
  }

  /**
   * ListOffsets by timestamp: the earliest offset (>= log start) whose record timestamp is >= `ts`,
   * with that record's timestamp; undefined when no record qualifies.
   */
  async offsetForTimestamp(ts: number): Promise<TimestampHit | undefined> {
    if (this.failure) throw this.failure;
    for (const segment of [...this.segments]) {
      if (segment.nextOffset <= this._logStartOffset || segment.maxTimestamp < ts) continue;
      const hit = await this.withSegment(segment, () =>
        segment.findTimestamp(ts, this._logStartOffset, this.decompress),
      );
      if (hit) return hit;
    }
    return undefined;
  }

  /** ListOffsets MAX_TIMESTAMP (-3): the first record carrying the log's largest timestamp. */
  async offsetOfMaxTimestamp(): Promise<TimestampHit | undefined> {
    if (this.failure) throw this.failure;
    let best: Segment | undefined;
    for (const s of this.segments) {
      if (
        s.nextOffset > this._logStartOffset &&
        s.maxTimestamp >= 0 &&
        (!best || s.maxTimestamp > best.maxTimestamp)
      ) {
        best = s;
      }
    }
    if (!best) return undefined;
    const segment = best;
    return this.withSegment(segment, () =>
      segment.findTimestamp(segment.maxTimestamp, this._logStartOffset, this.decompress),
    );
  }

  private async withSegment<T>(segment: Segment, fn: () => Promise<T>): Promise<T> {
    segment.acquire();
    try {
      return await fn();
    } catch (e) {
      throw asStorageError(e, `lookup in ${this.dir}`);
    } finally {
      segment.release();
    }
  }

  // ---- log start, retention, truncation ----------------------------------------------------------

  /**
   * DeleteRecords: moves the log start offset up to `offset` (which must not exceed the high
   * watermark), deletes segments wholly below it and persists the new start. Returns the new
   * log start offset (the low watermark).
   */
  deleteRecordsBefore(offset: number): Promise<number> {
    return this.runOp(async () => {
      if (offset > this._highWatermark) {
        throw new StorageError(
          "OFFSET_OUT_OF_RANGE",
          `cannot delete records before ${offset}: above the high watermark ${this._highWatermark}`,
        );
      }
      if (offset <= this._logStartOffset) return this._logStartOffset;
      this._logStartOffset = offset;
      let n = 0;
      while (n + 1 < this.segments.length && this.segments[n + 1].baseOffset <= offset) n++;
      await this.deleteLeadingSegments(n);
      await this.checkpoint();
      return this._logStartOffset;
    });
  }

  /**
   * Retention: deletes the oldest segments whose largest timestamp is older than retention.ms,
   * and while the log is over retention.bytes — only segments entirely below the high watermark.
   * When every segment qualifies the active one is rolled first, so an empty active segment always
   * remains. Returns the number of segments deleted.
   */
  deleteOldSegments(now: number = this.clock()): Promise<number> {
    return this.runOp(async () => {
      const { retentionMs, retentionBytes } = this.config;
      const segs = this.segments;
      const eligible = (i: number): boolean => {
        const nextSeg = segs[i + 1];
        if (nextSeg) return nextSeg.baseOffset <= this._highWatermark;
        return segs[i].size > 0 && this._highWatermark >= this._logEndOffset;
      };
      let byTime = 0;
      if (retentionMs >= 0) {
        while (byTime < segs.length && eligible(byTime)) {
          const s = segs[byTime];
          const largest = s.maxTimestamp >= 0 ? s.maxTimestamp : s.lastModifiedMs;
          if (now - largest <= retentionMs) break;
          byTime++;
        }
      }
      let bySize = 0;
      if (retentionBytes >= 0) {
        let excess = this.size - retentionBytes;
        while (bySize < segs.length && eligible(bySize) && excess - segs[bySize].size >= 0) {
          excess -= segs[bySize].size;
          bySize++;
        }
      }
      let count = Math.max(byTime, bySize);
      if (count === 0) return 0;
      await this.sealChain;
      if (count === this.segments.length) {
        await this.roll(this._logEndOffset);
        await this.sealChain;
      }
      count = Math.min(count, this.segments.length - 1);
      await this.deleteLeadingSegments(count);
      await this.checkpoint();
      return count;
    });
  }

  /** Removes the first `n` segments and moves the log start offset to the new first segment. */
  private async deleteLeadingSegments(n: number): Promise<void> {
    if (n > 0) {
      await this.sealChain;
      const doomed = this.segments.splice(0, n);
      this._logStartOffset = Math.max(this._logStartOffset, this.segments[0].baseOffset);
      await Promise.all(doomed.map((s) => s.delete()));
    }
    if (this._highWatermark < this._logStartOffset) this._highWatermark = this._logStartOffset;
    if (this._recoveryPoint < this._logStartOffset) this._recoveryPoint = this._logStartOffset;
    this.epochs.truncateFromStart(this._logStartOffset);
    if (this.epochs.dirty) await this.writeEpochCheckpoint();
  }

  /**
   * Removes everything at and after `offset` (replica divergence). The cut is at a batch boundary:
   * a batch containing `offset` is removed whole, so the new log end offset may be below `offset`.
   * The high watermark, recovery point and epoch cache follow. Truncating below the log start
   * empties the log and restarts it at `offset`.
   */
  truncateTo(offset: number): Promise<void> {
    return this.runOp(async () => {
      if (offset >= this._logEndOffset) return;
      await this.sealChain;
      if (offset < this._logStartOffset) {
        await this.resetTo(offset);
        return;
      }
      let keep = this.segments.length;
      while (keep > 1 && this.segments[keep - 1].baseOffset > offset) keep--;
      const doomed = this.segments.splice(keep);
      await Promise.all(doomed.map((s) => s.delete()));
      const active = this.active;
      await active.truncateTo(offset);
      await active.datasync();
      active.setIndexIntervalBytes(this.config.indexIntervalBytes);
      this._logEndOffset = active.nextOffset;
      this._highWatermark = Math.min(this._highWatermark, this._logEndOffset);
      this._recoveryPoint = Math.min(this._recoveryPoint, this._logEndOffset);
      this.epochs.truncateFromEnd(this._logEndOffset);
      if (this.epochs.dirty) await this.writeEpochCheckpoint();
      await this.checkpoint();
    });
  }

  /** Deletes every segment and restarts the log empty at `offset` (start, end, HW all = offset). */
  truncateFullyAndStartAt(offset: number): Promise<void> {
    return this.runOp(async () => {
      await this.sealChain;
      await this.resetTo(offset);
    });
  }

  private async resetTo(offset: number): Promise<void> {
    const doomed = this.segments;
    // Delete first: the new segment may reuse a base offset (and so a file name) of a doomed one.
    await Promise.all(doomed.map((s) => s.delete()));
    this.segments = [];
    this.segments.push(
      await Segment.create(this.dir, offset, this.config.indexIntervalBytes, this.observer, this.clock()),
    );
    await fsyncDir(this.dir, this.observer);
    this._logStartOffset = offset;
    this._logEndOffset = offset;
    this._highWatermark = offset;
    this._recoveryPoint = offset;
    this.epochs.clear();
    await this.writeEpochCheckpoint();
    await this.checkpoint();
  }

  // ---- durability --------------------------------------------------------------------------------

  /** fsyncs everything written so far, advances the recovery point and writes the checkpoints. */
  async flush(): Promise<void> {
    if (this.closed || this.failure) return;
    const segment = this.active;
    const end = this._logEndOffset;
    await this.sealChain;
    if (end > this._recoveryPoint) {
      try {
        segment.acquire();
      } catch {
        return; // deleted by a truncation meanwhile
      }
      try {
        await segment.datasync();
      } catch (e) {
        throw this.fail(e);
      } finally {
        segment.release();
      }
      this._recoveryPoint = Math.max(this._recoveryPoint, end);
    }
    await this.checkpoint();
  }

  /** Writes the offsets checkpoint (log start, high watermark, recovery point) if it changed. */
  checkpoint(): Promise<void> {
    const run = this.checkpointChain.then(async () => {
      const text = formatOffsetsCheckpoint({
        logStartOffset: this._logStartOffset,
        highWatermark: this._highWatermark,
        recoveryPoint: this._recoveryPoint,
      });
      if (text === this.lastOffsetsCheckpoint) return;
      await writeFileAtomic(this.dir, OFFSETS_CHECKPOINT_FILE, text, this.observer);
      this.lastOffsetsCheckpoint = text;
    });
    this.checkpointChain = run.catch(() => {});
    return run;
  }

  private writeEpochCheckpoint(): Promise<void> {
    const run = this.checkpointChain.then(async () => {
      if (!this.epochs.dirty) return;
      this.epochs.dirty = false;
      try {
        await writeFileAtomic(this.dir, LEADER_EPOCH_CHECKPOINT_FILE, this.epochs.serialize(), this.observer);
      } catch (e) {
        this.epochs.dirty = true;
        throw e;
      }
    });
    this.checkpointChain = run.catch(() => {});
    return run;
  }

  private startFlushTimer(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    if (this.config.flushPolicy !== "interval" || this.closing) return;
    this.flushTimer = setInterval(() => {
      if (this.flushing) return;
      this.flushing = true;
      this.flush()
        .catch((e) => this.warn("periodic flush failed", { dir: this.dir, error: String(e) }))
        .finally(() => {
          this.flushing = false;
        });
    }, this.config.flushIntervalMs);
    this.flushTimer.unref();
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /**
   * Clean shutdown: waits for queued work, seals the active segment (indexes written, fsync),
   * writes the checkpoints and the `.clean-shutdown` marker, closes the files.
   */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.runOp(async () => {}).catch(() => {});
    await this.sealChain;
    try {
      if (!this.failure) {
        await this.active.seal(true);
        this._recoveryPoint = this._logEndOffset;
        await this.checkpoint();
        if (this.epochs.dirty) await this.writeEpochCheckpoint();
        await writeFileAtomic(this.dir, CLEAN_SHUTDOWN_FILE, "", this.observer);
      }
    } finally {
      this.closed = true;
      await this.closeFiles();
    }
  }

  /** Closes without flushing or marking a clean shutdown (used before deleting the partition). */
  async discard(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.runOp(async () => {}).catch(() => {});
    await this.sealChain;
    this.closed = true;
    await this.closeFiles();
  }

  private async closeFiles(): Promise<void> {
    await Promise.all(this.segments.map((s) => s.close().catch(() => {})));
  }

  private async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const names = await readdir(this.dir);
    const bases: number[] = [];
    const logs = new Set<string>();
    for (const name of names) {
      if (name.endsWith(DELETED_SUFFIX) || name.endsWith(".tmp")) {
        await unlinkIfExists(join(this.dir, name));
        continue;
      }
      const base = parseSegmentFileName(name);
      if (base !== undefined) {
        bases.push(base);
        logs.add(name.slice(0, 20));
      }
    }
    for (const name of names) {
      const stem = name.slice(0, 20);
      if ((name.endsWith(INDEX_SUFFIX) || name.endsWith(TIME_INDEX_SUFFIX)) && !logs.has(stem)) {
        await unlinkIfExists(join(this.dir, name));
      }
    }
    bases.sort((a, b) => a - b);
    const clean = names.includes(CLEAN_SHUTDOWN_FILE);
    const checkpoint = await readOffsetsCheckpoint(join(this.dir, OFFSETS_CHECKPOINT_FILE));
    const loadedEpochs = await LeaderEpochCache.load(join(this.dir, LEADER_EPOCH_CHECKPOINT_FILE));
    const rebuildAll = loadedEpochs === undefined && bases.length > 0;
    this.epochs = loadedEpochs ?? new LeaderEpochCache();
    if (loadedEpochs === undefined) this.epochs.dirty = true;

    // Segments from the one holding the recovery point on were written after the last fsync the
    // checkpoint knows of; after an unclean shutdown they are scanned and validated in full.
    const recoveryPoint = clean ? Number.POSITIVE_INFINITY : (checkpoint?.recoveryPoint ?? 0);
    let firstToRecover = 0;
    for (let i = 0; i < bases.length; i++) if (bases[i] <= recoveryPoint) firstToRecover = i;
    if (!clean && checkpoint === undefined) firstToRecover = 0;

    const transitions: EpochTransition[] = [];
    const recovered: Segment[] = [];
    for (let i = 0; i < bases.length; i++) {
      const mode = rebuildAll || (!clean && i >= firstToRecover) ? "rebuild" : "trust-indexes";
      const res = await Segment.load(this.dir, bases[i], mode, this.config.indexIntervalBytes, this.observer);
      this.segments.push(res.segment);
      transitions.push(...res.epochTransitions);
      if (res.rebuilt || res.truncatedBytes > 0) recovered.push(res.segment);
      if (res.truncatedBytes > 0) {
        this.warn("truncated a torn or corrupt log tail", {
          dir: this.dir,
          segment: bases[i],
          bytes: res.truncatedBytes,
          reason: res.truncationReason,
        });
        const later = bases.slice(i + 1);
        if (later.length > 0) {
          this.warn("deleting segments after the corruption", { dir: this.dir, segments: later });
          for (const b of later) {
            const p = segmentPaths(this.dir, b);
            await Promise.all([unlinkIfExists(p.log), unlinkIfExists(p.index), unlinkIfExists(p.timeIndex)]);
          }
        }
        break;
      }
    }
    if (this.segments.length === 0) {
      const start = checkpoint?.logStartOffset ?? 0;
      this.segments.push(
        await Segment.create(this.dir, start, this.config.indexIntervalBytes, this.observer, this.clock()),
      );
      await fsyncDir(this.dir, this.observer);
    }
    const first = this.segments[0];
    this._logEndOffset = this.active.nextOffset;
    this._logStartOffset = Math.min(
      Math.max(checkpoint?.logStartOffset ?? first.baseOffset, first.baseOffset),
      this._logEndOffset,
    );
    this._highWatermark = Math.min(
      Math.max(checkpoint?.highWatermark ?? 0, this._logStartOffset),
      this._logEndOffset,
    );

    this.epochs.truncateFromEnd(this._logEndOffset);
    for (const t of transitions) {
      if (t.epoch > this.epochs.latestEpoch && t.startOffset < this._logEndOffset) {
        this.epochs.assign(t.epoch, t.startOffset);
      }
    }
    this.epochs.truncateFromStart(this._logStartOffset);

    for (const s of this.segments) {
      if (s !== this.active && s.maxTimestamp >= 0)
        s.timeIndex.maybeAppend(s.maxTimestamp, s.offsetOfMaxTimestamp);
    }
    // Make what recovery accepted durable before declaring it below the recovery point.
    for (const s of recovered) {
      if (s !== this.active) await s.seal(true);
      else await s.datasync();
    }
    this._recoveryPoint = this._logEndOffset;
    if (this.epochs.dirty) await this.writeEpochCheckpoint();
    await this.checkpoint();
    if (clean) {
      await unlinkIfExists(join(this.dir, CLEAN_SHUTDOWN_FILE));
      await fsyncDir(this.dir, this.observer);
    }
    this.startFlushTimer();
  }
}

function formatOffsetsCheckpoint(c: OffsetsCheckpoint): string {
  return `0\nlog-start-offset ${c.logStartOffset}\nhigh-watermark ${c.highWatermark}\nrecovery-point ${c.recoveryPoint}\n`;
}

async function readOffsetsCheckpoint(path: string): Promise<OffsetsCheckpoint | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  if (lines[0]?.trim() !== "0") {
    throw new StorageError("KAFKA_STORAGE_ERROR", `malformed ${path}: unsupported version`);
  }
  const values = new Map<string, number>();
  for (const line of lines.slice(1)) {
    const [key, value] = line.trim().split(/\s+/);
    const n = Number(value);
    if (!Number.isInteger(n)) throw new StorageError("KAFKA_STORAGE_ERROR", `malformed ${path}: "${line}"`);
    values.set(key, n);
  }
  return {
    logStartOffset: values.get("log-start-offset") ?? 0,
    highWatermark: values.get("high-watermark") ?? 0,
    recoveryPoint: values.get("recovery-point") ?? 0,
  };
}
