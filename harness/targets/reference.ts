// The `reference` target on the process backend: the TypeScript reference broker (broker/src/main.ts)
// as local processes. One node runs the single-node broker; `nodes: N > 1` runs the broker's cluster
// mode: a Raft metadata quorum of all N initial nodes (each with its own data dir, Kafka port and Raft
// port, and its own peer map so `peerAddress` can route every link through its own proxy); `addNode()`
// starts one more node that joins as a learner.
import { randomBytes } from "node:crypto";
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
import type { PeerAddressFn } from "../faults/fault-plane.ts";
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
  "broker.session.timeout.ms": "--session-timeout-ms",
  "broker.heartbeat.interval.ms": "--heartbeat-interval-ms",
  "default.replication.factor": "--default-replication-factor",
  "replica.lag.time.max.ms": "--replica-lag-time-max-ms",
  // values: org.apache.kafka.common.replica.RackAwareReplicaSelector (or LeaderSelector), as for Kafka
  "replica.selector.class": "--replica-selector",
  "offsets.topic.num.partitions": "--offsets-topic-num-partitions",
  "offsets.topic.replication.factor": "--offsets-topic-replication-factor",
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
  sessionTimeoutMs: "--session-timeout-ms",
  heartbeatIntervalMs: "--heartbeat-interval-ms",
  defaultReplicationFactor: "--default-replication-factor",
  replicaLagTimeMaxMs: "--replica-lag-time-max-ms",
  replicaSelector: "--replica-selector",
  offsetsTopicNumPartitions: "--offsets-topic-num-partitions",
  offsetsTopicReplicationFactor: "--offsets-topic-replication-factor",
  raftSnapshotThreshold: "--raft-snapshot-threshold",
  unsafeMutation: "--unsafe-mutation",
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

export interface ReferenceClusterOptions extends LocalClusterOptions {
  /**
   * Per-link routing (cluster mode): the address node `from` uses to reach node `to`'s Raft port
   * (purpose "controller"; Raft and controller RPCs share it). Called for every link of the initial
   * nodes before they start. Nodes added later (addNode) are reached directly.
   */
  peerAddress?: PeerAddressFn;
  /**
   * Serve each node's admin HTTP endpoint (`--admin`: GET /health, Prometheus GET /metrics) on a free
   * loopback port; see `adminUrl(nodeId)`. Default false.
   */
  admin?: boolean;
  /** Extra node.js flags for every broker process (e.g. `--cpu-prof`, `--cpu-prof-dir=<dir>`). */
  nodeArgs?: string[];
}

interface RefNode {
  nodeId: number;
  dir: string;
  dataDir: string;
  logFile: string;
  port: number;
  raftPort: number;
  /** --admin port (with the `admin` option). */
  adminPort?: number;
  advertised: Address;
  rack?: string;
  /** --peers for this node (cluster mode), as it reaches each voter. */
  peers?: string;
  /** --kafka-peers for this node (cluster mode with per-link routing): how it reaches each leader. */
  kafkaPeers?: string;
  /** --join for a node added later. */
  join?: string;
  proc?: ManagedProcess;
  paused: boolean;
}

/** Harness defaults for cluster mode: a short session so fencing tests do not wait 9 s. */
/** Failure detection of harness-started reference clusters (process and docker backends). */
export const REFERENCE_CLUSTER_FLAGS = ["--session-timeout-ms", "3000", "--heartbeat-interval-ms", "300"];

export class ReferenceCluster implements Cluster {
  readonly target = "reference";
  private root: string | undefined;
  private readonly nodeMap = new Map<number, RefNode>();
  private cleanups: (() => void)[] = [];
  private readonly clustered: boolean;
  private readonly clusterId = randomBytes(16).toString("base64url");

  constructor(private readonly options: ReferenceClusterOptions = {}) {
    const n = options.nodes ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new Error(`nodes must be a positive integer, got ${n}.`);
    this.clustered = n > 1;
  }

  private node(nodeId: number): RefNode {
    if (!this.root) throw new Error("The reference cluster is not started: start() it first.");
    const n = this.nodeMap.get(nodeId);
    if (!n) {
      throw new Error(
        `Reference node ${nodeId} does not exist (nodes: ${[...this.nodeMap.keys()].join(", ")}).`,
      );
    }
    return n;
  }

  private rackOf(nodeId: number): string | undefined {
    const racks = this.options.racks;
    return typeof racks === "function" ? racks(nodeId) : racks?.[nodeId - 1];
  }

  private async newNode(nodeId: number, port: number, raftPort: number): Promise<RefNode> {
    const listen = { host: LOOPBACK, port };
    const advertised = this.options.advertise ? await this.options.advertise({ nodeId, listen }) : listen;
    const dir = join(this.root!, `node-${nodeId}`);
    const node: RefNode = {
      nodeId,
      dir,
      dataDir: join(dir, "data"),
      logFile: join(dir, "broker.log"),
      port,
      raftPort,
      advertised,
      rack: this.rackOf(nodeId),
      paused: false,
    };
    if (this.options.admin) [node.adminPort] = await allocatePorts(1);
    mkdirSync(node.dataDir, { recursive: true });
    this.nodeMap.set(nodeId, node);
    return node;
  }

  async start(): Promise<void> {
    if (this.root) throw new Error("This reference cluster is already started: stop() it first.");
    if (this.options.ports) await assertPortsFree(this.options.ports);
    const root = mkdtempSync(join(this.options.baseDir ?? tmpdir(), "gauntlet-reference-"));
    this.root = root;
    if (!this.options.keepData) this.cleanups.push(registerCleanupPath(root));
    this.cleanups.push(registerShutdownHook(() => this.stop()));
    try {
      const count = this.options.nodes ?? 1;
      const ports = this.options.ports ?? (await allocatePorts(count));
      const raftPorts = this.options.controllerPorts ?? (this.clustered ? await allocatePorts(count) : []);
      const nodes: RefNode[] = [];
      for (let i = 0; i < count; i++) nodes.push(await this.newNode(i + 1, ports[i]!, raftPorts[i] ?? 0));
      if (this.clustered) {
        for (const node of nodes) {
          const entries: string[] = [];
          for (const other of nodes) {
            const upstream = { host: LOOPBACK, port: other.raftPort };
            const addr =
              other === node || !this.options.peerAddress
                ? upstream
                : await this.options.peerAddress({
                    from: node.nodeId,
                    to: other.nodeId,
                    purpose: "controller",
                    upstream,
                  });
            entries.push(`${other.nodeId}=${addr.host}:${addr.port}`);
          }
          node.peers = entries.join(",");
          // follower fetchers reach each leader's Kafka port through the link too (purpose replication)
          if (this.options.peerAddress) {
            const kafkaEntries: string[] = [];
            for (const other of nodes) {
              if (other === node) continue;
              const addr = await this.options.peerAddress({
                from: node.nodeId,
                to: other.nodeId,
                purpose: "replication",
                upstream: { host: LOOPBACK, port: other.port },
              });
              kafkaEntries.push(`${other.nodeId}=${addr.host}:${addr.port}`);
            }
            node.kafkaPeers = kafkaEntries.join(",");
          }
        }
      }
      await Promise.all(nodes.map((n) => this.spawn(n, false)));
      await this.waitReady(nodes.map((n) => n.nodeId));
    } catch (err) {
      await this.teardown();
      throw err;
    }
  }

  private args(node: RefNode): string[] {
    return [
      ...(this.options.nodeArgs ?? []),
      "--import",
      "tsx",
      REFERENCE_BROKER_MAIN,
      "--node-id",
      String(node.nodeId),
      "--listen",
      `${LOOPBACK}:${node.port}`,
      "--advertised",
      `${node.advertised.host}:${node.advertised.port}`,
      "--data-dir",
      node.dataDir,
      "--auto-create-topics",
      String(this.options.autoCreateTopics ?? true),
      ...(node.rack ? ["--rack", node.rack] : []),
      ...(node.adminPort ? ["--admin", `${LOOPBACK}:${node.adminPort}`] : []),
      ...(this.clustered
        ? [
            "--cluster-id",
            this.clusterId,
            "--raft-listen",
            `${LOOPBACK}:${node.raftPort}`,
            ...(node.peers ? ["--peers", node.peers] : []),
            ...(node.kafkaPeers ? ["--kafka-peers", node.kafkaPeers] : []),
            ...(node.join ? ["--join", node.join] : []),
            ...REFERENCE_CLUSTER_FLAGS,
          ]
        : []),
      ...referenceConfigArgs(this.options.config),
    ];
  }

  /** Spawns the node's process; with `wait`, resolves once the node lists itself in its Metadata. */
  private async spawn(node: RefNode, wait = true): Promise<void> {
    node.paused = false;
    node.proc = await spawnManaged({
      name: `reference broker ${node.nodeId}`,
      command: process.execPath,
      args: this.args(node),
      cwd: REPO_ROOT,
      logFile: node.logFile,
      cleanupPaths: this.options.keepData ? [] : [this.root!],
    });
    if (wait) await this.waitReady([node.nodeId]);
  }

  /**
   * Resolves when each of `ids` answers Metadata listing every running node of the cluster (for a
   * cluster: registered and unfenced, as seen from that node's applied metadata image).
   */
  private async waitReady(ids: number[]): Promise<void> {
    const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(ids);
    const problems = new Map<number, string>();
    for (;;) {
      const expected = [...this.nodeMap.values()].filter((n) => n.proc?.running).map((n) => n.nodeId);
      for (const id of [...pending]) {
        const node = this.node(id);
        if (!node.proc?.running) {
          throw new Error(
            `Reference broker ${id} exited while starting (exit code ${node.proc?.exit?.exitCode ?? node.proc?.exit?.signal}). Last lines of ${node.logFile}:\n${tailOf(node.logFile, 40)}`,
          );
        }
        try {
          const md = await probeMetadata(LOOPBACK, node.port, 1500);
          const listed = new Set(md.brokers.map((b) => b.nodeId));
          const missing = expected.filter((e) => !listed.has(e));
          // a cluster node answers controller -1 until it has caught up with the metadata log
          if (this.clustered && md.controllerId < 0) problems.set(id, `node ${id} has not caught up yet`);
          else if (missing.length === 0) pending.delete(id);
          else problems.set(id, `brokers ${missing.join(", ")} not in node ${id}'s Metadata`);
        } catch (err) {
          problems.set(id, (err as Error).message);
        }
      }
      if (pending.size === 0) return;
      if (Date.now() > deadline) {
        const id = [...pending][0]!;
        const node = this.node(id);
        throw new Error(
          `Reference broker ${id} did not become ready within ${Math.round(timeoutMs / 1000)} s (${problems.get(id) ?? "no answer"}). Last lines of ${node.logFile}:\n${tailOf(node.logFile, 40)}`,
        );
      }
      await sleep(200);
    }
  }

  private async teardown(): Promise<void> {
    await Promise.all(
      [...this.nodeMap.values()].map((n) => n.proc?.terminate(this.options.stopTimeoutMs ?? 10_000)),
    );
    if (this.root && !this.options.keepData) rmSync(this.root, { recursive: true, force: true });
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.root = undefined;
    this.nodeMap.clear();
  }

  async stop(): Promise<void> {
    await this.teardown();
  }

  nodes(): NodeInfo[] {
    return [...this.nodeMap.values()].map((n) => ({
      nodeId: n.nodeId,
      host: LOOPBACK,
      port: n.port,
      advertisedHost: n.advertised.host,
      advertisedPort: n.advertised.port,
      ...(this.clustered ? { controllerPort: n.raftPort } : {}),
      pid: n.proc?.running ? n.proc.pid : undefined,
      running: n.proc?.running ?? false,
      paused: n.paused,
      dataDir: n.dataDir,
      logFile: n.logFile,
      rack: n.rack,
      roles: n.join ? ["broker"] : ["broker", "controller"],
    }));
  }

  bootstrapServers(): string {
    if (!this.root) throw new Error("The reference cluster is not started: start() it first.");
    return [...this.nodeMap.values()]
      .filter((n) => n.proc?.running)
      .map((n) => `${n.advertised.host}:${n.advertised.port}`)
      .join(",");
  }

  async kill(nodeId: number): Promise<void> {
    const n = this.node(nodeId);
    await n.proc?.kill();
    n.paused = false;
  }

  async terminate(nodeId: number, timeoutMs = 30_000): Promise<TerminateResult> {
    const n = this.node(nodeId);
    if (!n.proc?.running) return { clean: true, exitCode: null, signal: null, ms: 0 };
    n.paused = false;
    return n.proc.terminate(timeoutMs);
  }

  async pause(nodeId: number): Promise<void> {
    const n = this.node(nodeId);
    if (!n.proc?.running) throw new Error(`Reference node ${nodeId} is not running, so it cannot be paused.`);
    n.proc.signal("SIGSTOP");
    n.paused = true;
  }

  async resume(nodeId: number): Promise<void> {
    const n = this.node(nodeId);
    if (!n.proc?.running)
      throw new Error(`Reference node ${nodeId} is not running, so it cannot be resumed.`);
    n.proc.signal("SIGCONT");
    n.paused = false;
  }

  async restart(nodeId: number): Promise<void> {
    const n = this.node(nodeId);
    if (n.proc?.running) await this.terminate(nodeId);
    await this.spawn(n);
  }

  async wipe(nodeId: number): Promise<void> {
    const n = this.node(nodeId);
    if (n.proc?.running) await this.kill(nodeId);
    rmSync(n.dataDir, { recursive: true, force: true });
    mkdirSync(n.dataDir, { recursive: true });
  }

  /** The node's admin endpoint (`http://127.0.0.1:<port>`, with /health and /metrics); needs the `admin` option. */
  adminUrl(nodeId: number): string {
    const n = this.node(nodeId);
    if (!n.adminPort)
      throw new Error("The admin endpoint is off: create the reference cluster with admin: true.");
    return `http://${LOOPBACK}:${n.adminPort}`;
  }

  async logs(nodeId: number, lines = 200): Promise<string> {
    return tailOf(this.node(nodeId).logFile, lines);
  }

  /** Cluster mode: one more node, started empty, added as a Raft learner through node 1 (or any live node). */
  async addNode(): Promise<NodeInfo> {
    if (!this.root) throw new Error("The reference cluster is not started: start() it first.");
    if (!this.clustered) {
      throw new Error(
        "The single-node reference broker cannot add nodes: start the reference cluster with nodes >= 2.",
      );
    }
    const via = [...this.nodeMap.values()].find((n) => n.proc?.running && !n.join);
    if (!via) throw new Error("No running voter to join through.");
    const nodeId = Math.max(...this.nodeMap.keys()) + 1;
    const [port, raftPort] = await allocatePorts(2);
    const node = await this.newNode(nodeId, port!, raftPort!);
    node.join = `${LOOPBACK}:${via.raftPort}`;
    await this.spawn(node);
    return this.nodes().find((n) => n.nodeId === nodeId)!;
  }
}
