// Proves the conformance suite can fail. A single-node Apache Kafka runs behind a mutating proxy
// (mutating-proxy.ts); the raw-protocol conformance tests run through it (a child vitest, target
// "external", no clients). Unmutated, they pass; with one error code rewritten or one record dropped
// per fetch, exactly the tests that observe that behaviour fail.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Cluster, createCluster } from "../../harness/cluster/index.ts";
import { REPO_ROOT } from "../../harness/tools.ts";
import { ENV } from "../config.ts";
import type { ConformanceSummary } from "../summary-reporter.ts";
import { type Mutation, startMutatingProxy } from "./mutating-proxy.ts";

const RAW_FILES = [
  "conformance/tests/topics.test.ts",
  "conformance/tests/produce-fetch.test.ts",
  "conformance/tests/idempotence.test.ts",
];

let cluster: Cluster;
const dir = mkdtempSync(join(tmpdir(), "gauntlet-selftest-"));

beforeAll(async () => {
  cluster = createCluster({ target: "kafka", nodes: 1 });
  await cluster.start();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function runThroughProxy(
  mutation: Mutation,
): Promise<{ summary: ConformanceSummary; mutations: number }> {
  const [host, port] = cluster.bootstrapServers().split(",")[0].split(":");
  const proxy = await startMutatingProxy({ host, port: Number(port) }, mutation);
  const summaryFile = join(dir, `${mutation}.json`);
  try {
    // the child runs asynchronously: the proxy lives in this process's event loop
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        join(REPO_ROOT, "node_modules", ".bin", "vitest"),
        ["run", "--project", "conformance", "--reporter=./conformance/summary-reporter.ts", ...RAW_FILES],
        {
          cwd: REPO_ROOT,
          stdio: "ignore",
          env: {
            ...process.env,
            [ENV.target]: "external",
            [ENV.bootstrap]: `${proxy.host}:${proxy.port}`,
            [ENV.nodes]: "1",
            [ENV.clients]: "none",
            [ENV.control]: "",
            [ENV.seed]: "7",
            [ENV.brokerVersion]: `self-test (${mutation})`,
            GAUNTLET_SUMMARY: summaryFile,
          },
        },
      );
      child.on("exit", (c) => resolve(c ?? 1));
    });
    const summary = JSON.parse(readFileSync(summaryFile, "utf8")) as ConformanceSummary;
    expect(code !== 0).toBe(summary.failed > 0);
    return { summary, mutations: proxy.mutations() };
  } finally {
    await proxy.close();
  }
}

const failedIds = (s: ConformanceSummary) => s.tests.filter((t) => t.status === "failed").map((t) => t.id);

describe("conformance self-test (raw-protocol tests through a mutating proxy)", () => {
  test("unmutated, every raw test passes through the proxy", { timeout: 180_000 }, async () => {
    const { summary } = await runThroughProxy("none");
    expect(failedIds(summary)).toEqual([]);
    expect(summary.passed).toBeGreaterThan(15);
  });

  test("rewriting INVALID_PARTITIONS to INVALID_REQUEST fails exactly the test that expects it", {
    timeout: 180_000,
  }, async () => {
    const { summary, mutations } = await runThroughProxy("error-code");
    expect(mutations).toBeGreaterThan(0);
    expect(failedIds(summary)).toEqual([
      "conformance/tests/topics.test.ts > Topic admin > CreateTopics with 0 partitions fails with INVALID_PARTITIONS",
    ]);
  });

  test("dropping one record per fetched partition fails the tests that read records back", {
    timeout: 180_000,
  }, async () => {
    const { summary, mutations } = await runThroughProxy("drop-record");
    expect(mutations).toBeGreaterThan(0);
    const failed = failedIds(summary);
    expect(failed).toContain(
      "conformance/tests/produce-fetch.test.ts > Produce and fetch > Produce answers the base offset of each batch; Fetch returns the records at those offsets",
    );
    expect(failed).toContain(
      "conformance/tests/idempotence.test.ts > Idempotent producer > a retried batch (same producer id, epoch, sequence) answers the original offset and is stored once",
    );
    // tests that never read records back are unaffected
    expect(failed).not.toContain(
      "conformance/tests/topics.test.ts > Topic admin > CreateTopics with 0 partitions fails with INVALID_PARTITIONS",
    );
  });
});
