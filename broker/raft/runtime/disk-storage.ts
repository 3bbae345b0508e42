// Durable Raft storage in one directory. Layout:
//
//   cluster.id, node.id            identity, checked on every open (refuses a foreign data dir)
//   hardstate                      {term, vote, commit} as JSON, replaced atomically (tmp, fsync, rename, dir fsync)
//   snapshot.meta                  {index, term, conf, gen, file, size, crc}, replaced atomically
//   snapshot-<index>-<term>.data   the state machine snapshot it names (written and fsynced before the meta)
//   log-<gen>-<firstIndex>.seg     append-only log segments of frames [u32 length][u32 crc32c][payload]
//
// A segment frame's payload is [u64 index][u64 term][u8 kind][body]: kind 0 = normal entry (body = data),
// kind 1 = configuration entry (body = the ConfChange as JSON). Appends of one Ready are written with a
// single write and made durable with a single fsync (group commit). Opening scans every segment; a torn or
// corrupt frame at the end of the LAST segment is a torn tail (a crash mid-append: nothing after it was
// ever acknowledged) and is cut off; damage anywhere else refuses to open.
//
// The generation `gen` makes installing a leader's snapshot atomic: the new snapshot.meta carries gen+1
// and is the commit point; segments of older generations (the replaced log) are ignored and deleted on
// open, so a crash between writing the snapshot and deleting the old log cannot resurrect stale entries.

import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import type { ConfChange, ConfState, Entry, HardState, NodeId, Snapshot } from "../types.ts";

export class StorageIdentityError extends Error {
  override name = "StorageIdentityError";
}
export class StorageCorruptionError extends Error {
  override name = "StorageCorruptionError";
}

export interface DiskStorageOptions {
  dir: string;
  clusterId: string;
  nodeId: NodeId;
  /** Roll to a new segment once the active one reaches this many bytes (default 16 MiB). */
  segmentBytes?: number;
  /** false skips every fsync (tests of logic only; never in production). Default true. */
  fsync?: boolean;
}

/** What was durable when the storage was opened: hand it to `new RaftCore({...})`. */
export interface DurableState {
  hardState: HardState | undefined;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

/** The persistence part of a `Ready`. */
export interface PersistBatch {
  hardState: HardState | null;
  truncateFrom: number | null;
  entries: Entry[];
  snapshot: Snapshot | null;
}

export interface StorageStats {
  firstIndex: number;
  lastIndex: number;
  /** Entries held on disk after the snapshot. */
  entries: number;
  logBytes: number;
  snapshotIndex: number;
  segments: number;
  /** Torn tail bytes cut off when the storage was opened. */
  tornBytesRecovered: number;
}

interface Segment {
  gen: number;
  firstIndex: number;
  path: string;
  /** Byte offset of each entry; offsets[i] holds entry firstIndex + i. */
  offsets: number[];
  size: number;
}

interface SnapshotFileMeta {
  index: number;
  term: number;
  conf: ConfState;
  gen: number;
  file: string;
  size: number;
  crc: number;
}

const HEADER = 8;
const PAYLOAD_FIXED = 17;
const KIND_NORMAL = 0;
const KIND_CONF = 1;
const SEG_RE = /^log-(\d+)-(\d+)\.seg$/;
const SNAP_DATA_RE = /^snapshot-\d+-\d+\.data$/;

export class DiskStorage {
  private segments: Segment[] = [];
  private active: FileHandle | null = null;
  private gen = 0;
  private snapMeta: SnapshotFileMeta | null = null;
  private hs: HardState | undefined;
  private lastIdx = 0;
  private tornBytes = 0;
  private initial: DurableState | null;
  private closed = false;
  private readonly segmentBytes: number;
  private readonly doFsync: boolean;

  private constructor(
    readonly dir: string,
    opts: DiskStorageOptions,
  ) {
    this.segmentBytes = opts.segmentBytes ?? 16 * 1024 * 1024;
    this.doFsync = opts.fsync ?? true;
    this.initial = null;
  }

  /** Opens (creating if needed) the storage; throws StorageIdentityError for another cluster's/node's dir. */
  static async open(opts: DiskStorageOptions): Promise<DiskStorage> {
    const s = new DiskStorage(opts.dir, opts);
    await mkdir(opts.dir, { recursive: true });
    await s.checkIdentity(opts.clusterId, opts.nodeId);
    await s.load();
    return s;
  }

  /** The state found on open (entries after the snapshot, oldest first). Released after the first call. */
  takeInitialState(): DurableState {
    const st = this.initial ?? { hardState: this.hs, snapshot: undefined, entries: [] };
    this.initial = null;
    return st;
  }

  /** True when nothing at all was ever persisted (a brand-new node). */
  isEmpty(): boolean {
    return this.hs === undefined && this.snapMeta === null && this.lastIdx === 0;
  }

  stats(): StorageStats {
    const snapIndex = this.snapMeta?.index ?? 0;
    let bytes = 0;
    for (const seg of this.segments) bytes += seg.size;
    return {
      firstIndex: snapIndex + 1,
      lastIndex: this.lastIdx,
      entries: this.lastIdx - snapIndex,
      logBytes: bytes,
      snapshotIndex: snapIndex,
      segments: this.segments.length,
      tornBytesRecovered: this.tornBytes,
    };
  }

  // ---------------------------------------------------------------- writes

  /**
   * Makes one Ready's persistent part durable, in the order the core requires: snapshot (replacing the
   * log), truncation of a conflicting suffix, appended entries (one write, one fsync), then hard state.
   */
  async persist(b: PersistBatch): Promise<void> {
    this.assertOpen();
    if (b.snapshot) await this.installSnapshot(b.snapshot);
    if (b.entries.length > 0) {
      const from = b.truncateFrom ?? b.entries[0].index;
      if (from !== b.entries[0].index) throw new Error("truncateFrom must equal the first appended index");
      await this.truncateFrom(from);
      await this.append(b.entries);
    } else if (b.truncateFrom !== null) {
      await this.truncateFrom(b.truncateFrom);
      await this.syncActive();
    }
    if (b.hardState) await this.saveHardState(b.hardState);
  }

  /**
   * Stores a snapshot the state machine took at `snap.meta.index` (from Ready.snapshotRequest) and
   * compacts the log: whole segments holding only entries <= that index are deleted.
   */
  async saveSnapshot(snap: Snapshot): Promise<void> {
    this.assertOpen();
    if (this.snapMeta && snap.meta.index <= this.snapMeta.index) return;
    if (snap.meta.index > this.lastIdx) throw new Error(`snapshot ${snap.meta.index} beyond the log`);
    await this.writeSnapshot(snap, this.gen);
    await this.compactSegments(snap.meta.index);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const fh = this.active;
    this.active = null;
    if (fh) {
      await this.sync(fh);
      await fh.close();
    }
  }

  // ---------------------------------------------------------------- identity and loading

  private async checkIdentity(clusterId: string, nodeId: NodeId): Promise<void> {
    if (!clusterId || /\s/.test(clusterId))
      throw new StorageIdentityError("cluster id must be non-empty, no spaces");
    const cPath = join(this.dir, "cluster.id");
    const nPath = join(this.dir, "node.id");
    const haveCluster = await readText(cPath);
    const haveNode = await readText(nPath);
    if (haveCluster !== undefined && haveCluster !== clusterId) {
      throw new StorageIdentityError(
        `data dir ${this.dir} belongs to cluster ${haveCluster}, not ${clusterId}: refusing to start`,
      );
    }
    if (haveNode !== undefined && haveNode !== String(nodeId)) {
      throw new StorageIdentityError(
        `data dir ${this.dir} belongs to node ${haveNode}, not ${nodeId}: refusing to start`,
      );
    }
    if (haveCluster === undefined || haveNode === undefined) {
      const names = await readdir(this.dir);
      if (names.some((n) => n === "hardstate" || n === "snapshot.meta" || SEG_RE.test(n))) {
        throw new StorageIdentityError(
          `data dir ${this.dir} holds Raft state but no cluster.id/node.id: refusing to start`,
        );
      }
      await this.writeAtomic("cluster.id", Buffer.from(clusterId));
      await this.writeAtomic("node.id", Buffer.from(String(nodeId)));
    }
  }

  private async load(): Promise<void> {
    const names = await readdir(this.dir);
    for (const n of names) if (n.endsWith(".tmp")) await rm(join(this.dir, n), { force: true });

    const hsText = await readText(join(this.dir, "hardstate"));
    if (hsText !== undefined) {
      const o = parseJson(hsText, "hardstate");
      this.hs = { term: num(o.term), vote: num(o.vote), commit: num(o.commit) };
    }

    let snapshot: Snapshot | undefined;
    const metaText = await readText(join(this.dir, "snapshot.meta"));
    if (metaText !== undefined) {
      const m = parseJson(metaText, "snapshot.meta") as unknown as SnapshotFileMeta;
      const data = await readFile(join(this.dir, m.file)).catch(() => {
        throw new StorageCorruptionError(`snapshot data file ${m.file} is missing`);
      });
      if (data.length !== m.size || crc32c(data) !== m.crc)
        throw new StorageCorruptionError(`snapshot data file ${m.file} fails its checksum`);
      this.snapMeta = m;
      this.gen = m.gen;
      snapshot = { meta: { index: m.index, term: m.term, conf: m.conf }, data: new Uint8Array(data) };
    }
    // Leftover snapshot data files other than the current one (a crash around a snapshot write).
    for (const n of names) {
      if (SNAP_DATA_RE.test(n) && n !== this.snapMeta?.file) await rm(join(this.dir, n), { force: true });
    }

    const segs: Segment[] = [];
    for (const n of names) {
      const m = SEG_RE.exec(n);
      if (!m) continue;
      const gen = Number(m[1]);
      if (gen !== this.gen) {
        await rm(join(this.dir, n), { force: true }); // a log replaced by an installed snapshot
        continue;
      }
      segs.push({ gen, firstIndex: Number(m[2]), path: join(this.dir, n), offsets: [], size: 0 });
    }
    segs.sort((a, b) => a.firstIndex - b.firstIndex);

    const snapIndex = this.snapMeta?.index ?? 0;
    const entries: Entry[] = [];
    let expected = -1;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i];
      const last = i === segs.length - 1;
      const buf = await readFile(seg.path);
      let off = 0;
      while (off < buf.length) {
        const frame = readFrame(buf, off);
        if (!frame) {
          if (!last)
            throw new StorageCorruptionError(`corrupt frame at ${seg.path}:${off} (not the log tail)`);
          this.tornBytes = buf.length - off;
          const fh = await open(seg.path, "r+");
          await fh.truncate(off);
          await this.sync(fh);
          await fh.close();
          break;
        }
        const e = frame.entry;
        if (seg.offsets.length === 0 && e.index !== seg.firstIndex)
          throw new StorageCorruptionError(
            `${seg.path} starts at ${e.index}, its name says ${seg.firstIndex}`,
          );
        if (expected >= 0 && e.index !== expected)
          throw new StorageCorruptionError(`log gap: ${e.index} after ${expected - 1} in ${seg.path}`);
        expected = e.index + 1;
        seg.offsets.push(off);
        off = frame.end;
        if (e.index > snapIndex) entries.push(e);
      }
      seg.size = off;
    }
    if (entries.length > 0 && entries[0].index !== snapIndex + 1)
      throw new StorageCorruptionError(`log starts at ${entries[0].index} after a snapshot at ${snapIndex}`);
    // Drop empty segments except the newest one (left by a truncation or a roll just before a crash).
    this.segments = [];
    for (let i = 0; i < segs.length; i++) {
      if (segs[i].offsets.length === 0 && i !== segs.length - 1) await unlink(segs[i].path);
      else this.segments.push(segs[i]);
    }
    this.lastIdx = entries.length > 0 ? entries[entries.length - 1].index : snapIndex;
    if (this.hs && this.hs.commit > this.lastIdx) this.hs = { ...this.hs, commit: this.lastIdx };
    this.initial = { hardState: this.hs, snapshot, entries };
  }

  // ---------------------------------------------------------------- log

  private async append(entries: Entry[]): Promise<void> {
    if (entries[0].index !== this.lastIdx + 1)
      throw new Error(`append of ${entries[0].index} after last index ${this.lastIdx}`);
    let seg = this.segments[this.segments.length - 1];
    if (!seg || seg.size >= this.segmentBytes) seg = await this.roll(entries[0].index);
    const fh = this.active ?? (await this.openActive());
    const frames: Buffer[] = [];
    let off = seg.size;
    for (const e of entries) {
      const f = encodeFrame(e);
      seg.offsets.push(off);
      off += f.length;
      frames.push(f);
    }
    const buf = frames.length === 1 ? frames[0] : Buffer.concat(frames);
    await writeAll(fh, buf);
    seg.size = off;
    this.lastIdx = entries[entries.length - 1].index;
    await this.sync(fh);
  }

  /** Deletes entries >= index (if any). */
  private async truncateFrom(index: number): Promise<void> {
    if (index > this.lastIdx) return;
    const snapIndex = this.snapMeta?.index ?? 0;
    if (index <= snapIndex)
      throw new Error(`cannot truncate at ${index}: inside the snapshot at ${snapIndex}`);
    let dirChanged = false;
    while (this.segments.length > 0) {
      const seg = this.segments[this.segments.length - 1];
      if (seg.firstIndex >= index && this.segments.length > 1) {
        await this.closeActive();
        await unlink(seg.path);
        this.segments.pop();
        dirChanged = true;
        continue;
      }
      const keep = Math.max(0, index - seg.firstIndex);
      if (keep < seg.offsets.length) {
        const size = keep === 0 ? 0 : seg.offsets[keep];
        const fh = this.active ?? (await this.openActive());
        await fh.truncate(size);
        seg.offsets.length = keep;
        seg.size = size;
        if (keep === 0) seg.firstIndex = index; // an empty segment: rename so its name matches its content
      }
      break;
    }
    const seg = this.segments[this.segments.length - 1];
    if (seg && seg.offsets.length === 0) {
      const want = join(this.dir, segName(this.gen, index));
      if (seg.path !== want) {
        await this.closeActive();
        await rename(seg.path, want);
        seg.path = want;
        seg.firstIndex = index;
        dirChanged = true;
      }
    }
    if (dirChanged) await this.syncDir();
    this.lastIdx = index - 1;
  }

  private async roll(firstIndex: number): Promise<Segment> {
    await this.closeActive();
    const seg: Segment = {
      gen: this.gen,
      firstIndex,
      path: join(this.dir, segName(this.gen, firstIndex)),
      offsets: [],
      size: 0,
    };
    const fh = await open(seg.path, "a");
    await this.syncDir();
    this.active = fh;
    this.segments.push(seg);
    return seg;
  }

  private async openActive(): Promise<FileHandle> {
    const seg = this.segments[this.segments.length - 1];
    this.active = await open(seg.path, "a");
    return this.active;
  }

  private async closeActive(): Promise<void> {
    const fh = this.active;
    this.active = null;
    if (fh) {
      await this.sync(fh);
      await fh.close();
    }
  }

  private async syncActive(): Promise<void> {
    if (this.active) await this.sync(this.active);
  }

  private async compactSegments(index: number): Promise<void> {
    let removed = false;
    while (this.segments.length > 1) {
      const seg = this.segments[0];
      const lastInSeg = seg.firstIndex + seg.offsets.length - 1;
      if (lastInSeg > index) break;
      await unlink(seg.path);
      this.segments.shift();
      removed = true;
    }
    if (removed) await this.syncDir();
  }

  // ---------------------------------------------------------------- snapshots and hard state

  /** A leader's snapshot replaces the whole log: new generation, then the old segments go. */
  private async installSnapshot(snap: Snapshot): Promise<void> {
    const oldSegments = this.segments;
    await this.closeActive();
    await this.writeSnapshot(snap, this.gen + 1);
    this.gen++;
    this.segments = [];
    for (const seg of oldSegments) await unlink(seg.path).catch(() => undefined);
    this.lastIdx = snap.meta.index;
    await this.roll(snap.meta.index + 1);
  }

  private async writeSnapshot(snap: Snapshot, gen: number): Promise<void> {
    const file = `snapshot-${snap.meta.index}-${snap.meta.term}.data`;
    const data = Buffer.from(snap.data.buffer, snap.data.byteOffset, snap.data.byteLength);
    await this.writeAtomic(file, data, false);
    const meta: SnapshotFileMeta = {
      index: snap.meta.index,
      term: snap.meta.term,
      conf: snap.meta.conf,
      gen,
      file,
      size: data.length,
      crc: crc32c(data),
    };
    const old = this.snapMeta;
    await this.writeAtomic("snapshot.meta", Buffer.from(JSON.stringify(meta)));
    this.snapMeta = meta;
    if (old && old.file !== file) await rm(join(this.dir, old.file), { force: true });
  }

  private async saveHardState(hs: HardState): Promise<void> {
    await this.writeAtomic(
      "hardstate",
      Buffer.from(JSON.stringify({ term: hs.term, vote: hs.vote, commit: hs.commit })),
    );
    this.hs = { ...hs };
  }

  // ---------------------------------------------------------------- helpers

  /** tmp + fsync + rename (+ dir fsync unless the caller will do one later). */
  private async writeAtomic(name: string, data: Buffer, syncDir = true): Promise<void> {
    const tmp = join(this.dir, `${name}.tmp`);
    const fh = await open(tmp, "w");
    try {
      await writeAll(fh, data);
      await this.sync(fh);
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, name));
    if (syncDir) await this.syncDir();
  }

  private async sync(fh: FileHandle): Promise<void> {
    if (this.doFsync) await fh.datasync();
  }

  private async syncDir(): Promise<void> {
    if (!this.doFsync) return;
    const fh = await open(this.dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("storage is closed");
  }
}

// ---------------------------------------------------------------- encoding

function segName(gen: number, firstIndex: number): string {
  return `log-${String(gen).padStart(6, "0")}-${String(firstIndex).padStart(20, "0")}.seg`;
}

export function encodeFrame(e: Entry): Buffer {
  const body = e.change ? Buffer.from(JSON.stringify(e.change)) : e.data;
  const buf = Buffer.allocUnsafe(HEADER + PAYLOAD_FIXED + body.length);
  const payloadLen = PAYLOAD_FIXED + body.length;
  buf.writeUInt32BE(payloadLen, 0);
  buf.writeBigUInt64BE(BigInt(e.index), HEADER);
  buf.writeBigUInt64BE(BigInt(e.term), HEADER + 8);
  buf.writeUInt8(e.change ? KIND_CONF : KIND_NORMAL, HEADER + 16);
  buf.set(body, HEADER + PAYLOAD_FIXED);
  buf.writeUInt32BE(crc32c(buf.subarray(HEADER)), 4);
  return buf;
}

/** One frame at `off`, or null when it is incomplete or fails its checksum. */
function readFrame(buf: Buffer, off: number): { entry: Entry; end: number } | null {
  if (off + HEADER > buf.length) return null;
  const len = buf.readUInt32BE(off);
  const end = off + HEADER + len;
  if (len < PAYLOAD_FIXED || end > buf.length) return null;
  const payload = buf.subarray(off + HEADER, end);
  if (crc32c(payload) !== buf.readUInt32BE(off + 4)) return null;
  const index = Number(payload.readBigUInt64BE(0));
  const term = Number(payload.readBigUInt64BE(8));
  const kind = payload.readUInt8(16);
  const body = payload.subarray(PAYLOAD_FIXED);
  if (kind === KIND_CONF) {
    const change = JSON.parse(body.toString("utf8")) as ConfChange;
    return { entry: { index, term, data: new Uint8Array(0), change }, end };
  }
  return { entry: { index, term, data: new Uint8Array(body) }, end };
}

async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function parseJson(text: string, what: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new StorageCorruptionError(`${what} is not valid JSON`);
  }
}

function num(x: unknown): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < 0) throw new StorageCorruptionError("bad number");
  return x;
}
