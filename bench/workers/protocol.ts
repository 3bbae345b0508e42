// Messages between the benchmark (parent) and its worker processes, over the Node IPC channel.
import type { HistogramData } from "../stats.ts";

export interface CpuTimes {
  /** Microseconds of user and system CPU, all threads of the process (process.cpuUsage). */
  user: number;
  system: number;
}

export interface ProducerInit {
  type: "init";
  workerId: number;
  bootstrap: string;
  topic: string;
  acks: "1" | "all";
  size: number;
  lingerMs: number;
  /** Upper bound on produced but not yet acknowledged messages (closed loop at maximum rate). */
  maxInFlight: number;
}

export interface ProducerRun {
  type: "run";
  /** Monotonic ms (see clock.ts) at which to start producing. */
  startAt: number;
  warmupMs: number;
  durationMs: number;
  /** Messages per second for this worker; 0 = as fast as possible (closed loop). */
  rate: number;
}

export interface ProducerResult {
  type: "produced";
  workerId: number;
  /** Deliveries acknowledged inside the measured window. */
  delivered: number;
  deliveredBytes: number;
  /** Messages produce()d inside the window. */
  produced: number;
  /** Failed deliveries and produce() errors other than a full queue, over the whole run. */
  errors: number;
  firstError?: string;
  /** Messages produce()d over the whole run, warm-up included, and how many of those were acknowledged. */
  totalProduced: number;
  totalDelivered: number;
  /** produce() → delivery report, microseconds, for messages produced inside the window. */
  latency: HistogramData;
  /** CPU used inside the window. */
  cpu: CpuTimes;
  /** Actual length of the window on this worker, ms. */
  windowMs: number;
}

export interface ConsumerInit {
  type: "init";
  bootstrap: string;
  topic: string;
  partitions: number;
  /**
   * "e2e": from the end of each partition, recording produce→consume latency from the timestamp in
   * the value until told to stop; "readback": from the beginning until `expected` messages were read.
   */
  mode: "e2e" | "readback";
  expected?: number;
}

export interface ConsumerWindow {
  type: "window";
  /** Monotonic ms: only messages produced inside [from, to) are recorded. */
  from: number;
  to: number;
}

export interface ConsumerResult {
  type: "consumed";
  messages: number;
  bytes: number;
  /** For readback: ms from the first message read to the last. */
  elapsedMs: number;
  /** For readback: ms from start of consuming (after assignment) to the last message. */
  totalMs: number;
  /** Produce→consume latency, microseconds (e2e mode). */
  latency: HistogramData;
  cpu: CpuTimes;
  errors: number;
  firstError?: string;
}

export type WorkerToParent =
  | { type: "ready" }
  | ProducerResult
  | ConsumerResult
  | { type: "fatal"; message: string };

/** Ends an e2e consumer: at once, or once it has read `expected` messages (30 s at most). */
export interface ConsumerStop {
  type: "stop";
  expected?: number;
}

export type ParentToWorker =
  | ProducerInit
  | ProducerRun
  | ConsumerInit
  | ConsumerWindow
  | ConsumerStop
  | { type: "close" };
