// The timeline chart of a chaos run, as a self-contained SVG built from the history: acknowledged sends
// per second (throughput) and the p99 latency of the sends completed in each second, with the phases
// labelled along the top and every fault window shaded. No chart library: a few rects, paths and texts.
import type { HistoryEvent } from "../harness/history/types.ts";

export interface TimelineBucket {
  /** Start of the bucket, ms after `t0`. */
  startMs: number;
  /** Sends acknowledged in the bucket, per second. */
  throughput: number;
  /** p99 latency (ms) of the sends acknowledged in the bucket; 0 when none. */
  p99: number;
  /** Sends that failed or ended indeterminate in the bucket. */
  errors: number;
}

export interface TimelineWindow {
  /** Wall-clock ms. */
  start: number;
  end: number;
  label: string;
}

export interface TimelineSeries {
  /** Wall time of the first event. */
  t0: number;
  bucketMs: number;
  buckets: TimelineBucket[];
  phases: { name: string; startMs: number }[];
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Buckets the history's sends by completion time (invoke → ok latency per process). */
export function timelineSeries(events: readonly HistoryEvent[], bucketMs = 1000): TimelineSeries {
  const t0 = events.length ? events[0].wallTime : 0;
  const m0 = events.length ? events[0].monoTime : 0;
  const invoked = new Map<string, number>();
  const latencies: number[][] = [];
  const errors: number[] = [];
  const phases: { name: string; startMs: number }[] = [];
  let last = 0;
  for (const e of events) {
    const at = e.monoTime - m0;
    last = Math.max(last, at);
    if (e.f === "phase") phases.push({ name: String(e.phase ?? ""), startMs: at });
    if (e.f !== "send") continue;
    if (e.type === "invoke") {
      invoked.set(e.process, e.monoTime);
      continue;
    }
    const b = Math.floor(at / bucketMs);
    const start = invoked.get(e.process);
    invoked.delete(e.process);
    if (e.type === "ok") {
      latencies[b] ??= [];
      if (start !== undefined) latencies[b].push(e.monoTime - start);
    } else {
      errors[b] = (errors[b] ?? 0) + 1;
    }
  }
  const count = Math.max(1, Math.ceil((last + 1) / bucketMs));
  const buckets: TimelineBucket[] = Array.from({ length: count }, (_, i) => {
    const l = (latencies[i] ?? []).slice().sort((a, b) => a - b);
    return {
      startMs: i * bucketMs,
      throughput: ((latencies[i]?.length ?? 0) * 1000) / bucketMs,
      p99: Math.round(percentile(l, 99) * 10) / 10,
      errors: errors[i] ?? 0,
    };
  });
  return { t0, bucketMs, buckets, phases };
}

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A round number ≥ max for an axis. */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const pow = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= max) return m * pow;
  return 10 * pow;
}

export interface TimelineOptions {
  title: string;
  /** Fault windows (wall-clock) to shade. */
  faults: TimelineWindow[];
  width?: number;
  bucketMs?: number;
}

/** The SVG: throughput (top panel) and p99 latency (bottom panel) over time, faults shaded in both. */
export function timelineSvg(events: readonly HistoryEvent[], options: TimelineOptions): string {
  const s = timelineSeries(events, options.bucketMs);
  const width = options.width ?? 960;
  const left = 60;
  const right = 20;
  const panel = 150;
  const top = 40;
  const gap = 40;
  const height = top + panel * 2 + gap + 40;
  const plotW = width - left - right;
  const spanMs = Math.max(s.buckets.length * s.bucketMs, 1);
  const x = (ms: number) => left + (Math.max(0, Math.min(ms, spanMs)) / spanMs) * plotW;
  const maxTp = niceMax(Math.max(...s.buckets.map((b) => b.throughput)));
  const maxLat = niceMax(Math.max(...s.buckets.map((b) => b.p99)));
  const panels = [
    {
      y: top,
      label: "acknowledged sends/s",
      max: maxTp,
      value: (b: TimelineBucket) => b.throughput,
      color: "#1f77b4",
    },
    {
      y: top + panel + gap,
      label: "p99 send latency (ms)",
      max: maxLat,
      value: (b: TimelineBucket) => b.p99,
      color: "#d62728",
    },
  ];
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(options.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="16" font-size="13" font-weight="bold">${esc(options.title)}</text>`,
  );
  for (const [i, f] of options.faults.entries()) {
    const x0 = x(f.start - s.t0);
    const x1 = Math.max(x(f.end - s.t0), x0 + 1);
    out.push(
      `<rect class="fault" x="${x0.toFixed(1)}" y="${top}" width="${(x1 - x0).toFixed(1)}" height="${panel * 2 + gap}" fill="#ff9800" fill-opacity="0.22"><title>${esc(`fault ${i + 1}: ${f.label}`)}</title></rect>`,
      `<text x="${(x0 + 2).toFixed(1)}" y="${top + 10}" fill="#e65100">F${i + 1}</text>`,
    );
  }
  for (const p of panels) {
    const yOf = (v: number) => p.y + panel - (v / p.max) * panel;
    out.push(
      `<rect x="${left}" y="${p.y}" width="${plotW}" height="${panel}" fill="none" stroke="#999"/>`,
      `<text x="${left - 4}" y="${p.y + 4}" text-anchor="end">${p.max}</text>`,
      `<text x="${left - 4}" y="${p.y + panel}" text-anchor="end">0</text>`,
      `<text x="${left + 4}" y="${p.y - 4}" fill="${p.color}">${esc(p.label)}</text>`,
    );
    const d = s.buckets
      .map(
        (b, i) => `${i ? "L" : "M"}${x(b.startMs + s.bucketMs / 2).toFixed(1)},${yOf(p.value(b)).toFixed(1)}`,
      )
      .join(" ");
    out.push(`<path d="${d}" fill="none" stroke="${p.color}" stroke-width="1.5"/>`);
  }
  // Errors (failed or indeterminate sends) as ticks on the throughput panel's baseline.
  for (const b of s.buckets) {
    if (!b.errors) continue;
    const bx = x(b.startMs + s.bucketMs / 2).toFixed(1);
    out.push(
      `<line class="error" x1="${bx}" x2="${bx}" y1="${top + panel}" y2="${top + panel - 8}" stroke="#b71c1c" stroke-width="2"><title>${b.errors} failed/indeterminate</title></line>`,
    );
  }
  for (const ph of s.phases) {
    const px = x(ph.startMs).toFixed(1);
    out.push(
      `<line x1="${px}" x2="${px}" y1="${top - 10}" y2="${top + panel * 2 + gap}" stroke="#555" stroke-dasharray="3,3"/>`,
      `<text x="${px}" y="${top - 12}" fill="#333">${esc(ph.name)}</text>`,
    );
  }
  const axisY = top + panel * 2 + gap + 16;
  const step = niceMax(spanMs / 1000 / 10);
  for (let t = 0; t * 1000 <= spanMs; t += step) {
    out.push(`<text x="${x(t * 1000).toFixed(1)}" y="${axisY}" text-anchor="middle">${t}s</text>`);
  }
  out.push(
    `<text x="${left + plotW / 2}" y="${axisY + 18}" text-anchor="middle">time since the first event</text>`,
  );
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
