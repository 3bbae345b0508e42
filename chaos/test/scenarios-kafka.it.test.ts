// Two new scenarios against a 3-node Apache Kafka cluster, one round each, kept short (≤ 3 min in all):
// partition-leader-isolated (network, through per-link proxies) and sigterm-leadership-transfer (the
// produce stall stays under its bound). Each run is an Allure test with one step per phase and the
// run's artifacts (summary, history, checker report, timeline SVG, node log tails) attached.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { attachment, logStep, parameter, Status } from "allure-js-commons";
import { afterAll, describe, expect, test } from "vitest";
import { missingTools, REPO_ROOT } from "../../harness/tools.ts";
import { type ChaosSummary, PHASES, runScenario } from "../runner.ts";
import type { Scenario } from "../scenario.ts";
import { partitionLeaderIsolated } from "../scenarios/partitions.ts";
import { SIGTERM_MAX_STALL_MS, sigtermLeadershipTransfer } from "../scenarios/sigterm-leadership-transfer.ts";

const missing = missingTools("java", "kafka", ...(process.env.TOXIPROXY_URL ? [] : (["toxiproxy"] as const)));
if (missing) console.warn(`scenarios-kafka.it.test.ts skipped: ${missing}`);

async function attachRun(summary: ChaosSummary): Promise<void> {
  await parameter("seed", String(summary.seed));
  for (const p of summary.phases) await logStep(`phase ${p.name} (${p.durationMs} ms)`, Status.PASSED);
  await attachment("summary", JSON.stringify(summary, null, 2), "application/json");
  const files: [string, string | undefined, string][] = [
    ["timeline", summary.artifacts.timeline, "image/svg+xml"],
    ["checker report", summary.artifacts.checker, "application/json"],
    ["history", summary.artifacts.history, "application/x-ndjson"],
    ...Object.entries(summary.artifacts.logs).map(
      ([node, file]) => [`node ${node} log tail`, file, "text/plain"] as [string, string, string],
    ),
  ];
  for (const [name, file, type] of files) {
    if (file) await attachment(name, readFileSync(join(REPO_ROOT, file)), type);
  }
}

describe.skipIf(!!missing)(
  `chaos scenarios on Apache Kafka${missing ? ` (skipped: ${missing})` : ""}`,
  () => {
    const reportsDir = mkdtempSync(join(tmpdir(), "gauntlet-chaos-it-"));
    afterAll(() => rmSync(reportsDir, { recursive: true, force: true }));

    const run = async (scenario: Scenario, seed: number): Promise<ChaosSummary> => {
      const lines: string[] = [];
      const summary = await runScenario({
        scenario,
        target: "kafka",
        nodes: 3,
        rounds: 1,
        seed,
        warmupMs: 3000,
        steadyMs: 3000,
        settleMs: 2000,
        reportsDir,
        progress: true,
        write: (line) => lines.push(line),
      });
      console.log(lines.join("\n"));
      await attachRun(summary);
      expect(summary.reasons).toEqual([]);
      expect(summary.verdict).toBe("passed");
      const counts = summary.counts as { acknowledged: number; lost: number; duplicated: number };
      expect(counts.acknowledged).toBeGreaterThan(0);
      expect(counts.lost).toBe(0);
      expect(counts.duplicated).toBe(0);
      expect(summary.phases.map((p) => p.name)).toEqual([...PHASES]);
      expect(summary.schedule).toHaveLength(1);
      expect(summary.faults).toHaveLength(1);
      expect(readFileSync(join(REPO_ROOT, summary.artifacts.timeline!), "utf8")).toContain('class="fault"');
      return summary;
    };

    test("partition-leader-isolated: the isolated leader is replaced, nothing lost", {
      timeout: 100_000,
    }, async () => {
      const summary = await run(partitionLeaderIsolated, 11);
      expect(summary.faults[0].description).toMatch(/isolated node \d/);
    });

    test(`sigterm-leadership-transfer: longest stall < ${SIGTERM_MAX_STALL_MS} ms`, {
      timeout: 80_000,
    }, async () => {
      const summary = await run(sigtermLeadershipTransfer, 7);
      expect(summary.faults[0].description).toMatch(/SIGTERM node \d.*exited cleanly/);
      expect(summary.longestStallMs!).toBeLessThan(SIGTERM_MAX_STALL_MS);
    });
  },
);
