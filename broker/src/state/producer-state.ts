/**
 * Idempotent-producer state of one partition, following Kafka's ProducerStateManager: per producer
 * id the current epoch and the metadata of its last 5 appended batches. A retried batch that matches
 * one of them is a duplicate and is answered with the original offsets; anything else must continue
 * the sequence (Kafka's ProducerAppendInfo.checkSequence), otherwise OUT_OF_ORDER_SEQUENCE_NUMBER.
 * The state is rebuilt from batch headers when the log is loaded, so it survives restarts.
 */

/** Kafka keeps the metadata of this many batches per producer (ProducerStateEntry.NUM_BATCHES_TO_RETAIN). */
export const BATCHES_TO_RETAIN = 5;
export const NO_PRODUCER_ID = -1n;
export const NO_PRODUCER_EPOCH = -1;
const INT32_MAX = 0x7fffffff;

export interface BatchMetadata {
  firstSeq: number;
  lastSeq: number;
  firstOffset: number;
  lastOffset: number;
  /** maxTimestamp as appended (the LogAppendTime when the topic uses it), for the duplicate's answer. */
  timestamp: number;
}

interface ProducerEntry {
  epoch: number;
  batches: BatchMetadata[];
}

export interface IncomingBatch {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  /** lastOffsetDelta; the last sequence is baseSequence + this (wrapping at Int32.MAX). */
  lastOffsetDelta: number;
}

export type SequenceCheck =
  | { kind: "append" }
  | { kind: "duplicate"; batch: BatchMetadata }
  | { kind: "error"; error: "INVALID_PRODUCER_EPOCH" | "OUT_OF_ORDER_SEQUENCE_NUMBER"; message: string };

export function lastSequenceOf(baseSequence: number, lastOffsetDelta: number): number {
  const last = baseSequence + lastOffsetDelta;
  return last > INT32_MAX ? last - INT32_MAX - 1 : last;
}

function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

export class PartitionProducerState {
  private readonly producers = new Map<bigint, ProducerEntry>();

  get size(): number {
    return this.producers.size;
  }

  /** Decides what to do with a batch from an idempotent producer (producerId >= 0). */
  check(b: IncomingBatch): SequenceCheck {
    const entry = this.producers.get(b.producerId);
    if (!entry) return { kind: "append" }; // unknown producer: any sequence is accepted, as in Kafka
    if (b.producerEpoch < entry.epoch) {
      return {
        kind: "error",
        error: "INVALID_PRODUCER_EPOCH",
        message: `epoch ${b.producerEpoch} of producer ${b.producerId} is older than the current epoch ${entry.epoch}`,
      };
    }
    const lastSeq = lastSequenceOf(b.baseSequence, b.lastOffsetDelta);
    if (b.producerEpoch === entry.epoch) {
      const dup = entry.batches.find((m) => m.firstSeq === b.baseSequence && m.lastSeq === lastSeq);
      if (dup) return { kind: "duplicate", batch: dup };
      const current = entry.batches.length > 0 ? entry.batches[entry.batches.length - 1]!.lastSeq : undefined;
      if (current !== undefined && !inSequence(current, b.baseSequence)) {
        return {
          kind: "error",
          error: "OUT_OF_ORDER_SEQUENCE_NUMBER",
          message: `producer ${b.producerId} sent sequence ${b.baseSequence}, expected ${current === INT32_MAX ? 0 : current + 1}`,
        };
      }
      return { kind: "append" };
    }
    // A newer epoch must start again at sequence 0.
    if (b.baseSequence !== 0) {
      return {
        kind: "error",
        error: "OUT_OF_ORDER_SEQUENCE_NUMBER",
        message: `producer ${b.producerId} started epoch ${b.producerEpoch} at sequence ${b.baseSequence}, not 0`,
      };
    }
    return { kind: "append" };
  }

  /** Records an appended batch (also used when replaying the log on load). */
  record(b: IncomingBatch, firstOffset: number, timestamp: number): void {
    let entry = this.producers.get(b.producerId);
    if (!entry || b.producerEpoch > entry.epoch) {
      entry = { epoch: b.producerEpoch, batches: [] };
      this.producers.set(b.producerId, entry);
    } else if (b.producerEpoch < entry.epoch) {
      return; // only possible while replaying a log written by a misbehaving producer
    }
    entry.batches.push({
      firstSeq: b.baseSequence,
      lastSeq: lastSequenceOf(b.baseSequence, b.lastOffsetDelta),
      firstOffset,
      lastOffset: firstOffset + b.lastOffsetDelta,
      timestamp,
    });
    if (entry.batches.length > BATCHES_TO_RETAIN) entry.batches.shift();
  }

  /**
   * Forgets producers whose last batch lies below the new log start offset (DeleteRecords or
   * retention), as Kafka's ProducerStateManager does; their next batch is accepted at any sequence.
   */
  evictBelow(logStartOffset: number): void {
    for (const [pid, entry] of this.producers) {
      const last = entry.batches[entry.batches.length - 1];
      if (!last || last.lastOffset < logStartOffset) this.producers.delete(pid);
    }
  }

  clear(): void {
    this.producers.clear();
  }

  /** The highest producer id seen (so id allocation never reuses one after a state-file loss). */
  maxProducerId(): bigint {
    let max = -1n;
    for (const pid of this.producers.keys()) if (pid > max) max = pid;
    return max;
  }

  entries(): IterableIterator<[bigint, ProducerEntry]> {
    return this.producers.entries();
  }
}
