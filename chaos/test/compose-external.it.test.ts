// docker-compose.yml end to end: the 3-node reference cluster behind its Toxiproxy, brought up with
// this machine's compose (Debian's docker-compose here), judged as an external target whose network
// Gauntlet controls through the compose Toxiproxy (partition-leader-isolated must really stall the
// leader and still lose nothing), then `down -v` leaves no container, network or volume of the project.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { probeMetadata } from "../../harness/cluster/kafka-probe.ts";
import { allocatePorts } from "../../harness/cluster/ports.ts";
import { registerShutdownHook } from "../../harness/cluster/process-supervisor.ts";
import { composeCommand } from "../../harness/docker/compose.ts";
import { dockerMissing } from "../../harness/docker/engine.ts";
import { REPO_ROOT } from "../../harness/tools.ts";
import { buildComposeImages } from "../../scripts/compose-images.ts";
import { runScenario } from "../runner.ts";
import { partitionLeaderIsolated } from "../scenarios/partitions.ts";

const compose = composeCommand();
const missing = (await dockerMissing()) ?? (compose ? undefined : "no docker compose: run `npm run setup`");
if (missing) console.warn(`compose-external.it.test.ts skipped: ${missing}`);
const reportsDir = mkdtempSync(join(tmpdir(), "gauntlet-compose-"));
afterAll(() => rmSync(reportsDir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test.skipIf(!!missing)(
  "docker-compose.yml serves a 3-node reference cluster whose network Gauntlet faults as an external target",
  async () => {
    const [p1, p2, p3, api] = await allocatePorts(4);
    const project = `gauntlet-compose-${process.pid}`;
    const env = {
      ...process.env,
      GAUNTLET_PORT_1: String(p1),
      GAUNTLET_PORT_2: String(p2),
      GAUNTLET_PORT_3: String(p3),
      GAUNTLET_TOXIPROXY_PORT: String(api),
    };
    const run = (...args: string[]) => {
      const r = spawnSync(compose![0], [...compose!.slice(1), "-p", project, ...args], {
        cwd: REPO_ROOT,
        env,
        encoding: "utf8",
        timeout: 120_000,
      });
      if (r.status !== 0) throw new Error(`compose ${args.join(" ")} failed: ${r.stderr || r.stdout}`);
      return r.stdout;
    };
    const down = () => run("down", "-v", "--remove-orphans");
    await buildComposeImages();
    const unregister = registerShutdownHook(async () => {
      down();
    });
    try {
      run("up", "-d");
      const deadline = Date.now() + 60_000;
      for (;;) {
        const md = await probeMetadata("127.0.0.1", p1, 1500).catch(() => undefined);
        if (md && md.brokers.length === 3 && md.controllerId > 0) break;
        if (Date.now() > deadline)
          throw new Error(`the compose cluster did not serve: ${run("logs", "--tail", "20")}`);
        await sleep(300);
      }
      const lines: string[] = [];
      const summary = await runScenario({
        scenario: partitionLeaderIsolated,
        target: "external",
        bootstrapServers: `127.0.0.1:${p1},127.0.0.1:${p2},127.0.0.1:${p3}`,
        toxiproxyUrl: `http://127.0.0.1:${api}`,
        nodes: 3,
        rounds: 1,
        seed: 11,
        warmupMs: 3000,
        steadyMs: 3000,
        settleMs: 2000,
        reportsDir,
        progress: true,
        write: (line) => lines.push(line),
      });
      expect(summary.verdict, lines.join("\n")).toBe("passed");
      expect(summary.faults.length).toBeGreaterThanOrEqual(1);
      // the isolation really cut the leader off: acknowledgements stopped until a new leader took over
      expect(summary.longestStallMs ?? 0).toBeGreaterThan(1000);
      expect(summary.counts.lost ?? 0).toBe(0);
    } finally {
      down();
      unregister();
    }
    const label = `label=com.docker.compose.project=${project}`;
    const list = (...args: string[]) => execFileSync("docker", args, { encoding: "utf8" }).trim();
    expect(list("ps", "-aq", "--filter", label)).toBe("");
    expect(list("network", "ls", "-q", "--filter", label)).toBe("");
    expect(list("volume", "ls", "-q", "--filter", label)).toBe("");
  },
  300_000,
);
