// Proof that the Allure report shows a chaos run's timeline chart: builds an Allure 3 report from one
// chaos result, serves it on loopback, opens it in headless Chromium (puppeteer-core drives the
// system's Chromium; nothing is downloaded), expands the "timeline" attachment and takes a PNG
// screenshot. The chart counts as shown only when the image rendered in the page has the chart's size
// and its fault windows' shading is visible in its pixels: a missing, broken or blank chart fails.
import { execFile } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../harness/tools.ts";

const run = promisify(execFile);

export interface ChaosResultRef {
  /** The Allure result file (`<uuid>-result.json`). */
  file: string;
  name: string;
  /** Attachment files (same directory), the timeline's included. */
  sources: string[];
}

export interface TimelineScreenshot {
  png: string;
  testName: string;
  /** The chart image as rendered in the report page (CSS pixels). */
  chart: { width: number; height: number };
  /** Pixels of the chart with the fault-window shading colour, and pixels that are not background. */
  shadedPixels: number;
  inkPixels: number;
}

interface AllureResultFile {
  name?: string;
  attachments?: { name: string; source: string; type: string }[];
}

/** The newest chaos result in `resultsDir` that has a timeline attachment (newest file first). */
export function newestChaosResult(resultsDir: string, limit = 2000): ChaosResultRef | undefined {
  if (!existsSync(resultsDir)) return undefined;
  const files = readdirSync(resultsDir)
    .filter((f) => f.endsWith("-result.json"))
    .map((f) => ({ f, t: statSync(join(resultsDir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t)
    .slice(0, limit);
  for (const { f } of files) {
    const text = readFileSync(join(resultsDir, f), "utf8");
    if (!text.includes('"timeline"')) continue; // cheap pre-filter: most results are unit tests
    const r = JSON.parse(text) as AllureResultFile;
    if (!r.name?.startsWith("chaos ")) continue;
    const atts = r.attachments ?? [];
    if (!atts.some((a) => a.name === "timeline" && a.type === "image/svg+xml")) continue;
    return { file: join(resultsDir, f), name: r.name, sources: atts.map((a) => a.source) };
  }
  return undefined;
}

/** Finds a Chromium: GAUNTLET_CHROMIUM, else chromium / chromium-browser / google-chrome on PATH. */
export function findChromium(): string | undefined {
  const given = process.env.GAUNTLET_CHROMIUM;
  if (given) return existsSync(given) ? given : undefined;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      const p = join(dir, name);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

const MIME: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".css": "text/css",
  ".txt": "text/plain",
};

function serveDir(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    const file = join(root, path === "/" ? "index.html" : path);
    if (!file.startsWith(root) || !existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

/**
 * Builds a report of `result` alone (a temporary directory, removed afterwards), opens its test page
 * in headless Chromium and screenshots the expanded timeline attachment into `out`. Throws with one
 * sentence when the chart is not shown.
 */
export async function screenshotChaosTimeline(opts: {
  result: ChaosResultRef;
  out: string;
  chromium?: string;
  timeoutMs?: number;
}): Promise<TimelineScreenshot> {
  const chromium = opts.chromium ?? findChromium();
  if (!chromium)
    throw new Error(
      "no Chromium found (install Debian's chromium with `npm run setup`, or set GAUNTLET_CHROMIUM)",
    );
  const timeout = opts.timeoutMs ?? 30_000;
  const work = mkdtempSync(join(tmpdir(), "gauntlet-report-shot-"));
  let server: Server | undefined;
  let browser: import("puppeteer-core").Browser | undefined;
  try {
    const results = join(work, "results");
    mkdirSync(results);
    const from = dirname(opts.result.file);
    copyFileSync(opts.result.file, join(results, "result-result.json"));
    for (const s of opts.result.sources) copyFileSync(join(from, s), join(results, s));
    const report = join(work, "report");
    const config = join(work, "allurerc.mjs");
    writeFileSync(
      config,
      `export default { name: "Gauntlet", plugins: { awesome: { options: { reportName: "Gauntlet", singleFile: false } } } };\n`,
    );
    await run(join(REPO_ROOT, "node_modules", ".bin", "allure"), [
      "generate",
      results,
      "--config",
      config,
      "-o",
      report,
    ]);
    const ids = readdirSync(join(report, "data", "test-results")).map((f) => f.replace(/\.json$/, ""));
    if (ids.length !== 1) throw new Error(`the report holds ${ids.length} test results, expected 1`);
    server = await serveDir(report);
    const port = (server.address() as AddressInfo).port;

    const puppeteer = (await import("puppeteer-core")).default;
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      // root in a container needs --no-sandbox; /dev/shm may be small there
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    await page.goto(`http://127.0.0.1:${port}/#/${ids[0]}/attachments`, {
      waitUntil: "networkidle0",
      timeout,
    });
    const header = await page
      .waitForSelector("xpath/.//*[normalize-space(text())='timeline']", { timeout })
      .catch(() => null);
    if (!header) throw new Error("the report page lists no attachment named timeline");
    await header.click();
    const shown = await page
      .waitForFunction(
        () =>
          [...document.querySelectorAll("img")].some(
            (i) => i.complete && i.naturalWidth > 300 && i.clientWidth > 300,
          ),
        { timeout },
      )
      .then(() => true)
      .catch(() => false);
    if (!shown) throw new Error("the expanded timeline attachment shows no chart image");
    const measured = await page.evaluate(() => {
      const img = [...document.querySelectorAll("img")].find((i) => i.naturalWidth > 300)!;
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext("2d")!;
      ctx.drawImage(img, 0, 0);
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      let shaded = 0;
      let ink = 0;
      for (let i = 0; i < px.length; i += 4) {
        const [r, g, b] = [px[i], px[i + 1], px[i + 2]];
        if (r < 245 || g < 245 || b < 245) ink++;
        // the fault windows: #ff9800 at 22 % over white ≈ rgb(255, 232, 199)
        if (r > 245 && Math.abs(g - 232) < 12 && Math.abs(b - 199) < 16) shaded++;
      }
      const rect = img.getBoundingClientRect();
      img.scrollIntoView();
      return { width: rect.width, height: rect.height, shaded, ink };
    });
    if (measured.shaded < 500)
      throw new Error(
        `the timeline chart in the report shows no fault window (${measured.shaded} shaded pixels)`,
      );
    mkdirSync(dirname(opts.out), { recursive: true });
    await page.screenshot({ path: opts.out as `${string}.png`, fullPage: true });
    return {
      png: opts.out,
      testName: opts.result.name,
      chart: { width: measured.width, height: measured.height },
      shadedPixels: measured.shaded,
      inkPixels: measured.ink,
    };
  } finally {
    await browser?.close().catch(() => {});
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    rmSync(work, { recursive: true, force: true });
  }
}
