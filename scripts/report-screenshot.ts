#!/usr/bin/env tsx
// `npm run report:screenshot`: proves the Allure report shows a chaos run's timeline chart by opening
// it in headless Chromium and taking a PNG screenshot (see chaos/report-screenshot.ts). Uses the newest
// chaos result in reports/allure-results, or the one given with --result.
import { join } from "node:path";
import { Command } from "commander";
import {
  type ChaosResultRef,
  newestChaosResult,
  screenshotChaosTimeline,
} from "../chaos/report-screenshot.ts";
import { REPO_ROOT } from "../harness/tools.ts";

const program = new Command()
  .name("report:screenshot")
  .description("Screenshot a chaos run's timeline chart in the Allure report (headless Chromium)")
  .option("--results <dir>", "Allure results directory", join(REPO_ROOT, "reports", "allure-results"))
  .option(
    "--out <file.png>",
    "where the PNG goes",
    join(REPO_ROOT, "reports", "screenshots", "chaos-timeline.png"),
  )
  .option("--chromium <path>", "the Chromium binary (default: GAUNTLET_CHROMIUM or chromium on PATH)")
  .parse();
const opts = program.opts<{ results: string; out: string; chromium?: string }>();

function fail(message: string, code: number): never {
  console.error(`report:screenshot: ${message}`);
  process.exit(code);
}

if (!opts.out.endsWith(".png")) fail(`--out must name a .png file, not ${opts.out}`, 2);
const result: ChaosResultRef | undefined = newestChaosResult(opts.results);
if (!result)
  fail(
    `no chaos result with a timeline in ${opts.results}: run \`npm run chaos -- --scenario leader-kill\` first`,
    2,
  );
try {
  const shot = await screenshotChaosTimeline({ result, out: opts.out, chromium: opts.chromium });
  console.log(
    `report:screenshot: "${shot.testName}": timeline chart shown at ${Math.round(shot.chart.width)}×${Math.round(shot.chart.height)} px, ${shot.shadedPixels} fault-window pixels; screenshot ${shot.png}`,
  );
} catch (err) {
  fail((err as Error).message, 1);
}
