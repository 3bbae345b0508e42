// vitest reporter writing reports/summary/conformance-<target>.json:
// { target, brokerVersion, seed, passed, failed, skipped, durationMs, tests: [{ id, client, feature, status, message }] }
// A skipped test's message is its "not supported" reason; a failed test's message is its first error.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Reporter, TestModule } from "vitest/node";
import { REPO_ROOT } from "../harness/tools.ts";
import { ENV } from "./config.ts";

export interface SummaryTest {
  id: string;
  client: string;
  feature: string;
  status: "passed" | "failed" | "skipped";
  message?: string;
  durationMs: number;
}

export interface ConformanceSummary {
  target: string;
  brokerVersion: string;
  seed?: string;
  passed: number;
  failed: number;
  skipped: number;
  durationMs: number;
  tests: SummaryTest[];
}

/** Where the summary goes: GAUNTLET_SUMMARY when set (the self-test), else reports/summary/conformance-<target>.json. */
export function summaryPath(target: string): string {
  return process.env.GAUNTLET_SUMMARY ?? join(REPO_ROOT, "reports", "summary", `conformance-${target}.json`);
}

export default class ConformanceSummaryReporter implements Reporter {
  private started = Date.now();

  onTestRunStart(): void {
    this.started = Date.now();
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const target = process.env[ENV.target] ?? "reference";
    const tests: SummaryTest[] = [];
    for (const mod of testModules) {
      const file = relative(REPO_ROOT, mod.moduleId);
      for (const t of mod.children.allTests()) {
        const meta = t.meta();
        const r = t.result();
        const status = r.state === "passed" ? "passed" : r.state === "failed" ? "failed" : "skipped";
        let message: string | undefined;
        if (r.state === "failed") message = r.errors?.[0]?.message?.split("\n")[0];
        if (r.state === "skipped") message = r.note ?? "skipped";
        tests.push({
          id: `${file} > ${t.fullName.replace(` > ${meta.client ?? "raw"} > `, " > ")}`,
          client: meta.client ?? "raw",
          feature: meta.feature ?? "",
          status,
          message,
          durationMs: Math.round(t.diagnostic()?.duration ?? 0),
        });
      }
      // A file that failed to load, or a suite-level error (a failed hook, an empty suite): count one
      // failure so the run cannot look green.
      if (
        mod.state() === "failed" &&
        !tests.some((x) => x.id.startsWith(`${file} >`) && x.status === "failed")
      ) {
        tests.push({
          id: `${file} > (module)`,
          client: "-",
          feature: "",
          status: "failed",
          message: mod.errors()[0]?.message ?? "the test file or one of its suites failed",
          durationMs: 0,
        });
      }
    }
    for (const e of unhandledErrors) {
      tests.push({
        id: "(unhandled error)",
        client: "-",
        feature: "",
        status: "failed",
        message: String((e as Error)?.message ?? e),
        durationMs: 0,
      });
    }
    const summary: ConformanceSummary = {
      target,
      brokerVersion: process.env[ENV.brokerVersion] ?? "unknown",
      seed: process.env[ENV.seed],
      passed: tests.filter((t) => t.status === "passed").length,
      failed: tests.filter((t) => t.status === "failed").length,
      skipped: tests.filter((t) => t.status === "skipped").length,
      durationMs: Date.now() - this.started,
      tests,
    };
    const path = summaryPath(target);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${JSON.stringify(summary, null, 2)}\n`);
  }
}
