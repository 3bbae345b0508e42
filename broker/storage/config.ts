/**
 * Per-log configuration. Field names follow Kafka's topic configs in camelCase; every field can be
 * changed at runtime through `PartitionLog.updateConfig` (new values apply from the next append,
 * roll or retention pass).
 */
export type FlushPolicy =
  /** fsync before an append is acknowledged; concurrent appends share one fsync (group commit). */
  | "every-batch"
  /** acknowledge after the write; fsync every `flushIntervalMs`. */
  | "interval"
  /** never fsync on the append path; only on roll, explicit `flush()` and close (Kafka's default). */
  | "none";

export interface LogConfig {
  /** segment.bytes: roll the active segment when the next append would pass this size. */
  segmentBytes: number;
  /** segment.ms: roll when the active segment's first timestamp is this old (Infinity = never). */
  segmentMs: number;
  /** index.interval.bytes: one offset-index entry (and at most one time-index entry) per this many log bytes. */
  indexIntervalBytes: number;
  /** retention.ms: delete segments whose largest timestamp is older than this (-1 = keep forever). */
  retentionMs: number;
  /** retention.bytes: delete oldest segments while the log is larger than this (-1 = no limit). */
  retentionBytes: number;
  /** max.message.bytes: largest accepted batch (including the 12-byte log overhead). */
  maxMessageBytes: number;
  /** message.timestamp.before.max.ms (CreateTime only; Infinity disables the check). */
  messageTimestampBeforeMaxMs: number;
  /** message.timestamp.after.max.ms (CreateTime only; Infinity disables the check). */
  messageTimestampAfterMaxMs: number;
  flushPolicy: FlushPolicy;
  /** flush.ms for the "interval" policy. */
  flushIntervalMs: number;
}

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 60 * 60 * 1000,
  indexIntervalBytes: 4096,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  retentionBytes: -1,
  maxMessageBytes: 1048588,
  messageTimestampBeforeMaxMs: Number.POSITIVE_INFINITY,
  messageTimestampAfterMaxMs: Number.POSITIVE_INFINITY,
  flushPolicy: "every-batch",
  flushIntervalMs: 1000,
});

export function resolveLogConfig(
  overrides: Partial<LogConfig> = {},
  base: Readonly<LogConfig> = DEFAULT_LOG_CONFIG,
): LogConfig {
  const merged: LogConfig = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  if (!(merged.segmentBytes >= 14 + 61))
    throw new RangeError(`segmentBytes ${merged.segmentBytes} is too small`);
  if (!(merged.indexIntervalBytes >= 0)) throw new RangeError(`indexIntervalBytes must be >= 0`);
  if (!(merged.flushIntervalMs > 0)) throw new RangeError(`flushIntervalMs must be > 0`);
  return merged;
}
