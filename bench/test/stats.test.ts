import { describe, expect, test } from "vitest";
import { parseProcStatTicks } from "../procstat.ts";
import { bucketIndex, bucketRange, Histogram, percentileOfSorted, summarizeMicros } from "../stats.ts";

/** A deterministic pseudo-random sequence (xorshift32), so the test needs no seed handling. */
function* numbers(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    yield (x >>> 0) / 2 ** 32;
  }
}

describe("percentileOfSorted (nearest rank)", () => {
  test("small known cases", () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentileOfSorted(s, 0.5)).toBe(5);
    expect(percentileOfSorted(s, 0.9)).toBe(9);
    expect(percentileOfSorted(s, 0.99)).toBe(10);
    expect(percentileOfSorted(s, 1)).toBe(10);
    expect(percentileOfSorted(s, 0)).toBe(1);
    expect(percentileOfSorted([42], 0.999)).toBe(42);
    expect(percentileOfSorted([], 0.5)).toBeNaN();
  });

  test("p99.9 of 1..1000 and 1..10000", () => {
    const a = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentileOfSorted(a, 0.999)).toBe(999);
    const b = Array.from({ length: 10_000 }, (_, i) => i + 1);
    expect(percentileOfSorted(b, 0.999)).toBe(9990);
    expect(percentileOfSorted(b, 0.99)).toBe(9900);
  });
});

describe("Histogram", () => {
  test("bucket ranges tile the integers and contain their values", () => {
    // Collected first and compared once: thousands of separate expect() calls are slow under allure.
    const problems: string[] = [];
    let expectedLow = 0;
    for (let index = 0; index < 3000; index++) {
      const [low, high] = bucketRange(index);
      if (low !== expectedLow) problems.push(`bucket ${index} starts at ${low}, not ${expectedLow}`);
      if (bucketIndex(low) !== index || bucketIndex(high) !== index)
        problems.push(`bucket ${index} ends map elsewhere`);
      expectedLow = high + 1;
    }
    expect(problems).toEqual([]);
    for (const v of [0, 1, 255, 256, 257, 1023, 1024, 1025, 2 ** 20 - 1, 2 ** 20, 123_456_789]) {
      const [low, high] = bucketRange(bucketIndex(v));
      expect(v).toBeGreaterThanOrEqual(low);
      expect(v).toBeLessThanOrEqual(high);
      expect(high - low).toBeLessThanOrEqual(Math.max(0, v / 128));
    }
  });

  test("values below 256 are exact", () => {
    const h = new Histogram();
    for (let v = 1; v <= 200; v++) h.record(v);
    expect(h.quantile(0.5)).toBe(100);
    expect(h.quantile(0.99)).toBe(198);
    expect(h.quantile(1)).toBe(200);
    expect(h.mean()).toBe(100.5);
  });

  test("quantiles are within 1/128 of the exact nearest-rank percentiles, never below", () => {
    const rnd = numbers(12345);
    const samples: number[] = [];
    const h = new Histogram();
    for (let i = 0; i < 20_000; i++) {
      // A long-tailed latency-like distribution, in microseconds.
      const v = Math.floor(200 + 5000 * -Math.log(1 - rnd.next().value!));
      samples.push(v);
      h.record(v);
    }
    samples.sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99, 0.999, 1]) {
      const exact = percentileOfSorted(samples, q);
      const approx = h.quantile(q);
      expect(approx).toBeGreaterThanOrEqual(exact);
      expect(approx - exact).toBeLessThanOrEqual(exact / 128);
    }
    expect(h.max).toBe(samples.at(-1));
    expect(h.min).toBe(samples[0]);
  });

  test("merging worker histograms equals recording everything in one", () => {
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (let i = 0; i < 5000; i++) {
      const v = (i * 7919) % 100_000;
      (i % 2 ? a : b).record(v);
      all.record(v);
    }
    const merged = new Histogram();
    merged.merge(JSON.parse(JSON.stringify(a.toJSON())));
    merged.merge(b);
    expect(merged.toJSON()).toEqual(all.toJSON());
    expect(Histogram.from(all.toJSON()).quantile(0.99)).toBe(all.quantile(0.99));
  });

  test("summaries are in milliseconds; an empty histogram has none", () => {
    const h = new Histogram();
    h.record(1500, 99);
    h.record(250_000);
    const s = summarizeMicros(h);
    expect(s.count).toBe(100);
    expect(s.p50).toBeCloseTo(1.5, 1);
    expect(s.p99).toBeCloseTo(1.5, 1);
    expect(s.p999).toBe(250);
    expect(s.max).toBe(250);
    expect(new Histogram().quantile(0.5)).toBeNaN();
  });
});

test("parseProcStatTicks reads utime + stime after a command name with spaces", () => {
  const line =
    "4242 (java (kafka) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 40 0 100 1000000 5000 18446744073709551615";
  expect(parseProcStatTicks(line)).toBe(1234 + 567);
});
