// The first chaos bar: leader-kill against Apache Kafka (3 nodes, RF 3, min.insync.replicas 2, acks=all,
// idempotent producers), two rounds, must lose and duplicate nothing. This also validates the checker
// against a real broker.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { readHistory } from "../../harness/history/jsonl.ts";
import { missingTools } from "../../harness/tools.ts";
import { type ChaosSummary, PHASES, reportPaths, runScenario } from "../runner.ts";
import { leaderKill } from "../scenarios/leader-kill.ts";

const missing = missingTools("java", "kafka", ...(process.env.TOXIPROXY_URL ? [] : (["toxiproxy"] as const)));
if (missing) console.warn(`leader-kill-kafka.it.test.ts skipped: ${missing}`);

describe.skipIf(!!missing)(
  `chaos leader-kill on Apache Kafka${missing ? ` (skipped: ${missing})` : ""}`,
  () => {
    const reportsDir = mkdtempSync(join(tmpdir(), "gauntlet-chaos-test-"));
    afterAll(() => rmSync(reportsDir, { recursive: true, force: true }));

    test("2 rounds of SIGKILLing the partition leader: 0 lost, 0 duplicated", {
      timeout: 150_000,
    }, async () => {
      const t0 = Date.now();
      const lines: string[] = [];
      const summary: ChaosSummary = await runScenario({
        scenario: leaderKill,
        target: "kafka",
        nodes: 3,
        rounds: 2,
        seed: 20_260_148, // a seed whose two rounds have short delays and holds (9.7 s in all), to stay well under 90 s
        warmupMs: 3000,
        steadyMs: 3000,
        reportsDir,
        progress: true,
        write: (line) => lines.push(line),
      });
      const ms = Date.now() - t0;
      console.log(`${lines.join("\n")}\n(run took ${ms} ms)`);

      expect(summary.reasons).toEqual([]);
      expect(summary.verdict).toBe("passed");
      const counts = summary.counts as { acknowledged: number; lost: number; duplicated: number };
      expect(counts.acknowledged).toBeGreaterThan(0);
      expect(counts.lost).toBe(0);
      expect(counts.duplicated).toBe(0);
      expect(summary.faults).toHaveLength(2);
      expect(
        summary.faults.every((f) => f.kind === "leader-kill" && /SIGKILL node \d/.test(f.description)),
      ).toBe(true);
      expect(summary.phases.map((p) => p.name)).toEqual([...PHASES]);
      expect(lines[0]).toMatch(/seed 20260148/);
      expect(ms).toBeLessThan(90_000);

      // The summary on disk is the returned one, and the history next to it records phases and faults.
      const paths = reportPaths("leader-kill", "kafka", reportsDir);
      expect(JSON.parse(readFileSync(paths.summary, "utf8"))).toEqual(JSON.parse(JSON.stringify(summary)));
      expect(existsSync(paths.history)).toBe(true);
      const history = await readHistory(paths.history);
      expect(history.filter((e) => e.f === "phase").map((e) => e.phase)).toEqual([...PHASES]);
      expect(history.filter((e) => e.f === "nemesis" && e.fault === "start")).toHaveLength(2);
    });
  },
);
