export {
  type BatchSpanInfo,
  type Decompressor,
  firstRecordAtOrAfterTimestamp,
  type TimestampHit,
  validateBatches,
} from "./batch-format.ts";
export { DEFAULT_LOG_CONFIG, type FlushPolicy, type LogConfig, resolveLogConfig } from "./config.ts";
export { asStorageError, isStorageError, StorageError, type StorageKafkaError } from "./errors.ts";
export type { FsyncKind, FsyncObserver } from "./files.ts";
export {
  type EpochEntry,
  LeaderEpochCache,
  UNDEFINED_EPOCH,
  UNDEFINED_EPOCH_OFFSET,
} from "./leader-epoch-cache.ts";
export {
  LogManager,
  type LogManagerOptions,
  type ManagedLog,
  parsePartitionDirName,
  partitionDirName,
} from "./log-manager.ts";
export {
  type AppendOptions,
  type AppendResult,
  PartitionLog,
  type PartitionLogOptions,
  type ReadOptions,
  type ReadResult,
  type SegmentInfo,
  type TimestampType,
} from "./partition-log.ts";
