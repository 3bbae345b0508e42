// A one-pass index over a history that every anomaly check shares: invoke/completion pairing, the sends,
// and (built lazily, on first use) the log as observed by reads and acks. Pure: no I/O, deterministic.
import { type HistoryEvent, STANDALONE_OPERATIONS } from "../history/types.ts";
import type { AnomalyList, MalformedEvent } from "./types.ts";

/** A send acknowledged with a position in the log. */
export type AckedSend = SendOp & { topic: string; partition: number; offset: number };

export type SendOutcome = "ok" | "fail" | "info" | "pending";

/** One send operation: its invoke and (if any) completion, merged. */
export interface SendOp {
  process: string;
  /** producerId if recorded, else the process: the unit Kafka orders sends within. */
  producer: string;
  invoke: HistoryEvent;
  completion: HistoryEvent | undefined;
  /** Position of the invoke/completion in the history array (-1: no completion). */
  invokePos: number;
  completionPos: number;
  outcome: SendOutcome;
  topic: string | undefined;
  partition: number | undefined;
  /** Only for ok completions that reported one. */
  offset: number | undefined;
  key: string | null;
  value: string | null;
}

/** Everything known about one partition of the log. */
export interface PartitionLog {
  key: string;
  topic: string;
  partition: number;
  /** offset -> the values claimed there: a chain through `next`, almost always of length one. */
  claims: Map<number, Claim>;
  /** Non-null values read from this partition by any poll or drain -> first event index. */
  readValues: Map<string, number>;
  /** Non-null values seen by drains of this partition. */
  drainValues: Set<string>;
  /** Furthest offset (exclusive) a drain read this partition to, and by which event; -1 if never drained. */
  drainEnd: number;
  drainIndex: number;
  /** Sorted offsets known to exist (read or acknowledged), built on first use. */
  knownOffsets?: number[];
}

export interface Claim {
  value: string | null;
  readIndices: number[];
  ackIndices: number[];
  /** A different value claimed for the same offset (an inconsistency), if any. */
  next: Claim | undefined;
}

/** The claims of one offset as an array. */
export function claimList(first: Claim): Claim[] {
  const list: Claim[] = [];
  for (let c: Claim | undefined = first; c; c = c.next) list.push(c);
  return list;
}

/** Keeps per-claim event lists short: evidence needs a few examples, not every reader. */
const MAX_CLAIM_EVENTS = 3;

export const partitionKey = (topic: string, partition: number): string => `${topic}/${partition}`;

export class HistoryModel {
  readonly events: readonly HistoryEvent[];
  readonly sends: SendOp[] = [];
  readonly malformed: MalformedEvent[] = [];
  private partitionLogs: Map<string, PartitionLog> | undefined;
  private ackedSends: AckedSend[] | undefined;
  /** topic -> logs indexed by partition: lookups without building a key string per record. */
  private readonly byTopic = new Map<string, PartitionLog[]>();

  constructor(events: readonly HistoryEvent[]) {
    this.events = events;
    this.pair();
  }

  /** Partition logs as reconstructed from every ok read and every acknowledged send. */
  get partitions(): Map<string, PartitionLog> {
    this.partitionLogs ??= this.buildPartitions();
    return this.partitionLogs;
  }

  partitionLog(topic: string, partition: number): PartitionLog | undefined {
    if (!this.partitionLogs) this.partitionLogs = this.buildPartitions();
    return this.byTopic.get(topic)?.[partition];
  }

  /** Sorted offsets known to exist in a partition. */
  knownOffsets(log: PartitionLog): number[] {
    if (!log.knownOffsets) {
      log.knownOffsets = [...log.claims.keys()].sort((a, b) => a - b);
    }
    return log.knownOffsets;
  }

  /** Acknowledged sends with a usable position, in invoke order (computed once, shared). */
  acknowledged(): readonly AckedSend[] {
    this.ackedSends ??= this.sends.filter(
      (s): s is AckedSend =>
        s.outcome === "ok" && s.topic !== undefined && s.partition !== undefined && s.offset !== undefined,
    );
    return this.ackedSends;
  }

  /** Pairs invokes with completions per process (Jepsen semantics) and collects sends. */
  private pair(): void {
    const pending = new Map<string, { event: HistoryEvent; send: SendOp | undefined }>();
    const events = this.events;
    for (let pos = 0; pos < events.length; pos++) {
      const e = events[pos];
      if (STANDALONE_OPERATIONS.has(e.f)) continue;
      if (e.type === "invoke") {
        const open = pending.get(e.process);
        if (open) {
          this.malformed.push({
            eventIndex: e.index,
            problem: `process ${e.process} invoked ${e.f} while its ${open.event.f} (event ${open.event.index}) had no completion`,
          });
        }
        let send: SendOp | undefined;
        if (e.f === "send") {
          send = {
            process: e.process,
            producer: e.producerId !== undefined ? `pid:${e.producerId}` : e.process,
            invoke: e,
            completion: undefined,
            invokePos: pos,
            completionPos: -1,
            outcome: "pending",
            topic: e.topic,
            partition: e.partition,
            offset: undefined,
            key: e.key ?? null,
            value: e.value ?? null,
          };
          this.sends.push(send);
        }
        pending.set(e.process, { event: e, send });
        continue;
      }
      const open = pending.get(e.process);
      if (!open) {
        this.malformed.push({
          eventIndex: e.index,
          problem: `${e.type} ${e.f} by ${e.process} without an invoke`,
        });
        continue;
      }
      if (open.event.f !== e.f) {
        this.malformed.push({
          eventIndex: e.index,
          problem: `${e.type} ${e.f} by ${e.process} completes a ${open.event.f} invoke (event ${open.event.index})`,
        });
        pending.delete(e.process);
        continue;
      }
      pending.delete(e.process);
      const send = open.send;
      if (send) {
        send.completion = e;
        send.completionPos = pos;
        send.outcome = e.type as SendOutcome;
        // The completion knows where the record went; the invoke may not (partitioner chooses).
        send.topic = e.topic ?? send.topic;
        send.partition = e.partition ?? send.partition;
        if (e.producerId !== undefined) send.producer = `pid:${e.producerId}`;
        if (e.type === "ok") {
          send.offset = e.offset;
          if (send.topic === undefined || send.partition === undefined || send.offset === undefined) {
            this.malformed.push({
              eventIndex: e.index,
              problem: "send ok without topic, partition and offset",
            });
          }
        }
      }
    }
  }

  private buildPartitions(): Map<string, PartitionLog> {
    const logs = new Map<string, PartitionLog>();
    // Reads return runs of records from one partition; remembering the last hit skips most lookups.
    let last: PartitionLog | undefined;
    const logFor = (topic: string, partition: number): PartitionLog => {
      if (last && last.partition === partition && last.topic === topic) return last;
      let perPartition = this.byTopic.get(topic);
      if (!perPartition) {
        perPartition = [];
        this.byTopic.set(topic, perPartition);
      }
      let log = perPartition[partition];
      if (!log) {
        const key = partitionKey(topic, partition);
        log = {
          key,
          topic,
          partition,
          claims: new Map(),
          readValues: new Map(),
          drainValues: new Set(),
          drainEnd: -1,
          drainIndex: -1,
        };
        logs.set(key, log);
        perPartition[partition] = log;
      }
      last = log;
      return log;
    };
    const claim = (
      log: PartitionLog,
      offset: number,
      value: string | null,
      eventIndex: number,
      ack: boolean,
    ) => {
      const first = log.claims.get(offset);
      let c = first;
      while (c && c.value !== value) c = c.next;
      if (!c) {
        c = { value, readIndices: [], ackIndices: [], next: undefined };
        if (!first) log.claims.set(offset, c);
        else {
          let tail = first;
          while (tail.next) tail = tail.next;
          tail.next = c;
        }
      }
      const list = ack ? c.ackIndices : c.readIndices;
      if (list.length < MAX_CLAIM_EVENTS) list.push(eventIndex);
    };

    for (const send of this.acknowledged()) {
      claim(logFor(send.topic, send.partition), send.offset, send.value, send.completion!.index, true);
    }
    for (const e of this.events) {
      if (e.type !== "ok" || (e.f !== "poll" && e.f !== "drain")) continue;
      const isDrain = e.f === "drain";
      const drainedEnd = new Map<PartitionLog, number>();
      for (const r of e.values ?? []) {
        const log = logFor(r.topic, r.partition);
        claim(log, r.offset, r.value, e.index, false);
        if (r.value !== null && !log.readValues.has(r.value)) log.readValues.set(r.value, e.index);
        if (isDrain) {
          if (r.value !== null) log.drainValues.add(r.value);
          drainedEnd.set(log, Math.max(drainedEnd.get(log) ?? 0, r.offset + 1));
        }
      }
      if (!isDrain) continue;
      // A drain reached at least one past the last record it returned, and as far as it says it read.
      for (const end of e.endOffsets ?? []) {
        const log = logFor(end.topic, end.partition);
        drainedEnd.set(log, Math.max(drainedEnd.get(log) ?? 0, end.offset));
      }
      for (const [log, end] of drainedEnd) {
        if (end > log.drainEnd) {
          log.drainEnd = end;
          log.drainIndex = e.index;
        }
      }
    }
    return logs;
  }
}

export type HistoryInput = readonly HistoryEvent[] | HistoryModel;

export function toModel(input: HistoryInput): HistoryModel {
  return input instanceof HistoryModel ? input : new HistoryModel(input);
}

/** Collects anomalies: counts all, keeps the first `max`. */
export class Collector<T> {
  private readonly list: AnomalyList<T> = { count: 0, items: [] };
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  add(item: T): void {
    this.list.count++;
    if (this.list.items.length < this.max) this.list.items.push(item);
  }
  /** True while another item would still be kept; lets callers skip building evidence nobody keeps. */
  get wantsItems(): boolean {
    return this.list.items.length < this.max;
  }
  result(): AnomalyList<T> {
    return this.list;
  }
}

export const DEFAULT_MAX_EVIDENCE = 50;
