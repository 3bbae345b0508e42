// vitest global setup of the "conformance" project. Under `npm run conformance` the CLI has already
// started the target and passes it through GAUNTLET_* variables; when vitest is run directly
// (`npx vitest run --project conformance`) this starts the target itself (GAUNTLET_TARGET, default
// the local reference cluster) and stops it at the end. Either way the tests get a RunInfo by
// inject("gauntlet").
import type { TestProject } from "vitest/node";
import { newSeed, parseSeed } from "../harness/seed.ts";
import { parseClients } from "./clients/index.ts";
import { type ConformanceTarget, DEFAULT_TARGET, ENV, type RunInfo } from "./config.ts";
import { type StartedTarget, startTarget } from "./target.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = process.env;
  const target = (env[ENV.target] ?? DEFAULT_TARGET) as ConformanceTarget;
  const seed = env[ENV.seed] ? parseSeed(env[ENV.seed]!) : newSeed();
  let started: StartedTarget | undefined;
  let info: RunInfo;
  if (env[ENV.bootstrap] && (target === "external" || env[ENV.control] !== undefined)) {
    info = {
      target,
      bootstrap: env[ENV.bootstrap]!,
      nodes: Number(env[ENV.nodes] ?? 1),
      clients: parseClients(env[ENV.clients]),
      controlUrl: env[ENV.control] || undefined,
      seed,
      brokerVersion: env[ENV.brokerVersion] ?? "unknown",
    };
  } else {
    started = await startTarget({
      target,
      nodes: env[ENV.nodes] ? Number(env[ENV.nodes]) : undefined,
      bootstrap: env[ENV.bootstrap],
    });
    info = {
      target,
      bootstrap: started.bootstrap,
      nodes: started.nodes,
      clients: parseClients(env[ENV.clients]),
      controlUrl: started.controlUrl,
      seed,
      brokerVersion: started.brokerVersion,
    };
    // The summary reporter runs in this process and reads these.
    env[ENV.brokerVersion] = info.brokerVersion;
    env[ENV.target] = target;
  }
  console.log(
    `conformance: target ${info.target} (${info.brokerVersion}) at ${info.bootstrap}, clients ${info.clients.join(",")}, seed ${info.seed}`,
  );
  project.provide("gauntlet", info);
  return async () => {
    await started?.stop();
  };
}
