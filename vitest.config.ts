import { defineConfig } from "vitest/config";

// One vitest run, several projects. `unit` is pure and fast; `integration` starts real processes
// (brokers, clients, tools) and therefore runs its files one at a time.
export default defineConfig({
  test: {
    setupFiles: ["allure-vitest/setup"],
    reporters: [
      "default",
      ["allure-vitest/reporter", { resultsDir: "reports/allure-results" }],
      ["junit", { outputFile: "reports/junit/vitest.xml" }],
      ["json", { outputFile: "reports/summary/vitest.json" }],
    ],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["{protocol,broker,harness,chaos,scripts,bench}/**/*.test.ts"],
          exclude: ["**/*.it.test.ts", "**/node_modules/**"],
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: [
            "{protocol,broker,harness,chaos}/**/*.it.test.ts",
            "conformance/self-test/**/*.it.test.ts",
          ],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: "conformance",
          include: ["conformance/**/*.test.ts"],
          exclude: ["conformance/self-test/**", "**/node_modules/**"],
          globalSetup: ["conformance/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
