// The example GitHub Actions gate (.github/workflows/gauntlet.yml) stays consistent with the project:
// valid YAML, every `npm run` it calls exists, every chaos scenario it names is registered, and it
// publishes the report even when a gate failed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "../../harness/tools.ts";
import { findScenario } from "../scenarios/index.ts";

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  if?: string;
}
const workflow = parse(readFileSync(join(REPO_ROOT, ".github", "workflows", "gauntlet.yml"), "utf8")) as {
  on: Record<string, unknown>;
  jobs: Record<string, { steps: Step[] }>;
};
const scripts = Object.keys(
  (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> })
    .scripts,
);
const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
const runs = steps.map((s) => s.run ?? "").join("\n");

describe("GitHub Actions workflow", () => {
  test("runs on pushes and pull requests", () => {
    expect(Object.keys(workflow.on)).toEqual(expect.arrayContaining(["push", "pull_request"]));
  });

  test("every npm script it runs exists", () => {
    const used = [...runs.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
    expect(used).toEqual(expect.arrayContaining(["setup", "conformance", "chaos", "report"]));
    for (const s of used) expect(scripts, `npm run ${s}`).toContain(s);
  });

  test("every chaos scenario it names is registered", () => {
    const loop = runs.match(/for scenario in ([^;]+);/);
    expect(loop).not.toBeNull();
    const names = loop![1].trim().split(/\s+/);
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(findScenario(n), n).toBeDefined();
  });

  test("builds and uploads the report even after a failed gate", () => {
    const report = steps.find((s) => s.run?.includes("npm run report"));
    const upload = steps.find((s) => s.uses?.startsWith("actions/upload-artifact"));
    expect(report?.if).toBe("always()");
    expect(upload?.if).toBe("always()");
  });
});
