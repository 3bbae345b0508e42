// Types of the checker's options and report. Evidence refers to history events by their `index`.

/** Anomaly classes that can make a history invalid. */
export const ANOMALY_CLASSES = [
  "lost",
  "unseen",
  "duplicated",
  "inconsistentOffsets",
  "nonmonotonic",
  "skips",
  "reordered",
  "phantoms",
  "malformed",
] as const;
export type AnomalyClass = (typeof ANOMALY_CLASSES)[number];

/** What the scenario promises; anything not allowed here makes the history invalid. */
export interface Expectations {
  allowLost?: boolean;
  /** E.g. for workloads with no final drain, where every acked-but-unread write is unseen. */
  allowUnseen?: boolean;
  /** E.g. non-idempotent producers with retries may legitimately write a value twice. */
  allowDuplicates?: boolean;
  allowInconsistentOffsets?: boolean;
  allowNonmonotonicPolls?: boolean;
  allowPollSkips?: boolean;
  allowReordering?: boolean;
  allowPhantoms?: boolean;
  /** If set, a produce stall longer than this (whole run) makes the history invalid. */
  maxStallMs?: number;
}

export interface CheckerOptions {
  expectations?: Expectations;
  /** Evidence items kept per anomaly class; counts are always exact. Default 50. */
  maxEvidence?: number;
  /** Width of the latency/throughput timeline buckets. Default 1000 ms. */
  latencyBucketMs?: number;
  /**
   * Which sends must be ordered by real time: "producer" (default) compares sends of one producer
   * (its producerId if recorded, else its process); "partition" compares all sends to a partition,
   * i.e. checks that the log is linearizable with respect to acknowledged appends.
   */
  reorderScope?: "producer" | "partition";
}

/** An anomaly list: exact count, first `maxEvidence` items. */
export interface AnomalyList<T> {
  count: number;
  items: T[];
}

export interface LostWrite {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string;
  invokeIndex: number;
  okIndex: number;
  /** The final drain read this partition up to here (exclusive), past the write's offset. */
  drainEndOffset: number;
  /** The drain event that reached furthest in this partition. */
  drainIndex: number;
  /** A poll that saw the value before it vanished, if any (the value was then truncated away). */
  seenByPollIndex: number | null;
}

export interface UnseenWrite {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string;
  invokeIndex: number;
  okIndex: number;
  /** How far the final drain read this partition, or null when no drain covered it. */
  drainEndOffset: number | null;
}

export interface LogPosition {
  topic: string;
  partition: number;
  offset: number;
  /** First read event that saw the value here. */
  eventIndex: number;
}

export interface DuplicatedValue {
  value: string;
  /** Every distinct position the value was read at (two or more). */
  positions: LogPosition[];
}

export interface OffsetClaim {
  value: string | null;
  /** Read completions (poll/drain) that returned this value at the offset (first few). */
  readIndices: number[];
  /** Send ok completions that were acknowledged with this offset (first few). */
  ackIndices: number[];
}

export interface InconsistentOffset {
  topic: string;
  partition: number;
  offset: number;
  /** Two or more different values claimed for this one offset. */
  claims: OffsetClaim[];
}

export interface NonmonotonicPoll {
  process: string;
  topic: string;
  partition: number;
  /** "repeat": the same offset again; "backward": a lower offset. */
  kind: "repeat" | "backward";
  previousOffset: number;
  offset: number;
  previousEventIndex: number;
  eventIndex: number;
}

export interface PollSkip {
  process: string;
  topic: string;
  partition: number;
  /** Last offset the consumer saw before the jump. */
  fromOffset: number;
  /** First offset it saw after the jump. */
  toOffset: number;
  /** Offsets strictly between the two that are known to exist (first few), and how many there are. */
  skippedOffsets: number[];
  skippedCount: number;
  previousEventIndex: number;
  eventIndex: number;
}

export interface SendRef {
  process: string;
  value: string | null;
  offset: number;
  invokeIndex: number;
  okIndex: number;
}

export interface ReorderedSend {
  /** The producer key (producerId or process; "*" for partition scope). */
  producer: string;
  topic: string;
  partition: number;
  /** Acknowledged before `later` was invoked... */
  earlier: SendRef;
  /** ...yet `later` got an offset that is not higher. */
  later: SendRef;
}

export interface PhantomValue {
  topic: string;
  partition: number;
  offset: number;
  value: string;
  eventIndex: number;
  /** "never-sent": no send of this value was invoked; "failed-send": every send of it failed definitely. */
  reason: "never-sent" | "failed-send";
}

export interface MalformedEvent {
  eventIndex: number;
  problem: string;
}

/** A moment in the history: monotonic and wall time of the event that marks it. */
export interface TimePoint {
  monoTime: number;
  wallTime: number;
  eventIndex: number;
}

export interface Stall {
  /** Longest interval without an acknowledged send. */
  longestStallMs: number;
  from: TimePoint | null;
  to: TimePoint | null;
}

export interface PhaseAvailability extends Stall {
  phase: string;
  start: TimePoint;
  end: TimePoint;
  okSends: number;
  failedSends: number;
  indeterminateSends: number;
}

export interface AvailabilityReport extends Stall {
  okSends: number;
  failedSends: number;
  /** info completions plus invokes that never completed. */
  indeterminateSends: number;
  phases: PhaseAvailability[];
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LatencyBucket extends LatencySummary {
  /** Bucket start, ms after the first event of the history. */
  startMs: number;
  /** Bucket start as wall time (first event's wall time + startMs). */
  wallTime: number;
  /** Sends completed in this bucket that failed / were indeterminate (count is ok sends). */
  failed: number;
  indeterminate: number;
}

export interface LatencyReport {
  /** Latency of ok sends, invoke to completion, in ms. */
  overall: LatencySummary;
  bucketMs: number;
  buckets: LatencyBucket[];
  phases: (LatencySummary & { phase: string })[];
}

export interface AnomalyCounts {
  sends: number;
  acknowledged: number;
  failedSends: number;
  indeterminateSends: number;
  lost: number;
  unseen: number;
  duplicated: number;
  inconsistentOffsets: number;
  nonmonotonic: number;
  skips: number;
  reordered: number;
  phantoms: number;
  malformed: number;
}

export interface CheckerReport {
  valid: boolean;
  /** Why `valid` is false: the anomaly classes found and not allowed (plus "availability" for maxStallMs). */
  failures: (AnomalyClass | "availability")[];
  counts: AnomalyCounts;
  anomalies: {
    lost: AnomalyList<LostWrite>;
    unseen: AnomalyList<UnseenWrite>;
    duplicated: AnomalyList<DuplicatedValue>;
    inconsistentOffsets: AnomalyList<InconsistentOffset>;
    nonmonotonic: AnomalyList<NonmonotonicPoll>;
    skips: AnomalyList<PollSkip>;
    reordered: AnomalyList<ReorderedSend>;
    phantoms: AnomalyList<PhantomValue>;
    malformed: AnomalyList<MalformedEvent>;
  };
  availability: AvailabilityReport;
  latency: LatencyReport;
}
