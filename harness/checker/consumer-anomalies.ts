// Anomalies in what one consumer saw over time: going backwards, repeating, or jumping over records.
import type { HistoryEvent } from "../history/types.ts";
import {
  Collector,
  DEFAULT_MAX_EVIDENCE,
  type HistoryInput,
  type HistoryModel,
  type PartitionLog,
  toModel,
} from "./model.ts";
import type { AnomalyList, CheckerOptions, NonmonotonicPoll, PollSkip } from "./types.ts";

/** Operations after which a consumer's position may legitimately move anywhere. */
const REPOSITIONING = new Set<HistoryEvent["f"]>(["assign", "subscribe", "seek", "rebalance"]);

/** Skipped offsets listed per skip; the count is exact. */
const MAX_SKIPPED_LISTED = 10;

interface Cursor {
  /** Last offset this consumer saw in the partition. */
  offset: number;
  eventIndex: number;
  /**
   * An indeterminate poll happened since: records may have been consumed without being recorded, so a
   * forward jump proves nothing. Going backwards is still an anomaly.
   */
  uncertain: boolean;
}

/** First index in a sorted array whose value is greater than x. */
function upperBound(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One pass over the history per consumer process and partition. Polls and drains are both checked for
 * order; a drain starts from the log start, so its invoke resets the process's cursors like a seek.
 * Skips are a consumer fault and checked for polls only: a drain's gaps are gaps in the log itself,
 * which the lost and unseen checks judge.
 */
export function scanConsumers(
  model: HistoryModel,
  options: CheckerOptions = {},
): { nonmonotonic: AnomalyList<NonmonotonicPoll>; skips: AnomalyList<PollSkip> } {
  const max = options.maxEvidence ?? DEFAULT_MAX_EVIDENCE;
  const nonmonotonic = new Collector<NonmonotonicPoll>(max);
  const skips = new Collector<PollSkip>(max);
  // process -> partition -> cursor; partitions are keyed by their model object, not a built string.
  const cursors = new Map<string, Map<PartitionLog, Cursor>>();
  const cursorsOf = (process: string) => {
    let m = cursors.get(process);
    if (!m) {
      m = new Map();
      cursors.set(process, m);
    }
    return m;
  };

  for (const e of model.events) {
    if (REPOSITIONING.has(e.f) || (e.f === "drain" && e.type === "invoke")) {
      const mine = cursors.get(e.process);
      if (!mine) continue;
      // A seek of one partition resets only that partition; anything else resets them all.
      if (e.topic !== undefined && e.partition !== undefined) {
        const log = model.partitionLog(e.topic, e.partition);
        if (log) mine.delete(log);
      } else mine.clear();
      continue;
    }
    if (e.f !== "poll" && e.f !== "drain") continue;
    if (e.type === "info") {
      for (const cursor of cursors.get(e.process)?.values() ?? []) cursor.uncertain = true;
      continue;
    }
    if (e.type !== "ok" || !e.values) continue;
    const mine = cursorsOf(e.process);
    for (const r of e.values) {
      // Every read record is in the model's partition logs, which are built from reads.
      const log = model.partitionLog(r.topic, r.partition)!;
      const cursor = mine.get(log);
      if (!cursor) {
        mine.set(log, { offset: r.offset, eventIndex: e.index, uncertain: false });
        continue;
      }
      if (r.offset <= cursor.offset) {
        nonmonotonic.add({
          process: e.process,
          topic: r.topic,
          partition: r.partition,
          kind: r.offset === cursor.offset ? "repeat" : "backward",
          previousOffset: cursor.offset,
          offset: r.offset,
          previousEventIndex: cursor.eventIndex,
          eventIndex: e.index,
        });
      } else if (r.offset > cursor.offset + 1 && !cursor.uncertain && e.f === "poll") {
        // Kafka offsets may have gaps (transaction markers, compaction); only offsets known to hold
        // a record make a jump a skip.
        const known = model.knownOffsets(log);
        const from = upperBound(known, cursor.offset);
        const to = upperBound(known, r.offset - 1);
        if (to > from) {
          skips.add({
            process: e.process,
            topic: r.topic,
            partition: r.partition,
            fromOffset: cursor.offset,
            toOffset: r.offset,
            skippedOffsets: known.slice(from, Math.min(to, from + MAX_SKIPPED_LISTED)),
            skippedCount: to - from,
            previousEventIndex: cursor.eventIndex,
            eventIndex: e.index,
          });
        }
      }
      // Re-baseline on every record so one anomaly is reported once, not for every later record.
      cursor.offset = r.offset;
      cursor.eventIndex = e.index;
      cursor.uncertain = false;
    }
  }
  return { nonmonotonic: nonmonotonic.result(), skips: skips.result() };
}

/**
 * Nonmonotonic poll: within one consumer process's consecutive reads of a partition, with no
 * assign/subscribe/seek/rebalance in between, an offset that repeats or goes backwards.
 */
export function findNonmonotonicPolls(
  input: HistoryInput,
  options: CheckerOptions = {},
): AnomalyList<NonmonotonicPoll> {
  return scanConsumers(toModel(input), options).nonmonotonic;
}

/**
 * Poll skip: within one consumer process's consecutive reads of a partition, with no repositioning in
 * between and no indeterminate poll, a jump from offset a to b > a + 1 over offsets that other reads or
 * acknowledgements show hold records.
 */
export function findPollSkips(input: HistoryInput, options: CheckerOptions = {}): AnomalyList<PollSkip> {
  return scanConsumers(toModel(input), options).skips;
}
