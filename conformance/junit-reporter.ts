// vitest's JUnit reporter writing reports/junit/conformance-<target>.xml (the root config's junit
// reporter options would otherwise win over a command-line --outputFile).
import { join, resolve } from "node:path";
import { JUnitReporter } from "vitest/reporters";
import { REPO_ROOT } from "../harness/tools.ts";
import { ENV } from "./config.ts";

/** GAUNTLET_JUNIT overrides the file (npm test names one per run, e.g. conformance-reference-3.xml). */
export function junitPath(target: string): string {
  const override = process.env.GAUNTLET_JUNIT;
  if (override) return resolve(REPO_ROOT, override);
  return join(REPO_ROOT, "reports", "junit", `conformance-${target}.xml`);
}

export default class ConformanceJUnitReporter extends JUnitReporter {
  constructor() {
    super({ outputFile: junitPath(process.env[ENV.target] ?? "reference"), suiteName: "conformance" });
  }
}
