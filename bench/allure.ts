// A benchmark run in the Allure report: one test result per run (`bench/<config>`), its figures as
// parameters, and a chart attached as SVG: per metric, the reference broker's bar beside Kafka's,
// each scaled to the larger of the two, with the reference / Kafka ratio written next to it (green
// when the reference broker is at least as good, red when worse). Written straight into Allure's
// results-file format, like chaos/report.ts. Pure except writeBenchAllureResult.
import { createHash, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BenchResult, fmt, METRICS } from "./report.ts";

const xmlText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The rows of the chart: every metric with a value for at least one target. */
export function chartRows(
  result: BenchResult,
): { label: string; values: (number | undefined)[]; ratio?: number; better?: boolean }[] {
  const rows = [];
  for (const m of METRICS) {
    const values = result.targets.map((t) => {
      const v = m.get(t);
      return v !== undefined && Number.isFinite(v) ? v : undefined;
    });
    if (values.every((v) => v === undefined)) continue;
    const r = result.ratios?.[m.key];
    const ratio = r?.ratio ?? undefined;
    rows.push({
      label: `${m.label} (${m.unit})`,
      values,
      ratio,
      better: ratio === undefined ? undefined : m.higherIsBetter ? ratio >= 1 : ratio <= 1,
    });
  }
  return rows;
}

const COLORS: Record<string, string> = { kafka: "#8c8c8c", reference: "#2f6fde" };

/** The chart as a self-contained SVG. */
export function benchChartSvg(result: BenchResult): string {
  const rows = chartRows(result);
  const labelW = 290;
  const barW = 360;
  const ratioW = 90;
  const barH = 11;
  const rowH = result.targets.length * (barH + 3) + 10;
  const top = 48;
  const width = labelW + barW + ratioW + 20;
  const height = top + rows.length * rowH + 16;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" font-size="13" font-weight="bold">${xmlText(`bench ${result.configName} — ${result.date}`)}</text>`,
  ];
  let x = 10;
  for (const t of result.targets) {
    out.push(`<rect x="${x}" y="28" width="10" height="10" fill="${COLORS[t.target] ?? "#444"}"/>`);
    out.push(`<text x="${x + 14}" y="37">${xmlText(t.target)}${t.error ? " (failed)" : ""}</text>`);
    x += 110;
  }
  if (result.ratios) out.push(`<text x="${labelW + barW + 10}" y="37">ref / kafka</text>`);
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    out.push(`<text x="10" y="${y + rowH / 2 + 2}">${xmlText(row.label)}</text>`);
    const max = Math.max(...row.values.map((v) => v ?? 0), Number.MIN_VALUE);
    row.values.forEach((v, j) => {
      const by = y + 4 + j * (barH + 3);
      const w = v === undefined ? 0 : Math.max(1, (v / max) * (barW - 60));
      const color = COLORS[result.targets[j].target] ?? "#444";
      out.push(`<rect x="${labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>`);
      out.push(`<text x="${labelW + w + 4}" y="${by + barH - 1}">${xmlText(fmt(v))}</text>`);
    });
    if (row.ratio !== undefined) {
      const color = row.better ? "#1a7f37" : "#cf222e";
      out.push(
        `<text x="${labelW + barW + 10}" y="${y + rowH / 2 + 2}" fill="${color}" font-weight="bold">${xmlText(fmt(row.ratio))}</text>`,
      );
    }
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** The Allure test result of a run. */
export function benchAllureResult(
  result: BenchResult,
  attachments: { name: string; type: string; source: string }[],
  uuid: string,
): Record<string, unknown> {
  const fullName = `bench/${result.configName}`;
  const start = Date.parse(result.date);
  const failed = result.targets.filter((t) => t.error);
  return {
    uuid,
    historyId: createHash("md5").update(fullName).digest("hex"),
    testCaseId: createHash("md5").update(fullName).digest("hex"),
    fullName,
    name: `bench ${result.configName}`,
    description: `\`${result.command}\` — figures are measured, never asserted; compare targets within one run.`,
    // a target that failed mid-run is a broken run, not a failed assertion
    status: failed.length ? "broken" : "passed",
    statusDetails: failed.length ? { message: failed.map((t) => `${t.target}: ${t.error}`).join("\n") } : {},
    stage: "finished",
    start,
    stop: Date.now(),
    labels: [
      { name: "parentSuite", value: "bench" },
      { name: "suite", value: result.configName },
      { name: "feature", value: "bench" },
      { name: "framework", value: "gauntlet-bench" },
    ],
    parameters: chartRows(result).flatMap((row) =>
      row.values.map((v, j) => ({ name: `${result.targets[j].target}: ${row.label}`, value: fmt(v) })),
    ),
    links: [],
    steps: [],
    attachments,
  };
}

/** Writes the result, its chart and the JSON into an Allure results directory; returns the result file. */
export function writeBenchAllureResult(resultsDir: string, result: BenchResult): string {
  mkdirSync(resultsDir, { recursive: true });
  const uuid = randomUUID();
  const files = [
    { name: "chart", type: "image/svg+xml", ext: "svg", content: benchChartSvg(result) },
    {
      name: "result",
      type: "application/json",
      ext: "json",
      content: `${JSON.stringify(result, null, 2)}\n`,
    },
  ];
  const refs = files.map((f) => {
    const source = `${randomUUID()}-attachment.${f.ext}`;
    writeFileSync(join(resultsDir, source), f.content);
    return { name: f.name, type: f.type, source };
  });
  const file = join(resultsDir, `${uuid}-result.json`);
  writeFileSync(file, JSON.stringify(benchAllureResult(result, refs, uuid)));
  return file;
}
