// What a producer sends, decided up front from the seed: message n always gets the same key, value and
// partition, whatever the timing. Draws happen when a sequence number is allocated (synchronously, in
// sequence order), never when a send is scheduled, so concurrency cannot reorder them.
import { SeededRandom } from "../seed.ts";
import type { WorkloadSpec } from "./types.ts";

export interface PlannedMessage {
  seq: number;
  key: string | null;
  value: string;
  /** Only when the spec lists partitions; otherwise the client's partitioner decides. */
  partition?: number;
}

/** The random stream of one worker: the run seed forked by the worker id. */
export function workerRandom(seed: number, workerId: string): SeededRandom {
  return new SeededRandom(seed).fork(`worker/${workerId}`);
}

/** A value's producer prefix and sequence number, or undefined for a value not made by makeValue. */
export function parseValue(value: string): { prefix: string; seq: number } | undefined {
  const dash = value.lastIndexOf("-");
  if (dash <= 0 || !/^\d+$/.test(value.slice(dash + 1))) return undefined;
  return { prefix: value.slice(0, dash), seq: Number(value.slice(dash + 1)) };
}

/**
 * `${prefix}-${seq}`. Unique within a run as long as prefixes are: the sequence number is the digits
 * after the last dash, so two distinct (prefix, seq) pairs never print the same.
 */
export function makeValue(prefix: string, seq: number): string {
  return `${prefix}-${seq}`;
}

export class MessagePlan {
  private seq = 0;
  private readonly keys: SeededRandom;
  private readonly partitions: SeededRandom;
  private readonly prefix: string;
  private readonly keySpace: number;

  constructor(
    private readonly spec: Pick<WorkloadSpec, "seed" | "keys" | "keySpace" | "valuePrefix" | "partitions">,
    workerId: string,
  ) {
    const random = workerRandom(spec.seed, workerId);
    this.keys = random.fork("keys");
    this.partitions = random.fork("partitions");
    this.prefix = spec.valuePrefix ?? workerId;
    this.keySpace = spec.keySpace ?? 1000;
  }

  /** Sequence numbers handed out so far. */
  get count(): number {
    return this.seq;
  }

  next(): PlannedMessage {
    const seq = this.seq++;
    let key: string | null = null;
    if (this.spec.keys === "random") key = `key-${this.keys.int(0, this.keySpace - 1)}`;
    else if (this.spec.keys === "sequential") key = `key-${seq}`;
    const message: PlannedMessage = { seq, key, value: makeValue(this.prefix, seq) };
    if (this.spec.partitions) message.partition = this.partitions.pick(this.spec.partitions);
    return message;
  }
}

/**
 * Paces operations at `ratePerSec`: operation n may start at `start + n / rate`. A slot that falls
 * behind (a slow send) does not cause a burst larger than the slots available.
 */
export class RateLimiter {
  private issued = 0;
  private readonly start: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.start = now();
  }

  /** Milliseconds to wait before the next operation may start (0 = now); reserves that slot. */
  reserve(): number {
    const due = this.start + (this.issued * 1000) / this.ratePerSec;
    this.issued++;
    return Math.max(0, due - this.now());
  }
}
