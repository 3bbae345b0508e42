// Availability (produce stalls) and send latency, overall, per phase and on a bucketed timeline.
import type { HistoryEvent } from "../history/types.ts";
import { type HistoryInput, type HistoryModel, type SendOp, toModel } from "./model.ts";
import type {
  AvailabilityReport,
  CheckerOptions,
  LatencyBucket,
  LatencyReport,
  LatencySummary,
  PhaseAvailability,
  Stall,
  TimePoint,
} from "./types.ts";

export const DEFAULT_LATENCY_BUCKET_MS = 1000;

const point = (e: HistoryEvent): TimePoint => ({
  monoTime: e.monoTime,
  wallTime: e.wallTime,
  eventIndex: e.index,
});

interface Phase {
  name: string;
  start: HistoryEvent;
  /** The next phase marker, or the last event of the history. */
  end: HistoryEvent;
  /** History positions [startPos, endPos) of the events that belong to the phase. */
  startPos: number;
  endPos: number;
}

/** Phases from `phase` markers: each lasts until the next marker or the end of the history. */
export function phasesOf(model: HistoryModel): Phase[] {
  const events = model.events;
  const markers: number[] = [];
  events.forEach((e, pos) => {
    if (e.f === "phase") markers.push(pos);
  });
  return markers.map((startPos, i) => {
    const endPos = markers[i + 1] ?? events.length;
    const start = events[startPos];
    return {
      name: start.phase ?? start.description ?? `phase-${i}`,
      start,
      end: events[markers[i + 1] ?? events.length - 1],
      startPos,
      endPos,
    };
  });
}

/** Longest gap between consecutive points of `oks` (sorted by monoTime) within [start, end]. */
function longestGap(oks: HistoryEvent[], start: HistoryEvent, end: HistoryEvent): Stall {
  let best: Stall = { longestStallMs: 0, from: null, to: null };
  let previous = start;
  const consider = (next: HistoryEvent) => {
    const gap = next.monoTime - previous.monoTime;
    if (gap > best.longestStallMs || best.from === null) {
      best = { longestStallMs: Math.max(0, gap), from: point(previous), to: point(next) };
    }
    previous = next;
  };
  for (const ok of oks) {
    if (ok.monoTime < start.monoTime) continue;
    if (ok.monoTime > end.monoTime) break;
    consider(ok);
  }
  consider(end);
  return best;
}

/** A send belongs to the phase in which it completed, judged by history order (exact at ties). */
const completedWithin = (s: SendOp, phase: Phase) =>
  s.completion !== undefined && s.completionPos >= phase.startPos && s.completionPos < phase.endPos;

/**
 * Availability: the longest interval without an acknowledged send, from the first send invoke to the
 * last send event (so an outage at the end of the run counts), and the same within each phase.
 */
export function measureAvailability(input: HistoryInput): AvailabilityReport {
  const model = toModel(input);
  const okEvents = model.sends
    .filter((s) => s.outcome === "ok")
    .map((s) => s.completion!)
    .sort((a, b) => a.monoTime - b.monoTime);
  const failedSends = model.sends.filter((s) => s.outcome === "fail").length;
  const indeterminateSends = model.sends.filter(
    (s) => s.outcome === "info" || s.outcome === "pending",
  ).length;
  const report: AvailabilityReport = {
    longestStallMs: 0,
    from: null,
    to: null,
    okSends: okEvents.length,
    failedSends,
    indeterminateSends,
    phases: [],
  };
  if (model.sends.length > 0) {
    let first = model.sends[0].invoke;
    let last = first;
    for (const s of model.sends) {
      if (s.invoke.monoTime < first.monoTime) first = s.invoke;
      const latest = s.completion ?? s.invoke;
      if (latest.monoTime > last.monoTime) last = latest;
    }
    Object.assign(report, longestGap(okEvents, first, last));
  }
  for (const phase of phasesOf(model)) {
    const inPhase = model.sends.filter((s) => completedWithin(s, phase));
    const phaseReport: PhaseAvailability = {
      phase: phase.name,
      start: point(phase.start),
      end: point(phase.end),
      ...longestGap(okEvents, phase.start, phase.end),
      okSends: inPhase.filter((s) => s.outcome === "ok").length,
      failedSends: inPhase.filter((s) => s.outcome === "fail").length,
      indeterminateSends: inPhase.filter((s) => s.outcome === "info").length,
    };
    report.phases.push(phaseReport);
  }
  return report;
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summarize(latencies: readonly number[] | Float64Array): LatencySummary {
  const sorted = Float64Array.from(latencies).sort();
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted.length > 0 ? sorted[sorted.length - 1] : 0,
    mean: sorted.length > 0 ? sum / sorted.length : 0,
  };
}

const latencyOf = (s: SendOp): number =>
  s.completion!.latencyMs ?? s.completion!.monoTime - s.invoke.monoTime;

/**
 * Latency of acknowledged sends (invoke to ok), overall, per phase, and in fixed buckets of completion
 * time measured from the first event of the history, for timeline charts. Buckets are contiguous: a
 * bucket with no ok sends is there with count 0, which is what an outage looks like on the chart.
 */
export function measureLatency(input: HistoryInput, options: CheckerOptions = {}): LatencyReport {
  const model = toModel(input);
  const bucketMs = options.latencyBucketMs ?? DEFAULT_LATENCY_BUCKET_MS;
  if (!(bucketMs > 0)) throw new RangeError(`latencyBucketMs must be positive (got ${bucketMs}).`);
  const completed = model.sends.filter((s) => s.completion !== undefined);
  const oks = completed.filter((s) => s.outcome === "ok");
  const report: LatencyReport = { overall: summarize(oks.map(latencyOf)), bucketMs, buckets: [], phases: [] };
  if (model.events.length === 0) return report;

  const t0 = model.events[0].monoTime;
  const wall0 = model.events[0].wallTime;
  const bucketOf = (s: SendOp) => Math.max(0, Math.floor((s.completion!.monoTime - t0) / bucketMs));
  let bucketCount = 0;
  for (const s of completed) bucketCount = Math.max(bucketCount, bucketOf(s) + 1);
  const latencies: number[][] = Array.from({ length: bucketCount }, () => []);
  const failed = new Array<number>(bucketCount).fill(0);
  const indeterminate = new Array<number>(bucketCount).fill(0);
  for (const s of completed) {
    const b = bucketOf(s);
    if (s.outcome === "ok") latencies[b].push(latencyOf(s));
    else if (s.outcome === "fail") failed[b]++;
    else indeterminate[b]++;
  }
  report.buckets = latencies.map(
    (values, i): LatencyBucket => ({
      startMs: i * bucketMs,
      wallTime: wall0 + i * bucketMs,
      ...summarize(values),
      failed: failed[i],
      indeterminate: indeterminate[i],
    }),
  );
  for (const phase of phasesOf(model)) {
    const inPhase = oks.filter((s) => completedWithin(s, phase));
    report.phases.push({ phase: phase.name, ...summarize(inPhase.map(latencyOf)) });
  }
  return report;
}
