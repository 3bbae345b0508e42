// The chaos reports: the SVG timeline (throughput and latency from the history, fault windows shaded),
// the summary shape, Allure result and JUnit XML of a run, and the failure categories.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import type { HistoryEvent } from "../../harness/history/types.ts";
import { allureResult, categoryOf, junitXml, writeAllureResult } from "../report.ts";
import { latencyInWindows } from "../runner.ts";
import { timelineSeries, timelineSvg } from "../timeline.ts";
import { FIXTURE, fixtureSummary } from "./summary-fixture.ts";

const { events, last, window } = FIXTURE;
const summary = fixtureSummary;

describe("timeline SVG", () => {
  test("series buckets acknowledged sends by second", () => {
    const s = timelineSeries(events, 1000);
    const acked = events.filter((e) => e.f === "send" && e.type === "ok").length;
    expect(s.buckets.reduce((n, b) => n + b.throughput, 0)).toBe(acked);
    expect(s.buckets.every((b) => b.p99 >= 0)).toBe(true);
  });

  test("is well-formed SVG with both panels and the fault window shaded where it happened", () => {
    const svg = timelineSvg(events, {
      title: "chaos <test> & co",
      faults: [{ start: Date.parse(window.start), end: Date.parse(window.end), label: "SIGKILL node 2" }],
      width: 1000,
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("chaos &lt;test&gt; &amp; co");
    expect(svg).toContain("acknowledged sends/s");
    expect(svg).toContain("p99 send latency (ms)");
    const shaded = [...svg.matchAll(/<rect class="fault" x="([\d.]+)" y="\d+" width="([\d.]+)"/g)];
    expect(shaded).toHaveLength(1);
    const [x, w] = [Number(shaded[0][1]), Number(shaded[0][2])];
    // The window is the middle third of the run: it starts about a third into the plot (60..980).
    expect(x).toBeGreaterThan(60 + 920 * 0.25);
    expect(x).toBeLessThan(60 + 920 * 0.45);
    expect(w).toBeGreaterThan(920 * 0.25);
    expect(svg).toContain("SIGKILL node 2");
    expect((svg.match(/<path /g) ?? []).length).toBe(2);
  });

  test("an empty history still gives a valid (empty) chart", () => {
    const svg = timelineSvg([] as HistoryEvent[], { title: "empty", faults: [] });
    expect(svg).toContain("</svg>");
    expect(svg).not.toContain('class="fault"');
  });
});

describe("summary pieces", () => {
  test("latency per fault window counts only sends completed inside it", () => {
    const [w] = latencyInWindows(events, [window]);
    expect(w.kind).toBe("leader-kill");
    expect(w.count).toBeGreaterThan(0);
    const all = latencyInWindows(events, [
      { ...window, start: new Date(0).toISOString(), end: new Date(last + 1).toISOString() },
    ]);
    expect(all[0].count).toBeGreaterThan(w.count);
    expect(w.p99).toBeGreaterThanOrEqual(w.p50);
  });

  test("categories: lost write, duplicate, unavailability, protocol error, not applicable", () => {
    expect(categoryOf({ verdict: "passed", reasons: [] })).toBeUndefined();
    expect(categoryOf({ verdict: "failed", reasons: ["lost: 1 (first: {})"] })).toBe("lost write");
    expect(categoryOf({ verdict: "failed", reasons: ["duplicated: 2 (first: {})"] })).toBe("duplicate");
    expect(
      categoryOf({ verdict: "failed", reasons: ["availability: no send was acknowledged for 9s"] }),
    ).toBe("unavailability");
    expect(categoryOf({ verdict: "failed", reasons: ["error: UNKNOWN_SERVER_ERROR"] })).toBe(
      "protocol error",
    );
    expect(categoryOf({ verdict: "not applicable", reasons: ["not applicable: x"] })).toBe("not applicable");
  });
});

describe("Allure and JUnit output", () => {
  test("Allure result: one step per phase, faults as sub-steps, labels and attachments", () => {
    const r = allureResult(
      summary(),
      [{ name: "timeline", type: "image/svg+xml", source: "a-attachment.svg" }],
      "u1",
    ) as {
      status: string;
      steps: { name: string; steps: { name: string }[] }[];
      labels: { name: string; value: string }[];
      attachments: unknown[];
    };
    expect(r.status).toBe("passed");
    expect(r.steps.map((s) => s.name)).toEqual(["phase steady", "phase inject"]);
    expect(r.steps[1].steps[0].name).toMatch(/^leader-kill: SIGKILL node 2/);
    expect(r.labels).toContainEqual({ name: "suite", value: "leader-kill" });
    expect(r.attachments).toHaveLength(1);
    const failed = allureResult(summary({ verdict: "failed", reasons: ["lost: 1"] }), [], "u2") as {
      status: string;
      labels: { name: string; value: string }[];
    };
    expect(failed.status).toBe("failed");
    expect(failed.labels).toContainEqual({ name: "chaos-category", value: "lost write" });
    expect(
      (allureResult(summary({ verdict: "not applicable" }), [], "u3") as { status: string }).status,
    ).toBe("skipped");
  });

  test("writeAllureResult writes the result and its attachment files", () => {
    const dir = mkdtempSync(join(tmpdir(), "gauntlet-allure-"));
    try {
      writeAllureResult(dir, summary(), [
        { name: "svg", type: "image/svg+xml", ext: "svg", content: "<svg/>" },
      ]);
      const files = readdirSync(dir);
      expect(files.filter((f) => f.endsWith("-result.json"))).toHaveLength(1);
      const att = files.find((f) => f.endsWith("-attachment.svg"))!;
      expect(readFileSync(join(dir, att), "utf8")).toBe("<svg/>");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("JUnit XML: failure with the reasons, skipped for not applicable", () => {
    expect(junitXml(summary())).toMatch(/tests="1" failures="0" skipped="0"/);
    const failed = junitXml(summary({ verdict: "failed", reasons: ["lost: 1 <x>"] }));
    expect(failed).toMatch(/<failure message="lost: 1 &lt;x&gt;" type="lost write">/);
    expect(junitXml(summary({ verdict: "not applicable", reasons: ["not applicable: one node"] }))).toMatch(
      /<skipped message="not applicable: one node"\/>/,
    );
  });
});
