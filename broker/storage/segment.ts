/**
 * One log segment: `<base>.log` holding batches exactly as received (only baseOffset, leader epoch
 * and, for LogAppendTime, maxTimestamp+CRC patched), plus its sparse `.index` and `.timeindex`.
 *
 * The segment does no locking of its own: PartitionLog serialises every mutation (writes, truncation,
 * sealing) through its single writer; reads run concurrently and only look at bytes below `size`,
 * which advances after a write completes. Readers hold a reference so a deleted segment's file
 * descriptor is closed only once the last in-flight read has finished.
 */
import type { FileHandle } from "node:fs/promises";
import { open, readFile, rename } from "node:fs/promises";
import {
  BATCH_HEADER_SIZE,
  batchBaseOffset,
  batchLastOffset,
  batchLeaderEpoch,
  batchMaxTimestamp,
  batchTotalSize,
  checkStoredBatch,
  type Decompressor,
  firstRecordAtOrAfterTimestamp,
  LOG_OVERHEAD,
  MIN_V2_BATCH_LENGTH,
  type TimestampHit,
} from "./batch-format.ts";
import { StorageError } from "./errors.ts";
import {
  DELETED_SUFFIX,
  type FsyncObserver,
  isNotFound,
  segmentPaths,
  unlinkIfExists,
  writeFileAtomic,
} from "./files.ts";
import { OffsetIndex, TimeIndex } from "./indexes.ts";

const SCAN_CHUNK = 1 << 20;
const LOOKUP_CHUNK = 64 * 1024;
const MAX_RELATIVE_OFFSET = 0x7fffffff;

export type SegmentOpenMode = "trust-indexes" | "rebuild";

export interface EpochTransition {
  epoch: number;
  startOffset: number;
}

export interface SegmentLoadResult {
  segment: Segment;
  /** Bytes cut off the end because they were torn or corrupt (0 when the file was intact). */
  truncatedBytes: number;
  truncationReason: string | undefined;
  /** True when the indexes were rebuilt from the log rather than loaded. */
  rebuilt: boolean;
  /** Leader-epoch changes seen in the scanned batches, in offset order. */
  epochTransitions: EpochTransition[];
}

/** Visitor for `scan`: return true to stop before consuming this batch. */
type BatchVisitor = (buf: Buffer, pos: number, filePos: number, size: number) => boolean;

interface ScanOutcome {
  /** File position where scanning stopped (after the last consumed batch). */
  endPos: number;
  /** Set when the scan stopped at an invalid or partial batch. */
  invalidReason: string | undefined;
}

export class Segment {
  /** Bytes of valid data in the log file. */
  size = 0;
  /** Offset after the last batch (== baseOffset while empty). */
  nextOffset: number;
  /** Largest batch maxTimestamp in the segment (-1 when none). */
  maxTimestamp = -1;
  /** Base offset of the first batch that reached maxTimestamp. */
  offsetOfMaxTimestamp = -1;
  /** maxTimestamp of the first batch (segment.ms rolls are measured from it), -1 when none. */
  firstBatchTimestamp = -1;
  /** Wall-clock creation (or load) time, for segment.ms when batches carry no timestamps. */
  readonly createdMs: number;
  /** Last write time (file mtime at load), the retention fallback when there are no timestamps. */
  lastModifiedMs: number;
  private bytesSinceIndexEntry = 0;
  private refs = 0;
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    private readonly fh: FileHandle,
    readonly offsetIndex: OffsetIndex,
    readonly timeIndex: TimeIndex,
    private indexIntervalBytes: number,
    private readonly observer: FsyncObserver | undefined,
    nowMs: number,
  ) {
    this.nextOffset = baseOffset;
    this.createdMs = nowMs;
    this.lastModifiedMs = nowMs;
  }

  get paths(): { log: string; index: string; timeIndex: string } {
    return segmentPaths(this.dir, this.baseOffset);
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  setIndexIntervalBytes(bytes: number): void {
    this.indexIntervalBytes = bytes;
  }

  /** Creates a new empty segment (truncating any stale file of the same name). */
  static async create(
    dir: string,
    baseOffset: number,
    indexIntervalBytes: number,
    observer: FsyncObserver | undefined,
    nowMs: number,
  ): Promise<Segment> {
    const fh = await open(segmentPaths(dir, baseOffset).log, "w+");
    const seg = new Segment(
      dir,
      baseOffset,
      fh,
      new OffsetIndex(baseOffset),
      new TimeIndex(baseOffset),
      indexIntervalBytes,
      observer,
      nowMs,
    );
    seg.offsetIndex.dirty = true;
    seg.timeIndex.dirty = true;
    return seg;
  }

  /**
   * Opens an existing segment. "trust-indexes" loads and sanity-checks the index files, then
   * validates only the tail after the last offset-index entry; "rebuild" (or any failed check)
   * scans and validates the whole file. Either way a torn or corrupt tail is truncated.
   */
  static async load(
    dir: string,
    baseOffset: number,
    mode: SegmentOpenMode,
    indexIntervalBytes: number,
    observer: FsyncObserver | undefined,
  ): Promise<SegmentLoadResult> {
    const paths = segmentPaths(dir, baseOffset);
    const fh = await open(paths.log, "r+");
    let seg: Segment | undefined;
    try {
      const st = await fh.stat();
      const fileSize = st.size;
      let offsetIndex: OffsetIndex | undefined;
      let timeIndex: TimeIndex | undefined;
      if (mode === "trust-indexes") {
        const loaded = await loadIndexes(paths.index, paths.timeIndex, baseOffset, fileSize);
        offsetIndex = loaded?.offsetIndex;
        timeIndex = loaded?.timeIndex;
      }
      const trusted = offsetIndex !== undefined && timeIndex !== undefined;
      seg = new Segment(
        dir,
        baseOffset,
        fh,
        offsetIndex ?? new OffsetIndex(baseOffset),
        timeIndex ?? new TimeIndex(baseOffset),
        indexIntervalBytes,
        observer,
        Date.now(),
      );
      seg.lastModifiedMs = st.mtimeMs;
      const transitions: EpochTransition[] = [];
      if (trusted) {
        const tail = await seg.reloadTail(fileSize, transitions);
        if (tail !== "stale") {
          return { segment: seg, ...tail, rebuilt: false, epochTransitions: transitions };
        }
        transitions.length = 0;
      }
      seg.resetState();
      const outcome = await seg.recoverFrom(0, fileSize, transitions);
      return { segment: seg, ...outcome, rebuilt: true, epochTransitions: transitions };
    } catch (e) {
      await fh.close().catch(() => {});
      throw e;
    }
  }

  private resetState(): void {
    this.offsetIndex.clear();
    this.timeIndex.clear();
    this.offsetIndex.dirty = true;
    this.timeIndex.dirty = true;
    this.size = 0;
    this.nextOffset = this.baseOffset;
    this.maxTimestamp = -1;
    this.offsetOfMaxTimestamp = -1;
    this.firstBatchTimestamp = -1;
    this.bytesSinceIndexEntry = 0;
  }

  /**
   * Re-derives the in-memory tail state (next offset, max timestamp, bytes since the last index
   * entry) by scanning from the last offset-index entry to `fileSize`, re-adding index entries
   * exactly as appends would. Returns "stale" when the indexes disagree with the log (the caller then
   * rebuilds from scratch). A torn tail is truncated.
   */
  private async reloadTail(
    fileSize: number,
    transitions: EpochTransition[],
  ): Promise<{ truncatedBytes: number; truncationReason: string | undefined } | "stale"> {
    const last = this.offsetIndex.entries - 1;
    const fromPos = last < 0 ? 0 : this.offsetIndex.positionAt(last);
    const fromOffset = last < 0 ? this.baseOffset : this.offsetIndex.offsetAt(last);
    this.offsetIndex.truncateToPosition(fromPos);
    this.timeIndex.truncateToOffset(fromOffset);
    this.size = fromPos;
    this.nextOffset = fromOffset;
    const t = this.timeIndex.entries;
    this.maxTimestamp = t > 0 ? this.timeIndex.timestampAt(t - 1) : -1;
    this.offsetOfMaxTimestamp = t > 0 ? this.timeIndex.offsetAt(t - 1) : -1;
    this.bytesSinceIndexEntry = fromPos === 0 ? 0 : Number.POSITIVE_INFINITY;
    if (fromPos > 0) {
      const head = await this.readAt(0, BATCH_HEADER_SIZE);
      if (head.length < BATCH_HEADER_SIZE) return "stale";
      this.firstBatchTimestamp = batchMaxTimestamp(head, 0);
    }
    let mismatch = false;
    const outcome = await this.scan(fromPos, fileSize, SCAN_CHUNK, true, (buf, p, filePos, size) => {
      const base = batchBaseOffset(buf, p);
      if ((filePos === fromPos && last >= 0 && base !== fromOffset) || base < this.nextOffset) {
        mismatch = true;
        return true;
      }
      this.noteEpoch(buf, p, transitions);
      this.trackBatch(buf, p, filePos, size);
      return false;
    });
    if (mismatch) return "stale";
    if (outcome.invalidReason !== undefined) {
      // The tail after a trusted index point is torn; but the batch at the index point itself
      // being bad means the index is stale rather than the tail torn.
      if (outcome.endPos === fromPos && fromPos > 0) return "stale";
      await this.truncateFile(outcome.endPos);
      return { truncatedBytes: fileSize - outcome.endPos, truncationReason: outcome.invalidReason };
    }
    return { truncatedBytes: 0, truncationReason: undefined };
  }

  /** Full validation scan from `fromPos`, rebuilding index entries; truncates a bad tail. */
  private async recoverFrom(
    fromPos: number,
    fileSize: number,
    transitions: EpochTransition[],
  ): Promise<{ truncatedBytes: number; truncationReason: string | undefined }> {
    let reason: string | undefined;
    const outcome = await this.scan(fromPos, fileSize, SCAN_CHUNK, true, (buf, p, filePos, size) => {
      const base = batchBaseOffset(buf, p);
      const lastOffset = batchLastOffset(buf, p);
      if (base < this.nextOffset) {
        reason = `batch base offset ${base} is below the expected ${this.nextOffset}`;
        return true;
      }
      if (lastOffset - this.baseOffset > MAX_RELATIVE_OFFSET) {
        reason = `batch offset ${lastOffset} does not fit segment ${this.baseOffset}`;
        return true;
      }
      this.noteEpoch(buf, p, transitions);
      this.trackBatch(buf, p, filePos, size);
      return false;
    });
    reason ??= outcome.invalidReason;
    if (outcome.endPos < fileSize) {
      await this.truncateFile(outcome.endPos);
      return { truncatedBytes: fileSize - outcome.endPos, truncationReason: reason ?? "trailing bytes" };
    }
    return { truncatedBytes: 0, truncationReason: undefined };
  }

  private noteEpoch(buf: Buffer, p: number, transitions: EpochTransition[]): void {
    const epoch = batchLeaderEpoch(buf, p);
    const prev = transitions[transitions.length - 1];
    if (epoch >= 0 && (prev === undefined || epoch > prev.epoch)) {
      transitions.push({ epoch, startOffset: batchBaseOffset(buf, p) });
    }
  }

  private async truncateFile(size: number): Promise<void> {
    await this.fh.truncate(size);
    this.size = size;
  }

  // ---- appends -----------------------------------------------------------------------------------

  /**
   * Writes `buffers` at the current end of the file with one positional writev. Does not change
   * `size`: the caller then reports every batch through `trackBatch`, which makes it readable.
   */
  async write(buffers: Buffer[], bytes: number): Promise<void> {
    let position = this.size;
    let pending = buffers;
    let remaining = bytes;
    while (remaining > 0) {
      const { bytesWritten } = await this.fh.writev(pending, position);
      if (bytesWritten <= 0) throw new StorageError("KAFKA_STORAGE_ERROR", "write made no progress");
      remaining -= bytesWritten;
      position += bytesWritten;
      if (remaining > 0) pending = dropPrefix(pending, bytesWritten);
    }
  }

  /**
   * Accounts for one batch now present in the file at `filePos`: advances size and next offset,
   * the max timestamp, and adds index entries once `index.interval.bytes` have passed.
   */
  trackBatch(buf: Buffer, pos: number, filePos: number, size: number): void {
    const base = batchBaseOffset(buf, pos);
    const maxTimestamp = batchMaxTimestamp(buf, pos);
    if (filePos === 0) this.firstBatchTimestamp = maxTimestamp;
    if (maxTimestamp > this.maxTimestamp) {
      this.maxTimestamp = maxTimestamp;
      this.offsetOfMaxTimestamp = base;
    }
    if (this.bytesSinceIndexEntry >= this.indexIntervalBytes) {
      this.offsetIndex.append(base, filePos);
      this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp);
      this.bytesSinceIndexEntry = 0;
    }
    this.bytesSinceIndexEntry += size;
    this.nextOffset = batchLastOffset(buf, pos) + 1;
    this.size = filePos + size;
  }

  async datasync(): Promise<void> {
    const start = performance.now();
    await this.fh.datasync();
    this.observer?.({ kind: "log", seconds: (performance.now() - start) / 1000, path: this.paths.log });
  }

  /** Writes the index files if they changed (atomically, fsynced when `durable`). */
  async writeIndexes(durable: boolean): Promise<void> {
    const { index, timeIndex } = this.paths;
    if (this.offsetIndex.dirty) {
      this.offsetIndex.dirty = false;
      await writeIndexFile(this.dir, index, this.offsetIndex.bytes(), this.observer, durable);
    }
    if (this.timeIndex.dirty) {
      this.timeIndex.dirty = false;
      await writeIndexFile(this.dir, timeIndex, this.timeIndex.bytes(), this.observer, durable);
    }
  }

  /**
   * Makes the segment complete on disk: records its max timestamp in the time index, writes both
   * indexes and fsyncs the log. Called when the segment stops being active and on close.
   */
  async seal(durable = true): Promise<void> {
    this.acquire();
    try {
      if (this.maxTimestamp >= 0) this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp);
      if (durable) await this.datasync();
      await this.writeIndexes(durable);
    } finally {
      this.release();
    }
  }

  // ---- reads -------------------------------------------------------------------------------------

  acquire(): void {
    if (this.closed) throw new StorageError("KAFKA_STORAGE_ERROR", `segment ${this.baseOffset} is closed`);
    this.refs++;
  }

  release(): void {
    this.refs--;
    if (this.refs === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private whenIdle(): Promise<void> {
    if (this.refs === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Reads `length` bytes at `position` (fewer only at end of file) into a fresh Buffer. */
  async readAt(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.fh.read(buf, filled, length - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === length ? buf : buf.subarray(0, filled);
  }

  /**
   * Whole batches starting with the one containing `startOffset`, ending before any batch whose
   * last offset is >= `maxOffset`, within `maxBytes` — except that the first batch is returned
   * whole even when larger, if `minOneMessage` (KIP-74). Returns undefined when this segment has no
   * batch at or after `startOffset` (the caller moves to the next segment), an empty Buffer when
   * the limits exclude the first batch. One file read in the common case; the result is a view of
   * the read buffer.
   */
  async read(
    startOffset: number,
    maxBytes: number,
    maxOffset: number,
    minOneMessage: boolean,
  ): Promise<Buffer | undefined> {
    const limit = this.size;
    if (startOffset >= this.nextOffset || limit === 0) return undefined;
    const i = this.offsetIndex.floor(startOffset);
    const from = i < 0 ? 0 : this.offsetIndex.positionAt(i);
    const nextEntry = i + 1 < this.offsetIndex.entries ? this.offsetIndex.positionAt(i + 1) : limit;
    const length = Math.min(limit - from, nextEntry - from + Math.max(maxBytes, BATCH_HEADER_SIZE));
    const buf = await this.readAt(from, length);
    let p = 0;
    for (;;) {
      if (p + BATCH_HEADER_SIZE > buf.length) return undefined;
      if (batchLastOffset(buf, p) >= startOffset) break;
      p += batchTotalSize(buf, p);
    }
    let q = p;
    while (q + BATCH_HEADER_SIZE <= buf.length) {
      const size = batchTotalSize(buf, q);
      if (batchLastOffset(buf, q) >= maxOffset) break;
      if (q + size - p > maxBytes && !(q === p && minOneMessage)) break;
      if (q + size > buf.length) {
        if (q === p) {
          // The first batch is larger than what we read: fetch it whole. A short read means the
          // segment was truncated under us; return nothing rather than a partial batch.
          const whole = await this.readAt(from + p, size);
          return whole.length === size ? whole : buf.subarray(0, 0);
        }
        break;
      }
      q += size;
    }
    return buf.subarray(p, q);
  }

  /** File position, base and last offset of the first batch whose last offset is >= `offset`. */
  async findBatch(
    offset: number,
  ): Promise<{ filePos: number; baseOffset: number; lastOffset: number } | undefined> {
    if (offset >= this.nextOffset) return undefined;
    const i = this.offsetIndex.floor(offset);
    const from = i < 0 ? 0 : this.offsetIndex.positionAt(i);
    let hit: { filePos: number; baseOffset: number; lastOffset: number } | undefined;
    await this.scan(from, this.size, LOOKUP_CHUNK, false, (buf, p, filePos) => {
      const lastOffset = batchLastOffset(buf, p);
      if (lastOffset < offset) return false;
      hit = { filePos, baseOffset: batchBaseOffset(buf, p), lastOffset };
      return true;
    });
    return hit;
  }

  /** The first record with timestamp >= `timestamp` and offset >= `minOffset`, via the time index. */
  async findTimestamp(
    timestamp: number,
    minOffset: number,
    decompress: Decompressor | undefined,
  ): Promise<TimestampHit | undefined> {
    if (this.maxTimestamp < timestamp) return undefined;
    const startOffset = Math.max(this.timeIndex.lookup(timestamp), minOffset);
    const i = this.offsetIndex.floor(startOffset);
    const from = i < 0 ? 0 : this.offsetIndex.positionAt(i);
    let hit: TimestampHit | undefined;
    await this.scan(from, this.size, LOOKUP_CHUNK, false, (buf, p) => {
      if (batchLastOffset(buf, p) < startOffset) return false;
      hit = firstRecordAtOrAfterTimestamp(buf, p, timestamp, minOffset, decompress);
      return hit !== undefined;
    });
    return hit;
  }

  /**
   * Removes every batch whose last offset is >= `offset` (so the cut is at a batch boundary and
   * the new next offset may be below `offset` if it fell inside a batch). Returns bytes removed.
   */
  async truncateTo(offset: number): Promise<number> {
    const hit = await this.findBatch(offset);
    if (!hit) return 0;
    const removed = this.size - hit.filePos;
    await this.fh.truncate(hit.filePos);
    this.offsetIndex.truncateToPosition(hit.filePos);
    this.timeIndex.truncateToOffset(hit.baseOffset);
    if (hit.filePos === 0) {
      this.resetState();
    } else {
      const tail = await this.reloadTail(hit.filePos, []);
      if (tail === "stale") {
        this.resetState();
        await this.recoverFrom(0, hit.filePos, []);
      }
    }
    this.offsetIndex.dirty = true;
    this.timeIndex.dirty = true;
    return removed;
  }

  /**
   * Iterates whole batches from `fromPos` to `endPos`, reading in chunks. With `validate`, each
   * batch is checked (length, magic, CRC) and the scan stops at the first bad or partial one.
   */
  private async scan(
    fromPos: number,
    endPos: number,
    chunk: number,
    validate: boolean,
    visit: BatchVisitor,
  ): Promise<ScanOutcome> {
    let filePos = fromPos;
    let want = chunk;
    while (filePos < endPos) {
      const buf = await this.readAt(filePos, Math.min(endPos - filePos, want));
      want = chunk;
      let p = 0;
      for (;;) {
        const remainingInFile = endPos - (filePos + p);
        if (remainingInFile === 0) return { endPos: filePos + p, invalidReason: undefined };
        if (remainingInFile < BATCH_HEADER_SIZE) {
          return { endPos: filePos + p, invalidReason: "partial batch header" };
        }
        if (buf.length - p < BATCH_HEADER_SIZE) break;
        const batchLength = buf.readInt32BE(p + LOG_OVERHEAD - 4);
        if (batchLength < MIN_V2_BATCH_LENGTH) {
          return { endPos: filePos + p, invalidReason: `illegal batch length ${batchLength}` };
        }
        const size = LOG_OVERHEAD + batchLength;
        if (size > remainingInFile) return { endPos: filePos + p, invalidReason: "partial batch" };
        if (p + size > buf.length) {
          want = Math.max(chunk, size);
          break;
        }
        if (validate) {
          const bad = checkStoredBatch(buf, p, p + size);
          if (bad !== undefined) return { endPos: filePos + p, invalidReason: bad };
        }
        if (visit(buf, p, filePos + p, size)) return { endPos: filePos + p, invalidReason: undefined };
        p += size;
      }
      filePos += p;
    }
    return { endPos: filePos, invalidReason: undefined };
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /** Closes the file once in-flight reads are done. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.whenIdle();
    await this.fh.close();
  }

  /**
   * Removes the segment: renames its files to `*.deleted` at once (so a restart never loads it),
   * then closes and unlinks them after in-flight reads finish.
   */
  async delete(): Promise<void> {
    const paths = this.paths;
    const files = [paths.log, paths.index, paths.timeIndex];
    await Promise.all(
      files.map((f) =>
        rename(f, f + DELETED_SUFFIX).catch((e) => {
          if (!isNotFound(e)) throw e;
        }),
      ),
    );
    await this.close();
    await Promise.all(files.map((f) => unlinkIfExists(f + DELETED_SUFFIX)));
  }
}

async function loadIndexes(
  indexPath: string,
  timeIndexPath: string,
  baseOffset: number,
  logSize: number,
): Promise<{ offsetIndex: OffsetIndex; timeIndex: TimeIndex } | undefined> {
  let indexBytes: Buffer;
  let timeBytes: Buffer;
  try {
    [indexBytes, timeBytes] = await Promise.all([readFile(indexPath), readFile(timeIndexPath)]);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
  const offsetIndex = new OffsetIndex(baseOffset, indexBytes);
  const timeIndex = new TimeIndex(baseOffset, timeBytes);
  if (offsetIndex.sanityCheck(indexBytes.length, logSize) !== undefined) return undefined;
  if (timeIndex.sanityCheck(timeBytes.length) !== undefined) return undefined;
  return { offsetIndex, timeIndex };
}

async function writeIndexFile(
  dir: string,
  path: string,
  bytes: Buffer,
  observer: FsyncObserver | undefined,
  durable: boolean,
): Promise<void> {
  const name = path.slice(dir.length + 1);
  const mapped: FsyncObserver | undefined = observer
    ? (e) => observer({ ...e, kind: e.kind === "checkpoint" ? "index" : e.kind })
    : undefined;
  await writeFileAtomic(dir, name, bytes, mapped, durable);
}

/** The buffers left after skipping `n` bytes (used after a short writev). */
function dropPrefix(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = n;
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
