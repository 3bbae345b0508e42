/** File naming and small durable-write helpers shared by the storage classes. */
import { constants as fsConstants } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";

export const LOG_SUFFIX = ".log";
export const INDEX_SUFFIX = ".index";
export const TIME_INDEX_SUFFIX = ".timeindex";
export const DELETED_SUFFIX = ".deleted";
export const CLEAN_SHUTDOWN_FILE = ".clean-shutdown";
export const OFFSETS_CHECKPOINT_FILE = "offsets-checkpoint";
export const LEADER_EPOCH_CHECKPOINT_FILE = "leader-epoch-checkpoint";
export const PARTITION_METADATA_FILE = "partition.metadata";

/** Kafka's 20-digit zero-padded base offset, e.g. `00000000000000000042`. */
export function offsetFileStem(baseOffset: number): string {
  return String(baseOffset).padStart(20, "0");
}

export function segmentPaths(
  dir: string,
  baseOffset: number,
): { log: string; index: string; timeIndex: string } {
  const stem = join(dir, offsetFileStem(baseOffset));
  return { log: stem + LOG_SUFFIX, index: stem + INDEX_SUFFIX, timeIndex: stem + TIME_INDEX_SUFFIX };
}

/** Parses `<20 digits>.log` into its base offset, or undefined for other names. */
export function parseSegmentFileName(name: string): number | undefined {
  if (!name.endsWith(LOG_SUFFIX)) return undefined;
  const stem = name.slice(0, -LOG_SUFFIX.length);
  if (!/^\d{20}$/.test(stem)) return undefined;
  return Number(stem);
}

/** An observer of every fsync the storage layer performs (wired to a histogram by the broker). */
export type FsyncObserver = (event: { kind: FsyncKind; seconds: number; path: string }) => void;
export type FsyncKind = "log" | "index" | "checkpoint" | "dir";

export async function fsyncDir(dir: string, observer?: FsyncObserver): Promise<void> {
  const start = performance.now();
  const fh = await open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  observer?.({ kind: "dir", seconds: (performance.now() - start) / 1000, path: dir });
}

/**
 * Replaces `path` atomically: write `path.tmp`, fsync it, rename over `path`, fsync the directory.
 * A crash leaves either the old or the new content, never a torn file.
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  content: string | Buffer,
  observer?: FsyncObserver,
  durable = true,
): Promise<void> {
  const path = join(dir, name);
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(content);
    if (durable) {
      const start = performance.now();
      await fh.sync();
      observer?.({ kind: "checkpoint", seconds: (performance.now() - start) / 1000, path });
    }
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  if (durable) await fsyncDir(dir, observer);
}

export async function unlinkIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

export function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}
