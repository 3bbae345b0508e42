// The Allure report really shows a chaos run's timeline chart in headless Chromium (Debian's
// chromium, installed by `npm run setup`), and the check fails on a report without one.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { writeAllureResult } from "../report.ts";
import { newestChaosResult, screenshotChaosTimeline } from "../report-screenshot.ts";
import { timelineSvg } from "../timeline.ts";
import { FIXTURE, fixtureSummary } from "./summary-fixture.ts";

const dir = mkdtempSync(join(tmpdir(), "gauntlet-shot-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { events, window } = FIXTURE;
const chart = timelineSvg(events, {
  title: "chaos leader-kill on kafka, seed 42",
  faults: [{ start: Date.parse(window.start), end: Date.parse(window.end), label: "SIGKILL node 2" }],
});
const summaryJson = { name: "summary", type: "application/json", ext: "json", content: "{}" };

function resultsWith(name: string, attachments: Parameters<typeof writeAllureResult>[2]): string {
  const results = join(dir, name);
  writeAllureResult(results, fixtureSummary(), attachments);
  return results;
}

describe("Allure report in headless Chromium", () => {
  test("shows the chaos run's timeline chart with its fault window, and a screenshot is taken", async () => {
    const results = resultsWith("good", [
      summaryJson,
      { name: "timeline", type: "image/svg+xml", ext: "svg", content: chart },
    ]);
    const result = newestChaosResult(results);
    expect(result?.name).toBe("chaos leader-kill on kafka");
    const out = join(dir, "shot.png");
    const shot = await screenshotChaosTimeline({ result: result!, out });
    expect(shot.chart.width).toBeGreaterThan(300);
    expect(shot.shadedPixels).toBeGreaterThan(500);
    expect(existsSync(out)).toBe(true);
    const png = readFileSync(out);
    expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
    expect(png.length).toBeGreaterThan(20_000);
  }, 90_000);

  test("mutation: a blank chart (no fault window drawn) fails the check", async () => {
    const blank =
      '<svg xmlns="http://www.w3.org/2000/svg" width="960" height="420"><rect width="960" height="420" fill="#fff"/></svg>';
    const results = resultsWith("blank", [
      { name: "timeline", type: "image/svg+xml", ext: "svg", content: blank },
    ]);
    await expect(
      screenshotChaosTimeline({ result: newestChaosResult(results)!, out: join(dir, "blank.png") }),
    ).rejects.toThrow(/shows no fault window/);
  }, 90_000);

  test("mutation: a chaos result without a timeline is not taken for one", () => {
    const results = resultsWith("none", [summaryJson]);
    expect(newestChaosResult(results)).toBeUndefined();
  });
});
