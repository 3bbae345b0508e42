// Anomalies of the log itself: what was acknowledged versus what reads found.
import {
  type Claim,
  Collector,
  claimList,
  DEFAULT_MAX_EVIDENCE,
  type HistoryInput,
  type PartitionLog,
  toModel,
} from "./model.ts";
import type {
  AnomalyList,
  CheckerOptions,
  DuplicatedValue,
  InconsistentOffset,
  LogPosition,
  LostWrite,
  PhantomValue,
  UnseenWrite,
} from "./types.ts";

const maxEvidence = (options: CheckerOptions) => options.maxEvidence ?? DEFAULT_MAX_EVIDENCE;

/**
 * Lost: an acknowledged send whose value the final drain of its partition does not contain, although
 * the drain read that partition past the send's offset. (A poll may have seen it earlier; then the log
 * lost it afterwards, which is still a loss.) Sends with null values cannot be identified and are skipped.
 */
export function findLostWrites(input: HistoryInput, options: CheckerOptions = {}): AnomalyList<LostWrite> {
  const model = toModel(input);
  const out = new Collector<LostWrite>(maxEvidence(options));
  for (const send of model.acknowledged()) {
    if (send.value === null) continue;
    const log = model.partitionLog(send.topic, send.partition);
    if (!log || log.drainEnd <= send.offset || log.drainValues.has(send.value)) continue;
    out.add({
      topic: send.topic,
      partition: send.partition,
      offset: send.offset,
      key: send.key,
      value: send.value,
      invokeIndex: send.invoke.index,
      okIndex: send.completion!.index,
      drainEndOffset: log.drainEnd,
      drainIndex: log.drainIndex,
      seenByPollIndex: log.readValues.get(send.value) ?? null,
    });
  }
  return out.result();
}

/**
 * Unseen: an acknowledged send whose value no read (poll or drain) ever returned, and which is not
 * lost because no drain read its partition past its offset. Either the final read stopped short, or
 * the log ends below an acknowledged offset; the report cannot tell which, so it is its own class.
 */
export function findUnseenWrites(
  input: HistoryInput,
  options: CheckerOptions = {},
): AnomalyList<UnseenWrite> {
  const model = toModel(input);
  const out = new Collector<UnseenWrite>(maxEvidence(options));
  for (const send of model.acknowledged()) {
    if (send.value === null) continue;
    const log = model.partitionLog(send.topic, send.partition);
    const drainEnd = log && log.drainEnd >= 0 ? log.drainEnd : null;
    if (drainEnd !== null && drainEnd > send.offset) continue; // lost or fine, not unseen
    if (log?.readValues.has(send.value)) continue;
    out.add({
      topic: send.topic,
      partition: send.partition,
      offset: send.offset,
      key: send.key,
      value: send.value,
      invokeIndex: send.invoke.index,
      okIndex: send.completion!.index,
      drainEndOffset: drainEnd,
    });
  }
  return out.result();
}

/** Calls `visit` for each read claim (not acks) of a partition: offset, value, first reading event. */
function forEachReadPosition(
  log: PartitionLog,
  visit: (offset: number, value: string | null, eventIndex: number) => void,
): void {
  for (const [offset, first] of log.claims) {
    for (let c: Claim | undefined = first; c; c = c.next) {
      if (c.readIndices.length > 0) visit(offset, c.value, c.readIndices[0]);
    }
  }
}

/**
 * Duplicated: one non-null value that reads found at two or more distinct (topic, partition, offset)
 * positions. Each value is meant to be written once, so a second position is a second copy.
 */
export function findDuplicates(
  input: HistoryInput,
  options: CheckerOptions = {},
): AnomalyList<DuplicatedValue> {
  const model = toModel(input);
  const first = new Map<string, LogPosition>();
  // Only values with a second position get an array; most values never do.
  const extra = new Map<string, LogPosition[]>();
  for (const log of model.partitions.values()) {
    forEachReadPosition(log, (offset, value, eventIndex) => {
      if (value === null) return;
      const position = { topic: log.topic, partition: log.partition, offset, eventIndex };
      if (!first.has(value)) first.set(value, position);
      else {
        const more = extra.get(value);
        if (more) more.push(position);
        else extra.set(value, [position]);
      }
    });
  }
  const out = new Collector<DuplicatedValue>(maxEvidence(options));
  for (const [value, more] of extra) {
    const positions = [first.get(value)!, ...more].sort(
      (a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition || a.offset - b.offset,
    );
    out.add({ value, positions });
  }
  return out.result();
}

/**
 * Inconsistent offsets: two different values claimed for one (topic, partition, offset), whether by
 * two reads, by a read and the acknowledgement of a send, or by two acknowledgements.
 */
export function findInconsistentOffsets(
  input: HistoryInput,
  options: CheckerOptions = {},
): AnomalyList<InconsistentOffset> {
  const model = toModel(input);
  const out = new Collector<InconsistentOffset>(maxEvidence(options));
  for (const log of model.partitions.values()) {
    for (const [offset, first] of log.claims) {
      if (!first.next) continue;
      out.add({
        topic: log.topic,
        partition: log.partition,
        offset,
        claims: claimList(first).map((c) => ({
          value: c.value,
          readIndices: [...c.readIndices],
          ackIndices: [...c.ackIndices],
        })),
      });
    }
  }
  return out.result();
}

/**
 * Phantoms: a value read from the log that no send ever carried ("never-sent", e.g. corruption), or
 * whose every send failed definitely ("failed-send": the broker said no, yet wrote it). Indeterminate
 * sends may appear; that is what indeterminate means.
 */
export function findPhantoms(input: HistoryInput, options: CheckerOptions = {}): AnomalyList<PhantomValue> {
  const model = toModel(input);
  // value -> true if some send of it may have happened (ok, info or still pending).
  const mayExist = new Map<string, boolean>();
  for (const send of model.sends) {
    if (send.value === null) continue;
    mayExist.set(send.value, (mayExist.get(send.value) ?? false) || send.outcome !== "fail");
  }
  const out = new Collector<PhantomValue>(maxEvidence(options));
  for (const log of model.partitions.values()) {
    forEachReadPosition(log, (offset, value, eventIndex) => {
      if (value === null) return;
      const sent = mayExist.get(value);
      if (sent === true) return;
      out.add({
        topic: log.topic,
        partition: log.partition,
        offset,
        value,
        eventIndex,
        reason: sent === undefined ? "never-sent" : "failed-send",
      });
    });
  }
  return out.result();
}
