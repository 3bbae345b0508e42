// The `reference` target on the process backend: the TypeScript reference broker (broker/src/main.ts)
// as a local process. Single node for now: the broker does not form multi-node clusters yet.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeMetadata } from "../cluster/kafka-probe.ts";
import { allocatePorts, assertPortsFree, LOOPBACK } from "../cluster/ports.ts";
import {
  type ManagedProcess,
  registerCleanupPath,
  registerShutdownHook,
  spawnManaged,
} from "../cluster/process-supervisor.ts";
import type { Address, Cluster, LocalClusterOptions, NodeInfo, TerminateResult } from "../cluster/types.ts";
import { REPO_ROOT } from "../tools.ts";

export const REFERENCE_BROKER_MAIN = join(REPO_ROOT, "broker", "src", "main.ts");

/**
 * Kafka broker configs the reference broker understands, and its flag for each. `options.config`
 * may use these Kafka names (as with the kafka target) or the broker's own setting names (camelCase,
 * as in its --config file).
 */
const KAFKA_CONFIG_FLAGS: Record<string, string> = {
  "group.initial.rebalance.delay.ms": "--group-initial-rebalance-delay-ms",
  "num.partitions": "--num-partitions",
  "auto.create.topics.enable": "--auto-create-topics",
  "socket.request.max.bytes": "--max-frame-bytes",
  "broker.rack": "--rack",
};
const SETTING_FLAGS: Record<string, string> = {
  groupInitialRebalanceDelayMs: "--group-initial-rebalance-delay-ms",
  numPartitions: "--num-partitions",
  autoCreateTopics: "--auto-create-topics",
  maxFrameBytes: "--max-frame-bytes",
  rack: "--rack",
  flush: "--flush",
  logLevel: "--log-level",
  shutdownTimeoutMs: "--shutdown-timeout-ms",
  maxFetchWaitMs: "--max-fetch-wait-ms",
};

/**
 * The broker flags for the harness defaults and `config`: group.initial.rebalance.delay.ms is 0 (as
 * the kafka target sets it) so group joins do not wait 3 s; entries of `config` override defaults.
 * Kafka configs without a reference-broker equivalent are ignored; unknown setting names throw.
 */
export function referenceConfigArgs(config: Record<string, string | number | boolean> = {}): string[] {
  const flags = new Map<string, string>([["--group-initial-rebalance-delay-ms", "0"]]);
  for (const [key, value] of Object.entries(config)) {
    const flag = KAFKA_CONFIG_FLAGS[key] ?? SETTING_FLAGS[key];
    // Other Kafka configs (dotted names such as broker.session.timeout.ms, which scenarios pass to
    // every target) tune machinery the single-node reference broker does not have: ignored.
    if (!flag && key.includes(".")) continue;
    if (!flag) {
      const known = [...Object.keys(KAFKA_CONFIG_FLAGS), ...Object.keys(SETTING_FLAGS)].join(", ");
      throw new Error(`The reference broker does not support the config "${key}" (supported: ${known}).`);
    }
    flags.set(flag, String(value));
  }
  return [...flags].flat();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tailOf(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log file)";
  }
}

export class ReferenceCluster implements Cluster {
  readonly target = "reference";
  private root: string | undefined;
  private node:
    | { dir: string; dataDir: string; logFile: string; port: number; advertised: Address; rack?: string }
    | undefined;
  private proc: ManagedProcess | undefined;
  private paused = false;
  private cleanups: (() => void)[] = [];

  constructor(private readonly options: LocalClusterOptions = {}) {
    if ((options.nodes ?? 1) !== 1) {
      throw new Error(
        "The reference target runs a single node for now: pass nodes: 1 (or use --target kafka).",
      );
    }
  }

  private get nodeOrThrow() {
    if (!this.node) throw new Error("The reference cluster is not started: start() it first.");
    return this.node;
  }

  private checkId(nodeId: number): void {
    if (nodeId !== 1) throw new Error(`Reference node ${nodeId} does not exist (nodes: 1).`);
  }

  async start(): Promise<void> {
    if (this.root) throw new Error("This reference cluster is already started: stop() it first.");
    if (this.options.ports) await assertPortsFree(this.options.ports);
    const root = mkdtempSync(join(this.options.baseDir ?? tmpdir(), "gauntlet-reference-"));
    this.root = root;
    if (!this.options.keepData) this.cleanups.push(registerCleanupPath(root));
    this.cleanups.push(registerShutdownHook(() => this.stop()));
    try {
      const port = this.options.ports?.[0] ?? (await allocatePorts(1))[0];
      const listen = { host: LOOPBACK, port };
      const advertised = this.options.advertise
        ? await this.options.advertise({ nodeId: 1, listen })
        : listen;
      const racks = this.options.racks;
      const rack = typeof racks === "function" ? racks(1) : racks?.[0];
      const dir = join(root, "node-1");
      this.node = {
        dir,
        dataDir: join(dir, "data"),
        logFile: join(dir, "broker.log"),
        port,
        advertised,
        rack,
      };
      mkdirSync(this.node.dataDir, { recursive: true });
      await this.spawn();
    } catch (err) {
      await this.teardown();
      throw err;
    }
  }

  private async spawn(): Promise<void> {
    const node = this.nodeOrThrow;
    const args = [
      "--import",
      "tsx",
      REFERENCE_BROKER_MAIN,
      "--node-id",
      "1",
      "--listen",
      `${LOOPBACK}:${node.port}`,
      "--advertised",
      `${node.advertised.host}:${node.advertised.port}`,
      "--data-dir",
      node.dataDir,
      "--auto-create-topics",
      String(this.options.autoCreateTopics ?? true),
      ...(node.rack ? ["--rack", node.rack] : []),
      ...referenceConfigArgs(this.options.config),
    ];
    this.paused = false;
    this.proc = await spawnManaged({
      name: "reference broker 1",
      command: process.execPath,
      args,
      cwd: REPO_ROOT,
      logFile: node.logFile,
      cleanupPaths: this.options.keepData ? [] : [this.root!],
    });
    const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let problem = "no answer";
    for (;;) {
      if (!this.proc.running) {
        throw new Error(
          `The reference broker exited while starting (exit code ${this.proc.exit?.exitCode ?? this.proc.exit?.signal}). Last lines of ${node.logFile}:\n${tailOf(node.logFile, 40)}`,
        );
      }
      try {
        const md = await probeMetadata(LOOPBACK, node.port, 1500);
        if (md.brokers.some((b) => b.nodeId === 1)) return;
        problem = "broker 1 not in its own Metadata";
      } catch (err) {
        problem = (err as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `The reference broker did not become ready within ${Math.round(timeoutMs / 1000)} s (${problem}). Last lines of ${node.logFile}:\n${tailOf(node.logFile, 40)}`,
        );
      }
      await sleep(200);
    }
  }

  private async teardown(): Promise<void> {
    await this.proc?.terminate(this.options.stopTimeoutMs ?? 10_000);
    if (this.root && !this.options.keepData) rmSync(this.root, { recursive: true, force: true });
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.root = undefined;
    this.node = undefined;
    this.proc = undefined;
  }

  async stop(): Promise<void> {
    await this.teardown();
  }

  nodes(): NodeInfo[] {
    if (!this.node) return [];
    const n = this.node;
    return [
      {
        nodeId: 1,
        host: LOOPBACK,
        port: n.port,
        advertisedHost: n.advertised.host,
        advertisedPort: n.advertised.port,
        pid: this.proc?.running ? this.proc.pid : undefined,
        running: this.proc?.running ?? false,
        paused: this.paused,
        dataDir: n.dataDir,
        logFile: n.logFile,
        rack: n.rack,
        roles: ["broker", "controller"],
      },
    ];
  }

  bootstrapServers(): string {
    const n = this.nodeOrThrow;
    return `${n.advertised.host}:${n.advertised.port}`;
  }

  async kill(nodeId: number): Promise<void> {
    this.checkId(nodeId);
    await this.proc?.kill();
    this.paused = false;
  }

  async terminate(nodeId: number, timeoutMs = 30_000): Promise<TerminateResult> {
    this.checkId(nodeId);
    if (!this.proc?.running) return { clean: true, exitCode: null, signal: null, ms: 0 };
    this.paused = false;
    return this.proc.terminate(timeoutMs);
  }

  async pause(nodeId: number): Promise<void> {
    this.checkId(nodeId);
    if (!this.proc?.running) throw new Error("Reference node 1 is not running, so it cannot be paused.");
    this.proc.signal("SIGSTOP");
    this.paused = true;
  }

  async resume(nodeId: number): Promise<void> {
    this.checkId(nodeId);
    if (!this.proc?.running) throw new Error("Reference node 1 is not running, so it cannot be resumed.");
    this.proc.signal("SIGCONT");
    this.paused = false;
  }

  async restart(nodeId: number): Promise<void> {
    this.checkId(nodeId);
    if (this.proc?.running) await this.terminate(nodeId);
    await this.spawn();
  }

  async wipe(nodeId: number): Promise<void> {
    this.checkId(nodeId);
    if (this.proc?.running) await this.kill(nodeId);
    const n = this.nodeOrThrow;
    rmSync(n.dataDir, { recursive: true, force: true });
    mkdirSync(n.dataDir, { recursive: true });
  }

  async logs(nodeId: number, lines = 200): Promise<string> {
    this.checkId(nodeId);
    return tailOf(this.nodeOrThrow.logFile, lines);
  }

  async addNode(): Promise<NodeInfo> {
    throw new Error(
      "The reference target cannot add nodes yet: the reference broker runs a single node for now.",
    );
  }
}
