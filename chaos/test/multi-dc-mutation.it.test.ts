// Mutation: the multi-dc scenario must fail a cluster whose leaders do not send consumers to a replica
// in their own DC. The reference broker without its rack-aware replica selector (leader-only reads, as
// Kafka without replica.selector.class) is judged failed, with the reason naming rack-aware reads.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { missingTools } from "../../harness/tools.ts";
import { runScenario } from "../runner.ts";
import type { Scenario } from "../scenario.ts";
import { FAST_FAILOVER } from "../scenarios/common.ts";
import { multiDc } from "../scenarios/multi-dc.ts";

const missing = missingTools(...(process.env.TOXIPROXY_URL ? [] : (["toxiproxy"] as const)));
const reportsDir = mkdtempSync(join(tmpdir(), "gauntlet-multi-dc-mutation-"));
afterAll(() => rmSync(reportsDir, { recursive: true, force: true }));

const leaderOnlyReads: Scenario = {
  ...multiDc,
  defaults: { ...multiDc.defaults, brokerConfig: { ...FAST_FAILOVER } },
};

test.skipIf(!!missing)(
  "multi-dc fails a cluster without rack-aware reads (leaders serve every DC)",
  async () => {
    const lines: string[] = [];
    const summary = await runScenario({
      scenario: leaderOnlyReads,
      target: "reference",
      nodes: 3,
      rounds: 1,
      seed: 5,
      warmupMs: 2000,
      steadyMs: 2000,
      settleMs: 1000,
      reportsDir,
      progress: true,
      write: (line) => lines.push(line),
    });
    expect(summary.verdict, lines.join("\n")).toBe("failed");
    expect(summary.reasons.join("\n")).toMatch(
      /rack-aware reads: the leader of .* sent a dc\d consumer to -1/,
    );
    expect(summary.counts.lost ?? 0).toBe(0);
  },
  240_000,
);
