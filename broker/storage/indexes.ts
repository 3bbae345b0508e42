/**
 * The two sparse per-segment indexes, held in memory as packed big-endian entries (exactly the
 * bytes of the on-disk file) and written out whole when a segment is sealed or closed.
 *
 * - OffsetIndex: 8-byte entries (relative offset int32, file position int32). An entry is keyed by
 *   the base offset of the batch that starts at that position. Lookup answers "the last indexed
 *   batch starting at or before offset X"; the reader then scans forward at most one interval.
 * - TimeIndex: 12-byte entries (timestamp int64, relative offset int32). An entry (T, O) means
 *   every batch before O has a max timestamp below T, so the first record with timestamp >= T' for
 *   any T' >= T lies at or after O.
 */
import { StorageError } from "./errors.ts";

const OFFSET_ENTRY = 8;
const TIME_ENTRY = 12;
const TWO_32 = 4294967296;

abstract class PackedEntries {
  protected buf: Buffer;
  protected count = 0;
  /** True when the in-memory entries differ from the file. */
  dirty = false;

  constructor(
    readonly baseOffset: number,
    protected readonly entrySize: number,
    initial?: Buffer,
  ) {
    if (initial) {
      this.buf = initial;
      this.count = Math.floor(initial.length / entrySize);
    } else {
      this.buf = Buffer.allocUnsafe(entrySize * 64);
    }
  }

  get entries(): number {
    return this.count;
  }

  /** The file content: the used prefix of the entry buffer (a view, not a copy). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.count * this.entrySize);
  }

  clear(): void {
    if (this.count > 0) this.dirty = true;
    this.count = 0;
  }

  /** Keeps the first `n` entries. */
  protected keep(n: number): void {
    if (n < this.count) {
      this.count = n;
      this.dirty = true;
    }
  }

  protected reserve(): number {
    const at = this.count * this.entrySize;
    if (at + this.entrySize > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.entrySize * 64));
      this.buf.copy(bigger, 0, 0, at);
      this.buf = bigger;
    }
    this.count++;
    this.dirty = true;
    return at;
  }

  protected relative(offset: number): number {
    const rel = offset - this.baseOffset;
    if (rel < 0 || rel > 0x7fffffff) {
      throw new StorageError(
        "KAFKA_STORAGE_ERROR",
        `offset ${offset} does not fit segment ${this.baseOffset}`,
      );
    }
    return rel;
  }
}

export class OffsetIndex extends PackedEntries {
  constructor(baseOffset: number, initial?: Buffer) {
    super(baseOffset, OFFSET_ENTRY, initial);
  }

  offsetAt(i: number): number {
    return this.baseOffset + this.buf.readInt32BE(i * OFFSET_ENTRY);
  }

  positionAt(i: number): number {
    return this.buf.readInt32BE(i * OFFSET_ENTRY + 4);
  }

  get lastPosition(): number {
    return this.count === 0 ? 0 : this.positionAt(this.count - 1);
  }

  append(offset: number, position: number): void {
    if (this.count > 0 && (offset <= this.offsetAt(this.count - 1) || position <= this.lastPosition)) {
      throw new StorageError(
        "KAFKA_STORAGE_ERROR",
        `offset index entries must increase (${offset}@${position})`,
      );
    }
    const at = this.reserve();
    this.buf.writeInt32BE(this.relative(offset), at);
    this.buf.writeInt32BE(position, at + 4);
  }

  /** Index of the last entry whose offset is <= `offset`, or -1. */
  floor(offset: number): number {
    const rel = offset - this.baseOffset;
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.buf.readInt32BE(mid * OFFSET_ENTRY) <= rel) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Removes entries whose offset is >= `offset`. */
  truncateToOffset(offset: number): void {
    this.keep(this.floor(offset - 1) + 1);
  }

  /** Removes entries whose position is >= `position`. */
  truncateToPosition(position: number): void {
    let n = this.count;
    while (n > 0 && this.positionAt(n - 1) >= position) n--;
    this.keep(n);
  }

  /** Why the index cannot be trusted against a log of `logSize` bytes, or undefined. */
  sanityCheck(byteLength: number, logSize: number): string | undefined {
    if (byteLength % OFFSET_ENTRY !== 0) return `offset index size ${byteLength} is not a multiple of 8`;
    let prevRel = -1;
    let prevPos = -1;
    for (let i = 0; i < this.count; i++) {
      const rel = this.buf.readInt32BE(i * OFFSET_ENTRY);
      const pos = this.buf.readInt32BE(i * OFFSET_ENTRY + 4);
      if (rel <= prevRel || pos <= prevPos || pos >= logSize)
        return `offset index entry ${i} is out of order`;
      prevRel = rel;
      prevPos = pos;
    }
    return undefined;
  }
}

export class TimeIndex extends PackedEntries {
  constructor(baseOffset: number, initial?: Buffer) {
    super(baseOffset, TIME_ENTRY, initial);
  }

  timestampAt(i: number): number {
    return this.buf.readInt32BE(i * TIME_ENTRY) * TWO_32 + this.buf.readUInt32BE(i * TIME_ENTRY + 4);
  }

  offsetAt(i: number): number {
    return this.baseOffset + this.buf.readInt32BE(i * TIME_ENTRY + 8);
  }

  get lastTimestamp(): number {
    return this.count === 0 ? -1 : this.timestampAt(this.count - 1);
  }

  /** Appends (timestamp, offset) when the timestamp is larger than the last entry's. */
  maybeAppend(timestamp: number, offset: number): void {
    if (timestamp <= this.lastTimestamp) return;
    if (this.count > 0 && offset < this.offsetAt(this.count - 1)) return;
    const at = this.reserve();
    const hi = Math.floor(timestamp / TWO_32);
    this.buf.writeInt32BE(hi, at);
    this.buf.writeUInt32BE(timestamp - hi * TWO_32, at + 4);
    this.buf.writeInt32BE(this.relative(offset), at + 8);
  }

  /** Offset of the last entry whose timestamp is <= `timestamp`, or the segment base offset. */
  lookup(timestamp: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timestampAt(mid) <= timestamp) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? this.baseOffset : this.offsetAt(found);
  }

  /** Removes entries whose offset is >= `offset`. */
  truncateToOffset(offset: number): void {
    let n = this.count;
    while (n > 0 && this.offsetAt(n - 1) >= offset) n--;
    this.keep(n);
  }

  sanityCheck(byteLength: number): string | undefined {
    if (byteLength % TIME_ENTRY !== 0) return `time index size ${byteLength} is not a multiple of 12`;
    let prevTs = -1;
    let prevRel = -1;
    for (let i = 0; i < this.count; i++) {
      const ts = this.timestampAt(i);
      const rel = this.buf.readInt32BE(i * TIME_ENTRY + 8);
      if (ts <= prevTs || rel < prevRel) return `time index entry ${i} is out of order`;
      prevTs = ts;
      prevRel = rel;
    }
    return undefined;
  }
}
