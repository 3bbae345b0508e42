// Reports of a chaos run besides the JSON summary: an Allure result (one step per phase, attachments)
// written straight into an Allure results directory in Allure's results-file format, and JUnit XML.
// Pure builders plus small writers; the runner calls writeRunReports() after every applicable or not
// applicable run. The vitest wrapper tests attach the same files through allure-js-commons instead.
import { createHash, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChaosSummary } from "./runner.ts";

/** The failure categories of the Allure report (label `chaos-category`; see allurerc.mjs). */
export const CHAOS_CATEGORIES = [
  "lost write",
  "duplicate",
  "unavailability",
  "protocol error",
  "not applicable",
] as const;
export type ChaosCategory = (typeof CHAOS_CATEGORIES)[number];

/** Which category a summary falls into (undefined for a pass). First match wins, in order of severity. */
export function categoryOf(summary: Pick<ChaosSummary, "verdict" | "reasons">): ChaosCategory | undefined {
  if (summary.verdict === "passed") return undefined;
  if (summary.verdict === "not applicable") return "not applicable";
  const has = (re: RegExp) => summary.reasons.some((r) => re.test(r));
  if (has(/^lost:/)) return "lost write";
  if (has(/^duplicated:/)) return "duplicate";
  if (has(/^(availability|recovery|failed sends|indeterminate sends):/)) return "unavailability";
  if (has(/^(inconsistentOffsets|unseen|reordered|phantoms|nonmonotonic|skips|malformed):/))
    return "lost write";
  return "protocol error";
}

export interface ReportAttachment {
  name: string;
  /** MIME type, e.g. "application/json", "image/svg+xml". */
  type: string;
  /** File extension without the dot. */
  ext: string;
  content: string | Buffer;
}

type AllureStatus = "passed" | "failed" | "broken" | "skipped";

const statusOf = (summary: ChaosSummary): AllureStatus =>
  summary.verdict === "passed" ? "passed" : summary.verdict === "failed" ? "failed" : "skipped";

/** The Allure test result of a run (attachments by source file name). */
export function allureResult(
  summary: ChaosSummary,
  attachments: { name: string; type: string; source: string }[],
  uuid: string,
): Record<string, unknown> {
  const fullName = `chaos/${summary.scenario}/${summary.target}`;
  const status = statusOf(summary);
  const start = Date.parse(summary.startedAt);
  const category = categoryOf(summary);
  const faultsIn = (p: ChaosSummary["phases"][number]) =>
    summary.faults.filter((f) => f.start >= p.start && f.start <= p.end);
  return {
    uuid,
    historyId: createHash("md5").update(fullName).digest("hex"),
    testCaseId: createHash("md5").update(`chaos/${summary.scenario}`).digest("hex"),
    fullName,
    name: `chaos ${summary.scenario} on ${summary.target}`,
    description: `${summary.description}\n\nReplay: \`${summary.replay}\``,
    status,
    statusDetails: summary.reasons.length ? { message: summary.reasons.join("\n") } : {},
    stage: "finished",
    start,
    stop: start + summary.durationMs,
    labels: [
      { name: "parentSuite", value: "chaos" },
      { name: "suite", value: summary.scenario },
      { name: "subSuite", value: summary.target },
      { name: "feature", value: "chaos" },
      { name: "story", value: summary.scenario },
      { name: "tag", value: summary.target },
      { name: "framework", value: "gauntlet-chaos" },
      ...(category ? [{ name: "chaos-category", value: category }] : []),
    ],
    parameters: [
      { name: "target", value: summary.target },
      { name: "seed", value: String(summary.seed), excluded: true },
      { name: "nodes", value: String(summary.nodes) },
    ],
    links: [],
    steps: summary.phases.map((p) => {
      const phaseLatency = summary.latency[p.name];
      const faults = faultsIn(p);
      return {
        name: `phase ${p.name}`,
        status: p.name === "check" ? status : "passed",
        stage: "finished",
        start: Date.parse(p.start),
        stop: Date.parse(p.end),
        parameters: [
          ...(phaseLatency
            ? [
                { name: "acknowledged sends", value: String(phaseLatency.count) },
                { name: "p50 latency (ms)", value: String(phaseLatency.p50) },
                { name: "p99 latency (ms)", value: String(phaseLatency.p99) },
              ]
            : []),
        ],
        steps: faults.map((f) => ({
          name: `${f.kind}: ${f.description}`,
          status: "passed",
          stage: "finished",
          start: Date.parse(f.start),
          stop: Date.parse(f.end),
          steps: [
            {
              name: f.heal,
              status: "passed",
              stage: "finished",
              start: Date.parse(f.end),
              stop: Date.parse(f.end),
              steps: [],
              attachments: [],
              parameters: [],
            },
          ],
          attachments: [],
          parameters: [],
        })),
        attachments: [],
      };
    }),
    attachments,
  };
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** JUnit XML of a run: one testsuite, one testcase; failed → <failure>, not applicable → <skipped>. */
export function junitXml(summary: ChaosSummary): string {
  const seconds = (summary.durationMs / 1000).toFixed(3);
  const failed = summary.verdict === "failed" ? 1 : 0;
  const skipped = summary.verdict === "not applicable" ? 1 : 0;
  const c = summary.counts as Partial<Record<string, number>>;
  const outcome =
    summary.verdict === "failed"
      ? `\n      <failure message="${xmlEscape(summary.reasons[0] ?? "failed")}" type="${xmlEscape(categoryOf(summary) ?? "failed")}">${xmlEscape(summary.reasons.join("\n"))}</failure>`
      : summary.verdict === "not applicable"
        ? `\n      <skipped message="${xmlEscape(summary.reasons[0] ?? "not applicable")}"/>`
        : "";
  const out = [
    `seed ${summary.seed}; replay: ${summary.replay}`,
    `acknowledged ${c.acknowledged ?? "-"}, lost ${c.lost ?? "-"}, duplicated ${c.duplicated ?? "-"}, longest stall ${summary.longestStallMs ?? "-"} ms`,
    ...summary.faults.map((f) => `${f.start} ${f.kind}: ${f.description} / ${f.heal}`),
  ].join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="chaos" tests="1" failures="${failed}" skipped="${skipped}" time="${seconds}">
  <testsuite name="chaos.${xmlEscape(summary.scenario)}" tests="1" failures="${failed}" skipped="${skipped}" errors="0" time="${seconds}" timestamp="${summary.startedAt}">
    <properties>
      <property name="target" value="${xmlEscape(summary.target)}"/>
      <property name="seed" value="${summary.seed}"/>
      <property name="nodes" value="${summary.nodes}"/>
    </properties>
    <testcase classname="chaos.${xmlEscape(summary.scenario)}" name="${xmlEscape(`${summary.scenario} on ${summary.target}`)}" time="${seconds}">${outcome}
      <system-out>${xmlEscape(out)}</system-out>
    </testcase>
  </testsuite>
</testsuites>
`;
}

/** Writes the Allure result (plus its attachments) into `resultsDir`; returns the result file's path. */
export function writeAllureResult(
  resultsDir: string,
  summary: ChaosSummary,
  attachments: ReportAttachment[],
): string {
  mkdirSync(resultsDir, { recursive: true });
  const uuid = randomUUID();
  const refs = attachments.map((a) => {
    const source = `${randomUUID()}-attachment.${a.ext}`;
    writeFileSync(join(resultsDir, source), a.content);
    return { name: a.name, type: a.type, source };
  });
  const file = join(resultsDir, `${uuid}-result.json`);
  writeFileSync(file, JSON.stringify(allureResult(summary, refs, uuid)));
  return file;
}

export function junitPath(reportsDir: string, scenario: string, target: string): string {
  return join(reportsDir, "junit", `chaos-${scenario}-${target}.xml`);
}

export function writeJunit(reportsDir: string, summary: ChaosSummary): string {
  const file = junitPath(reportsDir, summary.scenario, summary.target);
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, junitXml(summary));
  return file;
}
