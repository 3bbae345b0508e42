// The benchmark's Allure result: a chart with one bar per target per metric and the ratio coloured by
// whether the reference broker is at least as good, and a "broken" status when a target failed.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { benchChartSvg, chartRows, writeBenchAllureResult } from "../allure.ts";
import type { BenchResult } from "../report.ts";

const sample = JSON.parse(
  readFileSync(join(import.meta.dirname, "fixtures", "result-both-1-1-1024-1.json"), "utf8"),
) as BenchResult;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test("the chart has a bar per target per metric and green/red ratios", () => {
  const rows = chartRows(sample);
  expect(rows.length).toBeGreaterThan(5);
  const svg = benchChartSvg(sample);
  const bars = svg.match(/<rect x="290"/g) ?? [];
  expect(bars.length).toBe(rows.length * sample.targets.length);
  const throughput = rows.find((r) => r.label === "produce (max) (msg/s)")!;
  const ratio = sample.ratios!.maxMsgPerSec.ratio!;
  expect(throughput.ratio).toBe(ratio);
  expect(throughput.better).toBe(ratio >= 1);
  const latency = rows.find((r) => r.label === "produce latency p99 (max) (ms)")!;
  expect(latency.better).toBe(latency.ratio! <= 1);
  expect(svg).toContain(ratio >= 1 ? 'fill="#1a7f37"' : 'fill="#cf222e"');
});

test("the result file names the run, attaches chart and JSON, and is broken when a target failed", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-allure-"));
  dirs.push(dir);
  const failed: BenchResult = {
    ...sample,
    targets: sample.targets.map((t, i) => (i === 1 ? { ...t, error: "node 2 exited" } : t)),
  };
  const file = writeBenchAllureResult(dir, failed);
  const result = JSON.parse(readFileSync(file, "utf8"));
  expect(result.fullName).toBe(`bench/${sample.configName}`);
  expect(result.status).toBe("broken");
  expect(result.statusDetails.message).toContain("node 2 exited");
  expect(result.attachments.map((a: { name: string }) => a.name)).toEqual(["chart", "result"]);
  expect(readdirSync(dir)).toHaveLength(3);
  const ok = JSON.parse(readFileSync(writeBenchAllureResult(dir, sample), "utf8"));
  expect(ok.status).toBe("passed");
});
