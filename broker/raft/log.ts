// The core's in-memory view of its log: the latest snapshot's metadata, the entries after it, how far
// they are known to be durable (`stableTo`), committed and handed out for applying. It also tracks the
// configuration history, because membership changes take effect as soon as they are appended.
import type { ConfChange, ConfState, Entry, NodeId, Snapshot, SnapshotMeta } from "./types.ts";

export class RaftSafetyError extends Error {}

export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const without = (ids: NodeId[], id: NodeId) => ids.filter((x) => x !== id);
  switch (change.type) {
    case "bootstrap":
      return { voters: [...change.voters].sort((a, b) => a - b), learners: [] };
    case "addLearner":
      return {
        voters: without(conf.voters, change.node),
        learners: [...without(conf.learners, change.node), change.node].sort((a, b) => a - b),
      };
    case "promote":
      return {
        voters: [...without(conf.voters, change.node), change.node].sort((a, b) => a - b),
        learners: without(conf.learners, change.node),
      };
    case "remove":
      return { voters: without(conf.voters, change.node), learners: without(conf.learners, change.node) };
  }
}

export class RaftLog {
  /** Metadata of the latest snapshot; entries start at snap.index + 1. */
  snap: SnapshotMeta;
  /** Data of the latest snapshot (what the leader streams to lagging followers). */
  snapData: Uint8Array;
  entries: Entry[] = [];
  /** Every entry <= stableTo is durable on this node's disk (as far as the core has been told). */
  stableTo: number;
  committed: number;
  /** Highest index handed out to the runtime for applying (through Ready.committedEntries/snapshot). */
  applied: number;
  /** A snapshot received from the leader that the runtime has not yet persisted. */
  pendingSnapshot: Snapshot | null = null;
  /** Configuration history: the snapshot's configuration, then one item per conf entry in the log. */
  private confs: { index: number; conf: ConfState }[];

  constructor(snapshot: Snapshot, entries: Entry[], committed: number, applied: number) {
    this.snap = snapshot.meta;
    this.snapData = snapshot.data;
    this.confs = [{ index: snapshot.meta.index, conf: snapshot.meta.conf }];
    this.stableTo = snapshot.meta.index;
    this.committed = Math.max(committed, snapshot.meta.index);
    this.applied = Math.max(applied, snapshot.meta.index);
    const after = entries.filter((e) => e.index > snapshot.meta.index);
    for (let i = 0; i < after.length; i++) {
      if (after[i].index !== snapshot.meta.index + 1 + i)
        throw new RaftSafetyError("entries are not contiguous");
    }
    this.pushEntries(after);
    this.stableTo = this.lastIndex();
    if (this.committed > this.lastIndex()) throw new RaftSafetyError("commit index beyond the durable log");
  }

  firstIndex(): number {
    return this.snap.index + 1;
  }

  lastIndex(): number {
    return this.snap.index + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1].term : this.snap.term;
  }

  /** The term at `index`, or undefined when it is compacted away or beyond the log. */
  term(index: number): number | undefined {
    if (index === this.snap.index) return this.snap.term;
    if (index < this.snap.index || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snap.index - 1].term;
  }

  entry(index: number): Entry {
    return this.entries[index - this.snap.index - 1];
  }

  /** Entries [lo, hi], both inclusive; lo must be > snap.index. */
  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.snap.index - 1, hi - this.snap.index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's "at least as up-to-date" comparison used when granting votes. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  conf(): ConfState {
    return this.confs[this.confs.length - 1].conf;
  }

  /** The configuration in force at `index` (which must not be compacted away). */
  confAt(index: number): ConfState {
    for (let i = this.confs.length - 1; i >= 0; i--)
      if (this.confs[i].index <= index) return this.confs[i].conf;
    throw new RaftSafetyError(`no configuration known at ${index}`);
  }

  /** Index of the newest configuration entry in the log (the snapshot index if none). */
  lastConfIndex(): number {
    return this.confs[this.confs.length - 1].index;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with its term (0 if compacted away). Used on
   * both sides of the fast conflict backtracking.
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    if (index > this.lastIndex()) index = this.lastIndex();
    for (;;) {
      const t = this.term(index);
      if (t === undefined) return [index, 0];
      if (t <= term) return [index, t];
      index--;
    }
  }

  /**
   * Appends `entries`, replacing any existing suffix from entries[0].index on. Returns true when the
   * configuration history changed (a conf entry was removed or added).
   */
  append(entries: Entry[]): boolean {
    if (entries.length === 0) return false;
    const first = entries[0].index;
    if (first <= this.committed) throw new RaftSafetyError(`truncating committed entry ${first}`);
    if (first > this.lastIndex() + 1) throw new RaftSafetyError(`gap appending ${first}`);
    let changed = false;
    if (first <= this.lastIndex()) {
      this.entries.length = first - this.snap.index - 1;
      this.stableTo = Math.min(this.stableTo, first - 1);
      while (this.confs.length > 1 && this.confs[this.confs.length - 1].index >= first) {
        this.confs.pop();
        changed = true;
      }
    }
    return this.pushEntries(entries) || changed;
  }

  private pushEntries(entries: Entry[]): boolean {
    let changed = false;
    for (const e of entries) {
      this.entries.push(e);
      if (e.change) {
        this.confs.push({ index: e.index, conf: applyConfChange(this.conf(), e.change) });
        changed = true;
      }
    }
    return changed;
  }

  /**
   * Follower side of AppendEntries: if our log has (prevIndex, prevTerm), merge `entries` (truncating a
   * conflicting suffix) and advance commit. Returns the last index known to match the leader, or -1.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    commit: number,
    entries: Entry[],
  ): { lastNew: number; confChanged: boolean } | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    let confChanged = false;
    // The first entry that is new or conflicts with ours; entries before it are already present.
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.index <= this.snap.index) continue;
      if (!this.matchTerm(e.index, e.term)) {
        confChanged = this.append(entries.slice(i));
        break;
      }
    }
    this.commitTo(Math.min(commit, lastNew));
    return { lastNew, confChanged };
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    if (index > this.lastIndex())
      throw new RaftSafetyError(`commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Marks entries up to `index` durable if the log still holds (index, term) there. */
  stableToIndex(index: number, term: number): void {
    if (index > this.stableTo && this.matchTerm(index, term)) this.stableTo = index;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    this.snap = snapshot.meta;
    this.snapData = snapshot.data;
    this.entries = [];
    this.confs = [{ index: snapshot.meta.index, conf: snapshot.meta.conf }];
    this.committed = snapshot.meta.index;
    // Nothing before the snapshot is left to persist; committedEntries wait until it is durable.
    this.stableTo = snapshot.meta.index;
    this.pendingSnapshot = snapshot;
  }

  /** Drops entries up to `index` (already in a durable snapshot whose data is `data`). */
  compact(index: number, data: Uint8Array): void {
    if (index <= this.snap.index) return;
    if (index > this.applied || index > this.stableTo)
      throw new RaftSafetyError(`compacting unapplied ${index}`);
    const conf = this.confAt(index);
    const term = this.term(index)!;
    this.entries = this.entries.slice(index - this.snap.index);
    this.snap = { index, term, conf };
    this.snapData = data;
    let keep = 0;
    for (let i = 0; i < this.confs.length; i++) if (this.confs[i].index <= index) keep = i;
    this.confs = [{ index, conf }, ...this.confs.slice(keep + 1)];
  }
}
