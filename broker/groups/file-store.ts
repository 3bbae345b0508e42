/**
 * FileGroupStore: the group log in one append-only file.
 *
 * Layout: an 8-byte header (magic "GGRPLOG" + format version 1), then frames of
 *   u32 payload length | u32 CRC-32C of the payload | payload (one encoded GroupRecord)
 * Every append writes its frames in one write and fsyncs before resolving. On load, the first frame that
 * is incomplete or fails its CRC ends the log: the file is truncated there (a torn tail from a crash).
 * Compaction rewrites the latest value of every key (tombstoned keys dropped) to a temp file, fsyncs it,
 * renames it over the log and fsyncs the directory; it runs on load when the file holds superseded
 * records, and after an append once the file holds `compactRatio` times more records than live keys.
 */
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import { decodeRecord, encodeRecord } from "./records.ts";
import type { GroupStore } from "./store.ts";
import { type GroupRecord, recordKey } from "./types.ts";

const MAGIC = Buffer.from("GGRPLOG\x01", "latin1");
const FRAME_HEADER = 8;
/** A frame longer than this is treated as corruption rather than allocated. */
const MAX_FRAME = 64 * 1024 * 1024;

export interface FileGroupStoreOptions {
  /** Compact after an append only once the file holds at least this many records (default 1000). */
  compactMinRecords?: number;
  /** ... and at least this many times the number of live keys (default 2). */
  compactRatio?: number;
  /** fsync appends and compactions (default true; tests may turn it off for speed). */
  fsync?: boolean;
}

export interface LoadReport {
  /** Records read from the file (before compaction). */
  recordsRead: number;
  /** Bytes cut off the end because the last frame was torn or corrupt. */
  truncatedBytes: number;
  /** Whether load rewrote the file. */
  compacted: boolean;
}

export class FileGroupStoreError extends Error {
  override name = "FileGroupStoreError";
}

export function encodeFrame(record: GroupRecord): Buffer {
  const payload = encodeRecord(record);
  const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(crc32c(payload) >>> 0, 4);
  payload.copy(frame, FRAME_HEADER);
  return frame;
}

export class FileGroupStore implements GroupStore {
  private readonly compactMinRecords: number;
  private readonly compactRatio: number;
  private readonly doFsync: boolean;
  private handle: FileHandle | undefined;
  /** Latest record per key; tombstones removed. Insertion order = order of latest write. */
  private readonly live = new Map<string, GroupRecord>();
  /** Records (frames) in the file now. */
  private fileRecords = 0;
  private chain: Promise<void> = Promise.resolve();
  private loaded = false;
  lastLoad: LoadReport | undefined;
  /** Number of compactions since open (for tests and metrics). */
  compactions = 0;

  constructor(
    readonly path: string,
    options: FileGroupStoreOptions = {},
  ) {
    this.compactMinRecords = options.compactMinRecords ?? 1000;
    this.compactRatio = options.compactRatio ?? 2;
    this.doFsync = options.fsync ?? true;
  }

  async load(): Promise<GroupRecord[]> {
    await this.chain;
    await this.handle?.close();
    this.handle = undefined;
    this.live.clear();
    const report: LoadReport = { recordsRead: 0, truncatedBytes: 0, compacted: false };
    const fh = await open(this.path, "a+");
    try {
      const buf = await fh.readFile();
      const size = buf.length;
      let pos = 0;
      if (size === 0) {
        await fh.write(MAGIC, 0, MAGIC.length, 0);
        pos = MAGIC.length;
        if (this.doFsync) await fh.sync();
      } else if (size < MAGIC.length && MAGIC.subarray(0, size).equals(buf)) {
        // Crashed while writing the header of a new file.
        await fh.truncate(0);
        await fh.write(MAGIC, 0, MAGIC.length, 0);
        pos = MAGIC.length;
        report.truncatedBytes = size;
        if (this.doFsync) await fh.sync();
      } else if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) {
        throw new FileGroupStoreError(`${this.path} is not a group log (bad magic)`);
      } else {
        pos = MAGIC.length;
        for (;;) {
          const next = this.readFrame(buf, pos);
          if (next === undefined) break;
          report.recordsRead++;
          this.remember(next.record);
          pos = next.end;
        }
        if (pos < size) {
          report.truncatedBytes = size - pos;
          await fh.truncate(pos);
          if (this.doFsync) await fh.sync();
        }
      }
      this.fileRecords = report.recordsRead;
    } finally {
      await fh.close();
    }
    if (this.fileRecords > this.live.size) {
      await this.compact();
      report.compacted = true;
    }
    this.handle = await open(this.path, "a");
    this.loaded = true;
    this.lastLoad = report;
    return [...this.live.values()];
  }

  /** Decodes the frame at `pos`, or undefined when it is incomplete or corrupt. */
  private readFrame(buf: Buffer, pos: number): { record: GroupRecord; end: number } | undefined {
    if (pos + FRAME_HEADER > buf.length) return undefined;
    const len = buf.readUInt32BE(pos);
    const crc = buf.readUInt32BE(pos + 4);
    const end = pos + FRAME_HEADER + len;
    if (len > MAX_FRAME || end > buf.length) return undefined;
    const payload = buf.subarray(pos + FRAME_HEADER, end);
    if (crc32c(payload) >>> 0 !== crc) return undefined;
    try {
      return { record: decodeRecord(payload), end };
    } catch {
      return undefined;
    }
  }

  private remember(r: GroupRecord): void {
    const key = recordKey(r);
    this.live.delete(key);
    if (r.value !== null) this.live.set(key, r);
  }

  append(records: GroupRecord[]): Promise<void> {
    const run = this.chain.then(async () => {
      if (!this.loaded || !this.handle)
        throw new FileGroupStoreError("FileGroupStore: load() before append()");
      if (records.length === 0) return;
      const data = Buffer.concat(records.map(encodeFrame));
      await this.handle.write(data, 0, data.length);
      if (this.doFsync) await this.handle.datasync();
      for (const r of records) this.remember(r);
      this.fileRecords += records.length;
      if (
        this.fileRecords >= this.compactMinRecords &&
        this.fileRecords >= this.compactRatio * this.live.size
      ) {
        await this.handle.close();
        this.handle = undefined;
        await this.compact();
        this.handle = await open(this.path, "a");
      }
    });
    // Keep the chain alive after a failure; the caller sees the rejection.
    this.chain = run.catch(() => {});
    return run;
  }

  /** Rewrites the file with the live records only: temp file, fsync, rename, fsync directory. */
  private async compact(): Promise<void> {
    const dir = dirname(this.path);
    const tmp = join(dir, `.${basename(this.path)}.compact`);
    await rm(tmp, { force: true });
    const fh = await open(tmp, "w");
    try {
      const data = Buffer.concat([MAGIC, ...[...this.live.values()].map(encodeFrame)]);
      await fh.write(data, 0, data.length, 0);
      if (this.doFsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    if (this.doFsync) {
      const d = await open(dir, "r");
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    }
    this.fileRecords = this.live.size;
    this.compactions++;
  }

  /** Records in the file now (live plus superseded). */
  get recordsInFile(): number {
    return this.fileRecords;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.handle?.close();
    this.handle = undefined;
    this.loaded = false;
  }
}
