// `npm run report`: builds the Allure HTML report (Allure 3, config in allurerc.mjs: categories,
// environment variables from the newest chaos summaries, history across runs) from reports/allure-results
// into reports/allure-report. Chaos CLI runs and every vitest run write their results there.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { $, cd } from "zx";

const root = join(import.meta.dirname, "..");
const results = join(root, "reports", "allure-results");
cd(root);
if (!existsSync(results) || !readdirSync(results).some((f) => f.endsWith("-result.json"))) {
  console.error(
    "report: no Allure results in reports/allure-results: run `npm run chaos` or `npm test` first.",
  );
  process.exit(2);
}
$.verbose = true;
await $`npx allure generate reports/allure-results --config allurerc.mjs -o reports/allure-report`;
console.log("report: reports/allure-report/index.html (history: reports/allure-history.jsonl)");
