// Client-independent parts of a worker: the paced producer loop, stop handling, and turning client
// records into history records. Runs inside the worker process.
import type { ObservedRecord } from "../history/types.ts";
import { MessagePlan, type PlannedMessage, RateLimiter } from "./plan.ts";
import type { EventSink, WorkloadSpec } from "./types.ts";

/** What one send ended as. `fail` only when the record was definitely not written. */
export type SendOutcome =
  | { type: "ok"; partition: number; offset: number }
  | { type: "fail" | "info"; error: string; partition?: number };

export interface WorkerContext {
  workerId: string;
  producerId: number;
  sink: EventSink;
  /** Aborted when the runner asks the worker to stop. */
  stop: AbortSignal;
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves with the promise's value, or with `fallback()` when it takes longer than ms. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The longest a send may stay outstanding in the history: the client's own bound (every attempt timing
 * out, with backoff) plus slack. Past it the worker records `info CLIENT_TIMEOUT` and moves on; a late
 * delivery report is then ignored (the send stays indeterminate, which is what it is).
 */
export function sendBoundMs(spec: WorkloadSpec): number {
  return spec.requestTimeoutMs * (spec.retries + 1) + Math.min(30_000, 1000 * (spec.retries + 1)) + 5000;
}

/** When the worker should stop on its own: the earlier of the duration and the stop signal. */
export function runDeadline(spec: WorkloadSpec, start = performance.now()): number {
  return spec.durationMs === undefined ? Number.POSITIVE_INFINITY : start + spec.durationMs;
}

/** An AbortSignal that fires on stop or when the spec's duration is over. */
export function runSignal(
  ctx: WorkerContext,
  spec: WorkloadSpec,
): { signal: AbortSignal; abort: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  if (ctx.stop.aborted) abort();
  else ctx.stop.addEventListener("abort", abort, { once: true });
  if (spec.durationMs !== undefined) setTimeout(abort, spec.durationMs).unref();
  return { signal: controller.signal, abort };
}

/**
 * Runs `maxInFlight` slots, each a logical process `${workerId}#${slot}` with one send outstanding at a
 * time, paced together at ratePerSec. Returns when the duration is over, maxMessages sends have
 * started, or the runner asked to stop, and every started send has completed in the history.
 */
export async function runProducerLoop(
  ctx: WorkerContext,
  spec: WorkloadSpec,
  send: (message: PlannedMessage) => Promise<SendOutcome>,
): Promise<{ sent: number }> {
  const plan = new MessagePlan(spec, ctx.workerId);
  const limiter = new RateLimiter(spec.ratePerSec);
  const { signal } = runSignal(ctx, spec);
  const bound = sendBoundMs(spec);
  const exhausted = () => spec.maxMessages !== undefined && plan.count >= spec.maxMessages;

  const slot = async (index: number) => {
    const process = `${ctx.workerId}#${index}`;
    while (!signal.aborted && !exhausted()) {
      const wait = limiter.reserve();
      if (wait > 0) await sleep(wait, signal);
      if (signal.aborted || exhausted()) break;
      const m = plan.next();
      const id = ctx.sink.invoke(process, "send", {
        topic: spec.topic,
        ...(m.partition === undefined ? {} : { partition: m.partition }),
        key: m.key,
        value: m.value,
        producerId: ctx.producerId,
      });
      const t0 = performance.now();
      let outcome: SendOutcome;
      try {
        outcome = await withTimeout(send(m), bound, () => ({ type: "info", error: "CLIENT_TIMEOUT" }));
      } catch (err) {
        // send() should classify its own errors; anything escaping is unknown.
        outcome = { type: "info", error: errorName(err) };
      }
      const latencyMs = performance.now() - t0;
      if (outcome.type === "ok") {
        ctx.sink.complete(id, "ok", { partition: outcome.partition, offset: outcome.offset, latencyMs });
      } else {
        const fields = outcome.partition === undefined ? {} : { partition: outcome.partition };
        ctx.sink.complete(id, outcome.type, { ...fields, error: outcome.error, latencyMs });
      }
    }
  };
  await Promise.all(Array.from({ length: spec.maxInFlight }, (_, i) => slot(i)));
  return { sent: plan.count };
}

/** A short name for an error, for the history's `error` field. */
export function errorName(err: unknown): string {
  if (err && typeof err === "object") {
    const e = err as { type?: unknown; name?: unknown; code?: unknown; message?: unknown };
    if (typeof e.type === "string" && /^[A-Z_]+$/.test(e.type)) return e.type;
    if (typeof e.name === "string" && e.name !== "Error") return e.name;
    if (typeof e.code === "string") return e.code;
    if (typeof e.message === "string") return e.message.slice(0, 120);
  }
  return String(err).slice(0, 120);
}

/** Buffer | string | null → string | null (UTF-8). */
export function text(v: Buffer | string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === "string" ? v : v.toString("utf8");
}

export function observed(
  topic: string,
  partition: number,
  offset: number | string,
  key: Buffer | string | null | undefined,
  value: Buffer | string | null | undefined,
): ObservedRecord {
  return { topic, partition, offset: Number(offset), key: text(key), value: text(value) };
}

/**
 * Tracks a drain's progress: per partition, the end offset to reach (the high watermark when the
 * drain started) and the position reached so far (exclusive).
 */
export class DrainProgress {
  readonly targets = new Map<number, number>();
  readonly reached = new Map<number, number>();

  constructor(
    readonly topic: string,
    watermarks: { partition: number; low: number; high: number }[],
  ) {
    for (const w of watermarks) {
      this.targets.set(w.partition, w.high);
      // An empty partition (or one whose records were all deleted) is read as soon as it starts.
      this.reached.set(w.partition, w.low >= w.high ? w.high : -1);
    }
  }

  /** Notes that the drain read up to `next` (exclusive) in a partition. */
  advance(partition: number, next: number): void {
    if (!this.targets.has(partition)) return;
    this.reached.set(partition, Math.max(this.reached.get(partition) ?? -1, next));
  }

  wants(partition: number): boolean {
    return this.targets.has(partition);
  }

  get done(): boolean {
    for (const [p, target] of this.targets) if ((this.reached.get(p) ?? -1) < target) return false;
    return true;
  }

  /** How far each partition was read (exclusive); partitions nothing was read from are left out. */
  endOffsets(): { topic: string; partition: number; offset: number }[] {
    const out: { topic: string; partition: number; offset: number }[] = [];
    for (const p of [...this.targets.keys()].sort((a, b) => a - b)) {
      const reached = this.reached.get(p) ?? -1;
      if (reached >= 0) out.push({ topic: this.topic, partition: p, offset: reached });
    }
    return out;
  }
}
