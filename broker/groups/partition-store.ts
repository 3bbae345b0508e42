/**
 * PartitionGroupStore: the group log in one `__consumer_offsets` partition, as Kafka keeps it.
 *
 * Records are encoded in Kafka's key/value format (`offsets-format.ts`) and written through an
 * `OffsetsLogPort` — the server's view of the partition it leads: `append` resolves only once the
 * records are committed (replicated to the ISR, acks=all) and rejects with the Kafka error code in
 * `errorCode` otherwise; `read` returns the committed records from the log start. The store itself
 * does no I/O of its own, so it is tested with an in-memory port.
 */
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { decodeOffsetsRecord, encodeOffsetsRecord, type KeyValue } from "./offsets-format.ts";
import { compactRecords, type GroupStore } from "./store.ts";
import type { GroupRecord } from "./types.ts";

export interface OffsetsLogPort {
  /** Appends the records (in one batch) as the partition leader; resolves once committed. */
  append(records: KeyValue[]): Promise<void>;
  /** Every committed record from the log start, in offset order. */
  read(): Promise<{ key: Buffer | null; value: Buffer | null }[]>;
}

export interface PartitionGroupStoreOptions {
  /** Told about records that cannot be decoded (skipped, as Kafka's loader skips unknown types). */
  onBadRecord?: (err: Error) => void;
}

/** A rejected append carrying a Kafka error code (what GroupCoordinator maps to client errors). */
export function storeError(message: string, errorCode: number): Error & { errorCode: number } {
  return Object.assign(new Error(message), { errorCode });
}

export class PartitionGroupStore implements GroupStore {
  private closed = false;
  /** Records appended through this store (for tests and metrics). */
  appended = 0;

  constructor(
    private readonly port: OffsetsLogPort,
    private readonly options: PartitionGroupStoreOptions = {},
  ) {}

  async load(): Promise<GroupRecord[]> {
    if (this.closed) throw storeError("group store closed", ERROR_CODES.NOT_COORDINATOR);
    const raw = await this.port.read();
    if (this.closed) throw storeError("group store closed while loading", ERROR_CODES.NOT_COORDINATOR);
    const out: GroupRecord[] = [];
    for (const r of raw) {
      try {
        const rec = decodeOffsetsRecord(r.key, r.value);
        if (rec) out.push(rec);
      } catch (e) {
        this.options.onBadRecord?.(e as Error);
      }
    }
    return compactRecords(out);
  }

  async append(records: GroupRecord[]): Promise<void> {
    // After unloading (leadership lost), a late write must not reach the log: NOT_COORDINATOR.
    if (this.closed) throw storeError("group store closed", ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    if (records.length === 0) return;
    await this.port.append(records.map(encodeOffsetsRecord));
    this.appended += records.length;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
