// The simulator must catch deliberately broken cores: if it cannot, its passing runs mean little.
import { describe, expect, it } from "vitest";
import { runSeed, type Variant } from "../raft/sim/world.ts";

const BUDGET = 1000;

function firstViolation(variant: Variant): { seed: number; invariant: string; message: string } | null {
  for (let seed = 0; seed < BUDGET; seed++) {
    const r = runSeed({ seed, variant });
    if (r.violation) return { seed, invariant: r.violation.invariant, message: r.violation.message };
  }
  return null;
}

describe("raft simulation: known-bad variants are caught", () => {
  it(`grant-vote-before-persist breaks election safety within ${BUDGET} seeds`, () => {
    const v = firstViolation("grant-vote-before-persist");
    console.info(`grant-vote-before-persist caught: ${JSON.stringify(v)}`);
    expect(v).not.toBeNull();
    // Two leaders in one term, or the follow-on damage of one (diverging logs or commits).
    expect(["election-safety", "log-matching", "commit-agreement", "leader-completeness"]).toContain(
      v!.invariant,
    );
  }, 120_000);

  it(`commit-previous-term-by-count (Raft Figure 8) loses a committed entry within ${BUDGET} seeds`, () => {
    const v = firstViolation("commit-previous-term-by-count");
    console.info(`commit-previous-term-by-count caught: ${JSON.stringify(v)}`);
    expect(v).not.toBeNull();
    expect(["leader-completeness", "commit-agreement", "state-machine-safety", "durability"]).toContain(
      v!.invariant,
    );
  }, 120_000);
});
