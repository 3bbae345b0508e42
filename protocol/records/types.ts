/** Shared record types for v2 batches and legacy message sets. */

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** -1 = no timestamp (magic 0), 0 = CreateTime, 1 = LogAppendTime. */
export type TimestampType = -1 | 0 | 1;

export const NO_TIMESTAMP = -1n;

export type ControlRecordType = "ABORT" | "COMMIT" | "LEADER_CHANGE" | "SNAPSHOT_HEADER" | "SNAPSHOT_FOOTER";

/** The decoded key (and, for transaction markers, value) of a control record. */
export interface ControlRecord {
  version: number;
  /** Numeric control type from the key: 0 abort, 1 commit, 2.. KRaft-internal types. */
  typeId: number;
  type: ControlRecordType | "UNKNOWN";
  /** Only for ABORT/COMMIT markers: the transaction coordinator's epoch. */
  coordinatorEpoch?: number;
}

/** One record as it appears to a consumer, with its absolute offset and its batch's context. */
export interface LogRecord {
  offset: bigint;
  timestamp: bigint;
  timestampType: TimestampType;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  /** Magic of the batch (2) or legacy message (0 or 1) that carried the record. */
  magic: number;
  batchBaseOffset: bigint;
  batchLastOffset: bigint;
  /** -1 for legacy messages. */
  partitionLeaderEpoch: number;
  /** -1n / -1 / -1 when the producer is not idempotent, and for legacy messages. */
  producerId: bigint;
  producerEpoch: number;
  sequence: number;
  isTransactional: boolean;
  isControl: boolean;
  /** Present on records of control batches. */
  control?: ControlRecord;
}

export interface DecodeOptions {
  /** Ceiling on the decompressed size of any one batch or wrapper (default 64 MiB). */
  maxDecompressedSize?: number;
  /** Check CRCs (default true). */
  verifyCrc?: boolean;
}
