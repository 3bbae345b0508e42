/**
 * The persistence port of the group coordinator: an ordered log of GroupRecords, like Kafka's
 * __consumer_offsets partition. Kept narrow so a replicated partition log can back it later.
 */
import { type GroupRecord, recordKey } from "./types.ts";

export interface GroupStore {
  /** Persists records durably, in order; resolves once they would survive a crash. */
  append(records: GroupRecord[]): Promise<void>;
  /** Everything persisted so far, in log order (possibly compacted: latest value per key, no tombstones). */
  load(): Promise<GroupRecord[]>;
  close?(): Promise<void>;
}

/** Keeps records in memory: for tests and for brokers that run without durable group state. */
export class MemoryGroupStore implements GroupStore {
  readonly records: GroupRecord[] = [];
  /** When set, append rejects with this error (tests of failed writes). */
  failNextAppends = 0;
  failWith: Error & { errorCode?: number } = Object.assign(new Error("append failed"), { errorCode: 56 });

  async append(records: GroupRecord[]): Promise<void> {
    if (this.failNextAppends > 0) {
      this.failNextAppends--;
      throw this.failWith;
    }
    this.records.push(...records);
  }

  async load(): Promise<GroupRecord[]> {
    return compactRecords(this.records);
  }
}

/** Latest value per key, tombstoned keys dropped, in the order of each key's latest write. */
export function compactRecords(records: Iterable<GroupRecord>): GroupRecord[] {
  const latest = new Map<string, GroupRecord>();
  for (const r of records) {
    const key = recordKey(r);
    latest.delete(key);
    if (r.value !== null) latest.set(key, r);
  }
  return [...latest.values()];
}
