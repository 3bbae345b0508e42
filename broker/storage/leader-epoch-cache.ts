/**
 * Leader epoch → start offset, the history OffsetForLeaderEpoch answers from and followers use to
 * find where their log diverged. Persisted as Kafka's `leader-epoch-checkpoint` text format:
 * version line, entry count line, then one `<epoch> <startOffset>` line per entry.
 */
import { readFile } from "node:fs/promises";
import { StorageError } from "./errors.ts";
import { isNotFound } from "./files.ts";

export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;

export class LeaderEpochCache {
  private entries: EpochEntry[] = [];
  /** True when the entries changed since the last checkpoint. */
  dirty = false;

  constructor(entries: EpochEntry[] = []) {
    for (const e of entries) this.assign(e.epoch, e.startOffset);
    this.dirty = false;
  }

  get all(): readonly EpochEntry[] {
    return this.entries;
  }

  get latestEpoch(): number {
    return this.entries.length === 0 ? UNDEFINED_EPOCH : this.entries[this.entries.length - 1].epoch;
  }

  get latest(): EpochEntry | undefined {
    return this.entries[this.entries.length - 1];
  }

  /**
   * Records that `epoch` starts at `startOffset`. Ignored when it is already the latest epoch;
   * entries that conflict (an epoch >= this one, or a start offset >= this one) are dropped first,
   * which keeps epochs and start offsets strictly increasing. Returns true when anything changed.
   */
  assign(epoch: number, startOffset: number): boolean {
    if (epoch < 0) return false;
    const latest = this.latest;
    if (latest && latest.epoch === epoch && latest.startOffset <= startOffset) return false;
    this.entries = this.entries.filter((e) => e.epoch < epoch && e.startOffset < startOffset);
    this.entries.push({ epoch, startOffset });
    this.dirty = true;
    return true;
  }

  /** Drops entries starting at or after `endOffset` (after the log is truncated to it). */
  truncateFromEnd(endOffset: number): void {
    const kept = this.entries.filter((e) => e.startOffset < endOffset);
    if (kept.length !== this.entries.length) {
      this.entries = kept;
      this.dirty = true;
    }
  }

  /**
   * Drops entries wholly before `startOffset` (after the log start moves): the last entry starting
   * at or before it survives, moved up to `startOffset`.
   */
  truncateFromStart(startOffset: number): void {
    let lastBefore = -1;
    for (let i = 0; i < this.entries.length; i++) {
      if (this.entries[i].startOffset <= startOffset) lastBefore = i;
    }
    if (lastBefore < 0) return;
    const head = this.entries[lastBefore];
    if (lastBefore === 0 && head.startOffset === startOffset) return;
    this.entries = [{ epoch: head.epoch, startOffset }, ...this.entries.slice(lastBefore + 1)];
    this.dirty = true;
  }

  clear(): void {
    if (this.entries.length > 0) this.dirty = true;
    this.entries = [];
  }

  /**
   * OffsetForLeaderEpoch: the largest epoch <= `requested` that the log knows, and the offset where
   * the next higher epoch starts (the log end offset when `requested` is the latest epoch).
   * Unknown (epoch higher than any, or no history) answers (-1, -1).
   */
  endOffsetFor(requested: number, logEndOffset: number): { epoch: number; endOffset: number } {
    if (requested === UNDEFINED_EPOCH || this.entries.length === 0) {
      return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    }
    if (requested === this.latestEpoch) return { epoch: requested, endOffset: logEndOffset };
    const higher = this.entries.findIndex((e) => e.epoch > requested);
    if (higher < 0) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (higher === 0) return { epoch: requested, endOffset: this.entries[0].startOffset };
    return { epoch: this.entries[higher - 1].epoch, endOffset: this.entries[higher].startOffset };
  }

  /** The epoch whose range contains `offset` (UNDEFINED_EPOCH before the first entry). */
  epochForOffset(offset: number): number {
    let epoch = UNDEFINED_EPOCH;
    for (const e of this.entries) {
      if (e.startOffset <= offset) epoch = e.epoch;
      else break;
    }
    return epoch;
  }

  serialize(): string {
    const lines = ["0", String(this.entries.length)];
    for (const e of this.entries) lines.push(`${e.epoch} ${e.startOffset}`);
    return `${lines.join("\n")}\n`;
  }

  static parse(text: string, source: string): LeaderEpochCache {
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    const fail = (why: string): never => {
      throw new StorageError("KAFKA_STORAGE_ERROR", `malformed ${source}: ${why}`);
    };
    if (lines[0]?.trim() !== "0") fail(`unsupported version ${lines[0]}`);
    const count = Number(lines[1]);
    if (!Number.isInteger(count) || count !== lines.length - 2) fail("entry count mismatch");
    const entries = lines.slice(2).map((line) => {
      const [epoch, startOffset] = line.trim().split(/\s+/).map(Number);
      if (!Number.isInteger(epoch) || !Number.isInteger(startOffset)) fail(`bad entry "${line}"`);
      return { epoch, startOffset };
    });
    return new LeaderEpochCache(entries);
  }

  /** Loads the checkpoint, or undefined when the file does not exist. */
  static async load(path: string): Promise<LeaderEpochCache | undefined> {
    try {
      return LeaderEpochCache.parse(await readFile(path, "utf8"), path);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }
}
