import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { type BenchResult, computeRatios, formatSummary } from "../report.ts";
import { archiveSources, BEGIN, END, newestBothResults, renderTable, updateReadme } from "../table.ts";

const FIXTURES = join(import.meta.dirname, "fixtures");
const SAMPLE = join(FIXTURES, "result-both-1-1-1024-1.json");

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "bench-table-test-"));
  dirs.push(d);
  return d;
}

test("the newest --target both result per configuration is used", () => {
  const dir = tempDir();
  const sample = JSON.parse(readFileSync(SAMPLE, "utf8")) as BenchResult;
  copyFileSync(SAMPLE, join(dir, "2026-01-01T00-00-00Z-both-1-1-1024-1.json"));
  const newer = {
    ...sample,
    date: "2027-02-01T00:00:00.000Z",
    command: "npm run bench -- --target both (newer)",
  };
  writeFileSync(join(dir, "2027-02-01T00-00-00Z-both-1-1-1024-1.json"), JSON.stringify(newer));
  const single = {
    ...sample,
    config: { ...sample.config, target: "kafka" },
    configName: "kafka-1-1-1024-1",
    ratios: undefined,
  };
  writeFileSync(join(dir, "2026-03-01T00-00-00Z-kafka-1-1-1024-1.json"), JSON.stringify(single));
  writeFileSync(join(dir, "broken.json"), "{");
  const found = newestBothResults(dir);
  expect(found).toHaveLength(1);
  expect(found[0].result.command).toContain("(newer)");
});

test("the table shows ratios reference / Kafka with both values, and where they came from", () => {
  const dir = tempDir();
  copyFileSync(SAMPLE, join(dir, "2026-11-22T04-24-11Z-both-1-1-1024-1.json"));
  const md = renderTable(newestBothResults(dir), dir);
  const r = newestBothResults(dir)[0].result;
  const throughput = r.ratios!.maxMsgPerSec;
  expect(throughput.ratio).toBeCloseTo(throughput.reference! / throughput.kafka!, 3);
  expect(md).toMatch(/\| metric +\| `both-1-1-1024-1` +\|/);
  expect(md).toMatch(/\| produce \(max\) \(msg\/s\) +\| \*\*0\.452\*\* \(38\.6k \/ 85\.6k\) +\|/);
  expect(md).toContain("`npm run bench -- --target both --duration 10s --warmup 3s`");
  expect(md).toContain("2 × AMD EPYC, 24 GiB");
  expect(md).toContain("2026-11-22 04:24 UTC");
  expect(md).toContain("2026-11-22T04-24-11Z-both-1-1-1024-1.json");
  expect(md).not.toContain(BEGIN);
});

test("an empty directory gives a hint, not a table", () => {
  expect(renderTable(newestBothResults(tempDir()))).toContain("No `--target both` result yet");
});

test("updateReadme replaces only the marked section, or appends it under a Benchmarks heading", () => {
  const readme = "# Title\n\nIntro.\n";
  const first = updateReadme(readme, "table v1");
  expect(first).toBe(`# Title\n\nIntro.\n\n## Benchmarks\n\n${BEGIN}\ntable v1\n${END}\n`);
  const withMore = `${first}\n## Later section\n\nKept.\n`;
  const second = updateReadme(withMore, "table v2");
  expect(second).toBe(withMore.replace("table v1", "table v2"));
  expect(updateReadme(second, "table v2")).toBe(second);
  expect(() => updateReadme(`x\n${BEGIN}\n`, "t")).toThrow(/only one of the markers/);
});

test("ratios and the stdout summary", () => {
  const sample = JSON.parse(readFileSync(SAMPLE, "utf8")) as BenchResult;
  const ratios = computeRatios(sample.targets)!;
  expect(ratios.maxMsgPerSec.higherIsBetter).toBe(true);
  expect(ratios.maxP99.higherIsBetter).toBe(false);
  expect(computeRatios([sample.targets[0]])).toBeUndefined();
  const text = formatSummary(sample);
  expect(text.split("\n")[0]).toBe("both-1-1-1024-1 (2026-11-22T04:24:11.485Z)");
  expect(text).toMatch(/produce \(max\) \(msg\/s\)\s+85\.6k\s+38\.6k\s+0\.452/);
  expect(text).toContain("kafka: generator CPU per producer worker (max phase): 26.2%, 28.6%");
});

test("results from several dirs compete by date, and the chosen sources are kept in the archive", () => {
  const reports = tempDir();
  const archive = tempDir();
  const sample = JSON.parse(readFileSync(SAMPLE, "utf8")) as BenchResult;
  copyFileSync(SAMPLE, join(archive, "old-both-1-1-1024-1.json"));
  const newer = { ...sample, date: "2027-02-01T00:00:00.000Z" };
  writeFileSync(join(reports, "new-both-1-1-1024-1.json"), JSON.stringify(newer));
  const kept = archiveSources(newestBothResults([reports, archive]), archive);
  expect(kept).toHaveLength(1);
  expect(kept[0].result.date).toBe(newer.date);
  expect(kept[0].file).toBe(join(archive, "new-both-1-1-1024-1.json"));
  expect(existsSync(kept[0].file)).toBe(true);
});
