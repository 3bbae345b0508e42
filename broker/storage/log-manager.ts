/**
 * All partition logs of one data directory: one folder per partition named `<topic>-<partition>`
 * (as Kafka), holding the segments, the checkpoints and `partition.metadata` (the topic ID).
 * Loads every log at startup, runs the periodic checkpoint and retention passes, and closes every
 * log cleanly at shutdown. Deleting a partition renames its folder to `<name>.<id>-delete` at once
 * and removes it in the background (a restart finishes any leftover removal).
 */
import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Decompressor } from "./batch-format.ts";
import type { LogConfig } from "./config.ts";
import { StorageError } from "./errors.ts";
import {
  type FsyncObserver,
  fsyncDir,
  isNotFound,
  PARTITION_METADATA_FILE,
  writeFileAtomic,
} from "./files.ts";
import { PartitionLog } from "./partition-log.ts";

const DELETE_DIR_SUFFIX = "-delete";
const LEGAL_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

export interface ManagedLog {
  topic: string;
  partition: number;
  /** From `partition.metadata`; undefined for a log created without one. */
  topicId: string | undefined;
  log: PartitionLog;
}

export interface LogManagerOptions {
  dataDir: string;
  /** Broker-wide defaults (Kafka's log.* settings). */
  defaultConfig?: Partial<LogConfig>;
  /** Per-topic overrides, consulted when a log is loaded or created. */
  configFor?: (topic: string) => Partial<LogConfig> | undefined;
  fsyncObserver?: FsyncObserver;
  decompress?: Decompressor;
  onWarning?: (message: string, details?: Record<string, unknown>) => void;
  clock?: () => number;
  /** How often every log's offsets checkpoint (HW, log start, recovery point) is written; 0 = never. */
  checkpointIntervalMs?: number;
  /** How often retention runs over all logs; 0 = never (call runRetention yourself). */
  retentionCheckIntervalMs?: number;
  /** Logs opened in parallel at startup. */
  loadConcurrency?: number;
}

export function partitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/** Splits `<topic>-<partition>`; undefined for names that are not partition folders. */
export function parsePartitionDirName(name: string): { topic: string; partition: number } | undefined {
  const dash = name.lastIndexOf("-");
  if (dash <= 0) return undefined;
  const topic = name.slice(0, dash);
  const digits = name.slice(dash + 1);
  if (!/^\d+$/.test(digits) || !LEGAL_TOPIC.test(topic)) return undefined;
  return { topic, partition: Number(digits) };
}

export class LogManager {
  readonly dataDir: string;
  private readonly logs = new Map<string, ManagedLog>();
  private readonly creating = new Map<string, Promise<PartitionLog>>();
  private readonly topicOverrides = new Map<string, Partial<LogConfig>>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly warn: (message: string, details?: Record<string, unknown>) => void;
  private closed = false;

  private constructor(private readonly options: LogManagerOptions) {
    this.dataDir = options.dataDir;
    this.warn = options.onWarning ?? (() => {});
  }

  /** Opens the data directory (creating it when missing) and loads every partition log in it. */
  static async open(options: LogManagerOptions): Promise<LogManager> {
    const manager = new LogManager(options);
    await mkdir(options.dataDir, { recursive: true });
    await manager.loadAll();
    manager.startTimers();
    return manager;
  }

  get(topic: string, partition: number): ManagedLog | undefined {
    return this.logs.get(partitionDirName(topic, partition));
  }

  getLog(topic: string, partition: number): PartitionLog | undefined {
    return this.get(topic, partition)?.log;
  }

  all(): ManagedLog[] {
    return [...this.logs.values()];
  }

  /**
   * Returns the partition's log, creating the folder, `partition.metadata` and an empty log when
   * it does not exist. An existing log with a different topic ID is an INCONSISTENT_TOPIC_ID error.
   */
  async createLog(
    topic: string,
    partition: number,
    opts: { topicId?: string; config?: Partial<LogConfig> } = {},
  ): Promise<PartitionLog> {
    if (this.closed) throw new StorageError("KAFKA_STORAGE_ERROR", "log manager is closed");
    if (!LEGAL_TOPIC.test(topic) || !Number.isInteger(partition) || partition < 0) {
      throw new StorageError("INVALID_REQUEST", `illegal topic partition ${topic}-${partition}`);
    }
    const name = partitionDirName(topic, partition);
    const existing = this.logs.get(name);
    if (existing) {
      if (opts.topicId !== undefined && existing.topicId !== undefined && existing.topicId !== opts.topicId) {
        throw new StorageError(
          "INCONSISTENT_TOPIC_ID",
          `${name} has topic id ${existing.topicId}, not ${opts.topicId}`,
        );
      }
      if (opts.config) existing.log.updateConfig(opts.config);
      return existing.log;
    }
    const inFlight = this.creating.get(name);
    if (inFlight) return inFlight;
    const creation = (async () => {
      const dir = join(this.dataDir, name);
      await mkdir(dir, { recursive: true });
      if (opts.topicId !== undefined) {
        await writeFileAtomic(dir, PARTITION_METADATA_FILE, `version: 0\ntopic_id: ${opts.topicId}\n`);
      }
      if (opts.config) this.topicOverrides.set(topic, { ...this.topicOverrides.get(topic), ...opts.config });
      const log = await this.openLog(topic, dir);
      await fsyncDir(this.dataDir);
      this.logs.set(name, { topic, partition, topicId: opts.topicId, log });
      return log;
    })();
    this.creating.set(name, creation);
    try {
      return await creation;
    } finally {
      this.creating.delete(name);
    }
  }

  /**
   * Deletes the partition: closes its log, renames the folder to `<name>.<uuid>-delete` (durably)
   * and removes it in the background. Returns false when there was no such log.
   */
  async deleteLog(topic: string, partition: number): Promise<boolean> {
    const name = partitionDirName(topic, partition);
    const managed = this.logs.get(name);
    if (!managed) return false;
    this.logs.delete(name);
    await managed.log.discard();
    const aside = `${name}.${randomUUID().replaceAll("-", "")}${DELETE_DIR_SUFFIX}`;
    await rename(join(this.dataDir, name), join(this.dataDir, aside));
    await fsyncDir(this.dataDir);
    this.removeInBackground(join(this.dataDir, aside));
    return true;
  }

  /** Applies topic config overrides to every loaded partition of `topic` (and future ones). */
  updateTopicConfig(topic: string, overrides: Partial<LogConfig>): void {
    this.topicOverrides.set(topic, { ...this.topicOverrides.get(topic), ...overrides });
    for (const m of this.logs.values()) if (m.topic === topic) m.log.updateConfig(overrides);
  }

  /** One retention pass over every log; returns the number of segments deleted. */
  async runRetention(now?: number): Promise<number> {
    let deleted = 0;
    for (const m of [...this.logs.values()]) {
      try {
        deleted += await m.log.deleteOldSegments(now);
      } catch (e) {
        this.warn("retention failed", { topic: m.topic, partition: m.partition, error: String(e) });
      }
    }
    return deleted;
  }

  /** Writes every log's offsets checkpoint (high watermark, log start, recovery point). */
  async checkpointAll(): Promise<void> {
    await Promise.all(
      [...this.logs.values()].map((m) =>
        m.log.checkpoint().catch((e) => this.warn("checkpoint failed", { topic: m.topic, error: String(e) })),
      ),
    );
  }

  async flushAll(): Promise<void> {
    await Promise.all([...this.logs.values()].map((m) => m.log.flush()));
  }

  /** Clean shutdown of every log (flush, indexes, checkpoints, clean-shutdown markers). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.creating.values()]);
    const results = await Promise.allSettled([...this.logs.values()].map((m) => m.log.close()));
    await Promise.allSettled([...this.background]);
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length > 0) {
      throw new StorageError("KAFKA_STORAGE_ERROR", `${failed.length} log(s) failed to close cleanly`, {
        cause: (failed[0] as PromiseRejectedResult).reason,
      });
    }
  }

  private async openLog(topic: string, dir: string): Promise<PartitionLog> {
    return PartitionLog.open({
      dir,
      config: {
        ...this.options.defaultConfig,
        ...this.options.configFor?.(topic),
        ...this.topicOverrides.get(topic),
      },
      fsyncObserver: this.options.fsyncObserver,
      decompress: this.options.decompress,
      onWarning: this.warn,
      clock: this.options.clock,
    });
  }

  private async loadAll(): Promise<void> {
    const entries = await readdir(this.dataDir, { withFileTypes: true });
    const toLoad: Array<{ name: string; topic: string; partition: number }> = [];
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      if (entry.name.endsWith(DELETE_DIR_SUFFIX)) {
        this.removeInBackground(join(this.dataDir, entry.name));
        continue;
      }
      const tp = parsePartitionDirName(entry.name);
      if (tp) toLoad.push({ name: entry.name, ...tp });
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < toLoad.length) {
        const item = toLoad[next++];
        const dir = join(this.dataDir, item.name);
        const topicId = await readTopicId(dir);
        const log = await this.openLog(item.topic, dir);
        this.logs.set(item.name, { topic: item.topic, partition: item.partition, topicId, log });
      }
    };
    const workers = Math.max(1, Math.min(this.options.loadConcurrency ?? 8, toLoad.length));
    const results = await Promise.allSettled(Array.from({ length: workers }, worker));
    const failure = results.find((r) => r.status === "rejected");
    if (failure) {
      await Promise.allSettled([...this.logs.values()].map((m) => m.log.discard()));
      throw (failure as PromiseRejectedResult).reason;
    }
  }

  private startTimers(): void {
    const checkpointMs = this.options.checkpointIntervalMs ?? 5000;
    const retentionMs = this.options.retentionCheckIntervalMs ?? 300_000;
    if (checkpointMs > 0) {
      this.timers.push(setInterval(() => void this.checkpointAll(), checkpointMs));
    }
    if (retentionMs > 0) {
      this.timers.push(setInterval(() => void this.runRetention(), retentionMs));
    }
    for (const t of this.timers) t.unref();
  }

  private removeInBackground(path: string): void {
    const p = rm(path, { recursive: true, force: true })
      .catch((e) => this.warn("cannot remove deleted partition", { path, error: String(e) }))
      .finally(() => this.background.delete(p));
    this.background.add(p);
  }
}

async function readTopicId(dir: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, PARTITION_METADATA_FILE), "utf8");
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
  const match = /^topic_id:\s*(\S+)\s*$/m.exec(text);
  return match?.[1];
}
