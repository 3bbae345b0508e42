// The history of a run: every client operation and every fault, in the order the harness observed them.
//
// Semantics follow Jepsen. A client process records an `invoke` when it starts an operation, then
// exactly one completion from the same process before its next invoke:
//   ok   - the operation definitely happened (a send's offset is known, a poll's records are real);
//   fail - the operation definitely did not happen (a send that was never written);
//   info - indeterminate (timeout, connection lost): it may or may not have happened.
// Standalone events (nemesis faults, phase markers, rebalance callbacks) are not paired.

export const EVENT_TYPES = ["invoke", "ok", "fail", "info"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Operation names. Add new ones here; the parser rejects unknown names so a typo in a workload shows
 * up at once instead of as a silently ignored operation.
 */
export const OPERATIONS = [
  "send", // produce one record
  "poll", // consumer poll: `values` holds the records returned
  "drain", // final read of whole partitions from the log start: `values` and `endOffsets`
  "assign", // consumer assignment changed (manual assign)
  "subscribe", // consumer group subscription
  "seek", // consumer position moved explicitly
  "rebalance", // standalone: group rebalance observed by a consumer
  "commit", // offset commit
  "nemesis", // standalone: fault start/stop, process "nemesis"
  "phase", // standalone: a named phase of the run begins (e.g. "warm-up", "fault", "recovery")
] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Operations recorded as single events, never as invoke/completion pairs. */
export const STANDALONE_OPERATIONS: ReadonlySet<Operation> = new Set<Operation>([
  "nemesis",
  "phase",
  "rebalance",
]);

/** The process name used for nemesis events. */
export const NEMESIS_PROCESS = "nemesis";

/** One record as a read returned it. Offsets are numbers: Kafka offsets stay far below 2^53 in tests. */
export interface ObservedRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
}

/** A position in one partition: for `endOffsets`, the offset the read reached (exclusive). */
export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface HistoryEvent {
  /** Position in the history, strictly increasing (0, 1, 2... as recorded). */
  index: number;
  type: EventType;
  /** Worker id, e.g. "producer-0", "consumer-2", "nemesis". */
  process: string;
  f: Operation;
  /** Wall-clock time, ms since the epoch, for humans and for aligning with broker logs. */
  wallTime: number;
  /** Monotonic time in ms (performance.now()), for durations; never goes backwards. */
  monoTime: number;
  topic?: string;
  partition?: number;
  offset?: number;
  key?: string | null;
  value?: string | null;
  /** Records returned by a poll or drain completion. */
  values?: ObservedRecord[];
  /** On a drain ok: per partition, the offset the drain read up to (exclusive), e.g. the high watermark. */
  endOffsets?: PartitionOffset[];
  /** On assign/subscribe/rebalance: the partitions the consumer now owns. */
  partitions?: TopicPartition[];
  /** Error code or name on fail/info, e.g. "REQUEST_TIMED_OUT". */
  error?: string;
  /** Idempotent producer id, when the client exposes it. */
  producerId?: number;
  /** On completions: monoTime(completion) - monoTime(invoke), filled in by the recorder. */
  latencyMs?: number;
  /** Nemesis events: whether this marks a fault starting or stopping. */
  fault?: "start" | "stop";
  /** Nemesis and phase events: what happened, e.g. "partition broker-2 from the majority". */
  description?: string;
  /** Phase events: the phase name. */
  phase?: string;
}

export type CompletionType = Exclude<EventType, "invoke">;
