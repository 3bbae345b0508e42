// Latency statistics for the benchmark: an HDR-style log-linear histogram (mergeable across worker
// processes, bounded relative error) and exact nearest-rank percentiles over sorted samples.

/** Linear sub-buckets per power of two: values are kept with a relative error below 1/SUB_BUCKETS. */
const SUB_BUCKET_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS; // 128

/** The bucket index of a non-negative integer value. Values below 2*SUB_BUCKETS are exact. */
export function bucketIndex(value: number): number {
  const v = Math.max(0, Math.floor(value));
  if (v < 2 * SUB_BUCKETS) return v;
  const exponent = Math.floor(Math.log2(v));
  // Math.log2 can be off by one right at powers of two: correct it with integer arithmetic.
  const e = 2 ** exponent > v ? exponent - 1 : 2 ** (exponent + 1) <= v ? exponent + 1 : exponent;
  const shift = e - SUB_BUCKET_BITS;
  const sub = Math.floor(v / 2 ** shift); // in [SUB_BUCKETS, 2*SUB_BUCKETS)
  return 2 * SUB_BUCKETS + (e - SUB_BUCKET_BITS - 1) * SUB_BUCKETS + (sub - SUB_BUCKETS);
}

/** The smallest and largest integer values that map to a bucket index. */
export function bucketRange(index: number): [number, number] {
  if (index < 2 * SUB_BUCKETS) return [index, index];
  const k = index - 2 * SUB_BUCKETS;
  const e = Math.floor(k / SUB_BUCKETS) + SUB_BUCKET_BITS + 1;
  const sub = (k % SUB_BUCKETS) + SUB_BUCKETS;
  const shift = e - SUB_BUCKET_BITS;
  return [sub * 2 ** shift, (sub + 1) * 2 ** shift - 1];
}

/** A histogram serialised for IPC and JSON: [bucket index, count] pairs, plus exact min/max/sum. */
export interface HistogramData {
  counts: [number, number][];
  count: number;
  min: number;
  max: number;
  sum: number;
}

/**
 * Records non-negative values (the benchmark records microseconds) into log-linear buckets. Quantiles
 * come back as the upper bound of the bucket holding the nearest-rank sample (clamped to the exact
 * max), so they never under-report, and are within 1/128 (< 0.8 %) of the exact value.
 */
export class Histogram {
  private counts = new Map<number, number>();
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  sum = 0;

  record(value: number, times = 1): void {
    if (!Number.isFinite(value) || value < 0) value = 0;
    const index = bucketIndex(value);
    this.counts.set(index, (this.counts.get(index) ?? 0) + times);
    this.count += times;
    this.sum += value * times;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  merge(other: Histogram | HistogramData): void {
    const data = other instanceof Histogram ? other.toJSON() : other;
    for (const [index, n] of data.counts) this.counts.set(index, (this.counts.get(index) ?? 0) + n);
    this.count += data.count;
    this.sum += data.sum;
    if (data.count > 0) {
      this.min = Math.min(this.min, data.min);
      this.max = Math.max(this.max, data.max);
    }
  }

  /** The value at quantile q in [0, 1] (nearest rank), or NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const index of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(index)!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketRange(index)[1]));
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  toJSON(): HistogramData {
    return {
      counts: [...this.counts.entries()].sort((a, b) => a[0] - b[0]),
      count: this.count,
      min: this.count ? this.min : 0,
      max: this.max,
      sum: this.sum,
    };
  }

  static from(data: HistogramData): Histogram {
    const h = new Histogram();
    h.merge(data);
    return h;
  }
}

/** The median of samples (the mean of the middle two for an even count); null without samples. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile of ascending-sorted samples: the smallest value with at least q of them at or below it. */
export function percentileOfSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (q <= 0) return sorted[0];
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/** The latency summary stored in results, in milliseconds. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

const round3 = (x: number): number => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

/** Summarises a histogram of microseconds as milliseconds. */
export function summarizeMicros(h: Histogram): LatencySummary {
  return {
    count: h.count,
    mean: round3(h.mean() / 1000),
    p50: round3(h.quantile(0.5) / 1000),
    p99: round3(h.quantile(0.99) / 1000),
    p999: round3(h.quantile(0.999) / 1000),
    max: round3(h.max / 1000),
  };
}
