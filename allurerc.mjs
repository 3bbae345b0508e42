// Allure 3 configuration for `npm run report` (scripts/report.ts): report name, history across runs,
// the chaos failure categories (label `chaos-category`, set by chaos/report.ts), and environment
// variables (target, versions, seeds) taken from the newest chaos summaries in reports/summary.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const summaries = join(import.meta.dirname, "reports", "summary");

function environment() {
  const vars = { node: process.version };
  if (!existsSync(summaries)) return vars;
  const chaos = readdirSync(summaries)
    .filter((f) => f.startsWith("chaos-") && f.endsWith(".json"))
    .map((f) => {
      try {
        return JSON.parse(readFileSync(join(summaries, f), "utf8"));
      } catch {
        return undefined;
      }
    })
    .filter(Boolean);
  const targets = [...new Set(chaos.map((s) => s.target))].sort();
  if (targets.length) vars.targets = targets.join(", ");
  for (const s of chaos) vars[`seed ${s.scenario}/${s.target}`] = String(s.seed);
  try {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "package.json"), "utf8"));
    vars.gauntlet = pkg.version;
  } catch {}
  if (process.env.GAUNTLET_KAFKA_VERSION) vars.kafka = process.env.GAUNTLET_KAFKA_VERSION;
  else vars.kafka = "4.3.1";
  return vars;
}

const byLabel = (value) => ({ labels: { "chaos-category": value } });

export default {
  name: "Gauntlet",
  output: "reports/allure-report",
  historyPath: "reports/allure-history.jsonl",
  historyLimit: 50,
  variables: environment(),
  categories: [
    { name: "lost write", matchers: [byLabel("lost write"), { statuses: ["failed"], message: /^lost:/m }] },
    {
      name: "duplicate",
      matchers: [byLabel("duplicate"), { statuses: ["failed"], message: /^duplicated:/m }],
    },
    {
      name: "unavailability",
      matchers: [byLabel("unavailability"), { statuses: ["failed"], message: /^(availability|recovery):/m }],
    },
    { name: "protocol error", matchers: [byLabel("protocol error"), { statuses: ["broken"] }] },
    { name: "not applicable", matchers: [byLabel("not applicable"), { statuses: ["skipped"] }] },
  ],
  plugins: {
    awesome: { options: { reportName: "Gauntlet", singleFile: false } },
  },
};
