// The `kafka` target on the process backend: an N-node Apache Kafka KRaft cluster of local JVMs,
// every node a combined broker+controller (a static controller quorum of all initial nodes); nodes
// added later are brokers only. Everything lives in one temporary directory removed on stop().
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
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
import { javaBin, kafkaLibsDir } from "../tools.ts";
import { kafkaNodeDefaults, writeServerProperties } from "./kafka-config.ts";

const execFileAsync = promisify(execFile);

export interface KafkaClusterOptions extends LocalClusterOptions {
  /** JVM heap per node (default "512m"). */
  heap?: string;
  /** Extra JVM options per node, appended after the defaults. */
  jvmOptions?: string[];
  /**
   * Run the JVMs with the C1 compiler only (-XX:TieredStopAtLevel=1), default true: a 3-node cluster
   * on 2 cores starts markedly faster, at some cost in peak throughput. Set false for benchmarks.
   */
  fastStartup?: boolean;
  /**
   * Stop nodes gracefully (SIGTERM, SIGKILL after stopTimeoutMs) in stop(); default: only with
   * keepData. Without kept data a graceful stop buys nothing and costs ~5 s (the KRaft quorum's
   * shutdown timeout), so the nodes are SIGKILLed.
   */
  gracefulStop?: boolean;
  /**
   * Per-link routing (the node-to-node counterpart of `advertise`; FaultPlane.routeLinks() makes one):
   * decides the address node `from` uses to reach node `to` for replication and controller traffic.
   * When set, every node gets one `FROM_k` listener per node k (own port each), advertises `FROM_k`
   * at peerAddress({ from: k, to: self, purpose: "replication" }) and its own `FROM_self` at the direct
   * port, sets inter.broker.listener.name=FROM_self, and gets its own controller.quorum.voters list
   * naming peerAddress({ from: self, to: X, purpose: "controller" }) for every other voter X. Called
   * again on every start attempt. Nodes added later (addNode) are not supported with it yet.
   */
  peerAddress?: PeerAddressFn;
}

interface KafkaNode {
  nodeId: number;
  roles: ("broker" | "controller")[];
  dir: string;
  dataDir: string;
  logFile: string;
  configFile: string;
  port: number;
  controllerPort?: number;
  advertised: Address;
  /** With peerAddress: the port of listener FROM_k (connections from node k), per k. */
  fromPorts?: Map<number, number>;
  /** With peerAddress: where FROM_k is advertised (the proxy of link k→this node), per k. */
  fromAdvertised?: Map<number, Address>;
  /** With peerAddress: this node's own controller.quorum.voters value. */
  voters?: string;
  rack?: string;
  proc?: ManagedProcess;
  paused: boolean;
}

/** The broker failed to bind a port that was free a moment before; start() retries with new ports. */
class PortRaceError extends Error {}

const LOG4J2_CONFIG = `# Written by the Gauntlet harness: everything to stdout, which goes to the node's log file.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = info
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = warn
`;

/** A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters). */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString("base64url");
    if (!id.startsWith("-")) return id; // Kafka avoids ids that look like command-line flags
  }
}

function tailOf(file: string, lines: number): string {
  try {
    const text = readFileSync(file, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log file)";
  }
}

/**
 * The first ERROR/FATAL lines of a log (with the line after each, where Kafka puts the exception): why
 * a node stopped is logged when it happens, hundreds of shutdown lines before the tail.
 */
function firstErrorsOf(file: string, count = 3): string {
  let lines: string[];
  try {
    lines = readFileSync(file, "utf8").split("\n");
  } catch {
    return "";
  }
  const out: string[] = [];
  for (let i = 0; i < lines.length && out.length < count * 2; i++) {
    if (/^\[[^\]]+\] (ERROR|FATAL) /.test(lines[i]))
      out.push(lines[i], ...(lines[i + 1] ? [lines[i + 1]] : []));
  }
  return out.join("\n");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The name a routed cluster's voter j is known by (controller.quorum.voters and its advertised CONTROLLER). */
const kraftHost = (nodeId: number) => `gauntlet-kraft-${nodeId}`;

/** Where the proxy of the controller link from → to listens: a loopback address of its own. */
export const kraftLinkIp = (from: number, to: number) => `127.0.${from}.${to}`;

/**
 * Node `self`'s hosts file (the JVM's jdk.net.hosts.file, which replaces DNS): itself at 127.0.0.1 and
 * every other voter j at 127.0.self.j, the proxy of link self→j. Whichever way a KRaft follower learns the
 * leader's address (the voters list or the leader's own advertisement), it reaches it through its link.
 */
export function hostsFile(self: number, voters: number[]): string {
  const lines = [`${LOOPBACK} localhost ${hostname()} ${kraftHost(self)}`];
  for (const j of voters) if (j !== self) lines.push(`${kraftLinkIp(self, j)} ${kraftHost(j)}`);
  return `${lines.join("\n")}\n`;
}

export class KafkaCluster implements Cluster {
  readonly target = "kafka";
  private readonly options: KafkaClusterOptions;
  private readonly byId = new Map<number, KafkaNode>();
  private root: string | undefined;
  private clusterId = "";
  private controllerCount = 0;
  private cleanups: (() => void)[] = [];
  /** Milliseconds the last start() took, from spawning the first JVM to all brokers registered. */
  lastStartMs = 0;

  constructor(options: KafkaClusterOptions = {}) {
    const nodes = options.nodes ?? 1;
    if (!Number.isInteger(nodes) || nodes < 1)
      throw new Error(`nodes must be a positive integer, not ${nodes}.`);
    for (const [name, list] of [
      ["ports", options.ports],
      ["controllerPorts", options.controllerPorts],
    ] as const) {
      if (list && list.length !== nodes) throw new Error(`${name} must list one port per node (${nodes}).`);
    }
    this.options = { ...options, nodes };
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  async start(): Promise<void> {
    if (this.root) throw new Error("This Kafka cluster is already started: stop() it first.");
    // Fail fast, with the one-sentence error, when something is missing.
    kafkaLibsDir();
    javaBin();
    const explicit = [...(this.options.ports ?? []), ...(this.options.controllerPorts ?? [])];
    if (explicit.length) await assertPortsFree(explicit);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce();
        return;
      } catch (err) {
        await this.teardown(false);
        if (err instanceof PortRaceError && attempt < 3 && !explicit.length) continue;
        throw err;
      }
    }
  }

  private async startOnce(): Promise<void> {
    const n = this.options.nodes!;
    const root = mkdtempSync(join(this.options.baseDir ?? tmpdir(), "gauntlet-kafka-"));
    this.root = root;
    if (!this.options.keepData) this.cleanups.push(registerCleanupPath(root));
    this.cleanups.push(registerShutdownHook(() => this.stop()));
    this.clusterId = randomClusterId();
    this.controllerCount = n;

    const routed = this.options.peerAddress !== undefined;
    const free = await allocatePorts(2 * n + (routed ? n * n : 0));
    for (let i = 0; i < n; i++) {
      const nodeId = i + 1;
      const port = this.options.ports?.[i] ?? free[2 * i];
      const controllerPort = this.options.controllerPorts?.[i] ?? free[2 * i + 1];
      const node = await this.newNode(nodeId, ["broker", "controller"], port, controllerPort);
      if (routed) {
        node.fromPorts = new Map(Array.from({ length: n }, (_, k) => [k + 1, free[2 * n + i * n + k]]));
      }
      this.byId.set(nodeId, node);
    }
    const nodes = [...this.byId.values()];
    if (routed) await this.routeLinks(nodes);
    for (const node of nodes) {
      this.writeConfig(node);
      if (routed)
        writeFileSync(
          join(node.dir, "hosts"),
          hostsFile(
            node.nodeId,
            nodes.map((v) => v.nodeId),
          ),
        );
    }
    await this.formatAll(nodes);
    const t0 = Date.now();
    await Promise.all(nodes.map((node) => this.spawnNode(node)));
    await this.waitReady(
      nodes,
      nodes.map((node) => node.nodeId),
    );
    this.lastStartMs = Date.now() - t0;
  }

  async stop(): Promise<void> {
    await this.teardown(this.options.gracefulStop ?? this.options.keepData ?? false);
  }

  /** Stops every node (gracefully within stopTimeoutMs when `graceful`) and removes the data. */
  private async teardown(graceful: boolean): Promise<void> {
    const timeout = graceful ? (this.options.stopTimeoutMs ?? 10_000) : 0;
    await Promise.all(
      [...this.byId.values()].map(async (node) => {
        if (!node.proc?.running) return;
        if (timeout > 0) await node.proc.terminate(timeout);
        else await node.proc.kill();
      }),
    );
    if (this.root && !this.options.keepData) rmSync(this.root, { recursive: true, force: true });
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.byId.clear();
    this.root = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Nodes

  private async newNode(
    nodeId: number,
    roles: KafkaNode["roles"],
    port: number,
    controllerPort?: number,
  ): Promise<KafkaNode> {
    const dir = join(this.root!, `node-${nodeId}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "log4j2.properties"), LOG4J2_CONFIG);
    const listen = { host: LOOPBACK, port };
    const advertised = this.options.advertise ? await this.options.advertise({ nodeId, listen }) : listen;
    const racks = this.options.racks;
    const rack = typeof racks === "function" ? racks(nodeId) : racks?.[nodeId - 1];
    return {
      nodeId,
      roles,
      dir,
      dataDir: join(dir, "data"),
      logFile: join(dir, "server.log"),
      configFile: join(dir, "server.properties"),
      port,
      controllerPort,
      advertised,
      rack,
      paused: false,
    };
  }

  /**
   * Asks peerAddress for every directed link: where each node advertises FROM_k (link k→node, for
   * replication) and each node's own voters list (link node→voter, for controller traffic).
   */
  private async routeLinks(nodes: KafkaNode[]): Promise<void> {
    const peerAddress = this.options.peerAddress!;
    const voters = nodes.filter((v) => v.roles.includes("controller"));
    for (const node of nodes) {
      node.fromAdvertised = new Map();
      for (const [k, port] of node.fromPorts!) {
        const upstream = { host: LOOPBACK, port };
        const address =
          k === node.nodeId
            ? upstream
            : await peerAddress({ from: k, to: node.nodeId, purpose: "replication", upstream });
        node.fromAdvertised.set(k, { host: address.host, port: address.port });
      }
      // Controller links: every voter is named kraftHost(j) at its controller port, everywhere; node k's
      // hosts file maps that name to 127.0.k.j, where the proxy of link k→j listens (see hostsFile()).
      for (const voter of voters) {
        if (voter.nodeId === node.nodeId) continue;
        const listen = { host: kraftLinkIp(node.nodeId, voter.nodeId), port: voter.controllerPort! };
        const upstream = { host: LOOPBACK, port: voter.controllerPort! };
        const address = await peerAddress({
          from: node.nodeId,
          to: voter.nodeId,
          purpose: "controller",
          upstream,
          listen,
        });
        if (address.host !== listen.host || address.port !== listen.port) {
          throw new Error(
            `Kafka's controller link ${node.nodeId}→${voter.nodeId} needs its proxy at ${listen.host}:${listen.port}, but peerAddress gave ${address.host}:${address.port}.`,
          );
        }
      }
      const entries = voters.map((v) => `${v.nodeId}@${kraftHost(v.nodeId)}:${v.controllerPort}`);
      node.voters = entries.join(",");
    }
  }

  private node(nodeId: number): KafkaNode {
    const node = this.byId.get(nodeId);
    if (!node) {
      const ids = [...this.byId.keys()].join(", ") || "none: the cluster is not started";
      throw new Error(`Kafka node ${nodeId} does not exist (nodes: ${ids}).`);
    }
    return node;
  }

  private writeConfig(node: KafkaNode): void {
    const n = this.controllerCount;
    const voters = [...this.byId.values()]
      .filter((v) => v.roles.includes("controller"))
      .map((v) => `${v.nodeId}@${LOOPBACK}:${v.controllerPort}`)
      .join(",");
    const isController = node.roles.includes("controller");
    const listeners = [`PLAINTEXT://${LOOPBACK}:${node.port}`];
    if (isController) listeners.push(`CONTROLLER://${LOOPBACK}:${node.controllerPort}`);
    const advertised = [`PLAINTEXT://${node.advertised.host}:${node.advertised.port}`];
    // Routed: KRaft followers connect to the address the leader advertises for itself, so it must be
    // the name each node's hosts file points at its own link proxy (not the direct port).
    if (isController && node.voters)
      advertised.push(`CONTROLLER://${kraftHost(node.nodeId)}:${node.controllerPort}`);
    const names = ["PLAINTEXT", "CONTROLLER"];
    // Per-link routing: one FROM_k listener per node k, advertised at the proxy of link k→node.
    for (const [k, port] of node.fromPorts ?? []) {
      const at = node.fromAdvertised?.get(k) ?? { host: LOOPBACK, port };
      listeners.push(`FROM_${k}://${LOOPBACK}:${port}`);
      advertised.push(`FROM_${k}://${at.host}:${at.port}`);
      names.push(`FROM_${k}`);
    }
    const config: Record<string, string | number | boolean> = {
      "process.roles": node.roles.join(","),
      "node.id": node.nodeId,
      "controller.quorum.voters": node.voters ?? voters,
      "controller.listener.names": "CONTROLLER",
      listeners: listeners.join(","),
      "advertised.listeners": advertised.join(","),
      "listener.security.protocol.map": names.map((name) => `${name}:PLAINTEXT`).join(","),
      "inter.broker.listener.name": node.fromPorts ? `FROM_${node.nodeId}` : "PLAINTEXT",
      "log.dirs": node.dataDir,
      ...kafkaNodeDefaults(n, this.options, node.rack),
      ...this.options.config,
    };
    writeServerProperties(node.configFile, config);
  }

  private jvmArgs(node: KafkaNode): string[] {
    return [
      `-Xmx${this.options.heap ?? "512m"}`,
      "-Xms64m",
      "-XX:+UseSerialGC",
      "-XX:-UsePerfData", // no /tmp/hsperfdata files left behind by a SIGKILLed JVM
      "-XX:+ExitOnOutOfMemoryError",
      "-Djava.awt.headless=true",
      ...(this.options.fastStartup === false ? [] : ["-XX:TieredStopAtLevel=1"]),
      `-Dlog4j2.configurationFile=${join(node.dir, "log4j2.properties")}`,
      ...(node.voters ? [`-Djdk.net.hosts.file=${join(node.dir, "hosts")}`] : []),
      ...(this.options.jvmOptions ?? []),
    ];
  }

  private async format(node: KafkaNode): Promise<void> {
    const args = [
      ...this.jvmArgs(node),
      "-cp",
      `${kafkaLibsDir()}/*`,
      "kafka.tools.StorageTool",
      "format",
      "--cluster-id",
      this.clusterId,
      "--config",
      node.configFile,
      "--ignore-formatted",
    ];
    try {
      await execFileAsync(javaBin(), args, { timeout: 60_000 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      const output = `${e.stdout ?? ""}${e.stderr ?? ""}`.trim() || e.message;
      throw new Error(`Formatting the storage of Kafka node ${node.nodeId} failed:\n${output}`);
    }
  }

  /**
   * Formats the first node with Kafka's storage tool and the others by replicating its result: a
   * KRaft storage directory with static voters holds only bootstrap.checkpoint (the same on every
   * node) and meta.properties (per node: node.id and a random directory.id). One JVM instead of N
   * saves seconds on a 2-core machine.
   */
  private async formatAll(nodes: KafkaNode[]): Promise<void> {
    const [first, ...rest] = nodes;
    await this.format(first);
    const checkpoint = join(first.dataDir, "bootstrap.checkpoint");
    const meta = readFileSync(join(first.dataDir, "meta.properties"), "utf8");
    if (!existsSync(checkpoint) || !/^version=1$/m.test(meta)) {
      await Promise.all(rest.map((node) => this.format(node)));
      return;
    }
    for (const node of rest) {
      mkdirSync(node.dataDir, { recursive: true });
      copyFileSync(checkpoint, join(node.dataDir, "bootstrap.checkpoint"));
      const props = `version=1\ncluster.id=${this.clusterId}\nnode.id=${node.nodeId}\ndirectory.id=${randomClusterId()}\n`;
      writeFileSync(join(node.dataDir, "meta.properties"), props);
    }
  }

  private async spawnNode(node: KafkaNode): Promise<void> {
    node.paused = false;
    node.proc = await spawnManaged({
      name: `kafka node ${node.nodeId}`,
      command: javaBin(),
      args: [...this.jvmArgs(node), "-cp", `${kafkaLibsDir()}/*`, "kafka.Kafka", node.configFile],
      logFile: node.logFile,
      cwd: node.dir,
      cleanupPaths: this.options.keepData ? [] : [node.dir],
      rmdirIfEmpty: this.options.keepData ? [] : [this.root!],
    });
  }

  /**
   * Waits until every node in `nodes` answers Metadata on its own client port listing every broker
   * in `expectBrokers`. A node that exits, or is not ready within the bound, fails with its log tail.
   */
  private async waitReady(nodes: KafkaNode[], expectBrokers: number[]): Promise<void> {
    const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(nodes);
    const lastProblem = new Map<KafkaNode, string>();
    while (pending.size) {
      for (const node of [...pending]) {
        if (!node.proc?.running) {
          const log = tailOf(node.logFile, 40);
          // the bind failure is logged at start-up, hundreds of shutdown lines before the tail
          if (/BindException|Address already in use/.test(tailOf(node.logFile, 5000))) {
            throw new PortRaceError(`Kafka node ${node.nodeId} could not bind its port.`);
          }
          const exit = node.proc?.exit;
          const errors = firstErrorsOf(node.logFile);
          throw new Error(
            `Kafka node ${node.nodeId} exited while starting (exit code ${exit?.exitCode ?? exit?.signal}).` +
              (errors ? ` First errors in ${node.logFile}:\n${errors}\n` : "") +
              ` Last lines of ${node.logFile}:\n${log}`,
          );
        }
        try {
          const md = await probeMetadata(LOOPBACK, node.port, 1500);
          const registered = new Set(md.brokers.map((b) => b.nodeId));
          const missing = expectBrokers.filter((id) => !registered.has(id));
          if (missing.length === 0) pending.delete(node);
          else lastProblem.set(node, `brokers ${missing.join(", ")} not yet registered`);
        } catch (err) {
          lastProblem.set(node, `client port ${node.port}: ${(err as Error).message}`);
        }
      }
      if (!pending.size) return;
      if (Date.now() > deadline) {
        const node = [...pending][0];
        throw new Error(
          `Kafka node ${node.nodeId} did not become ready within ${Math.round(timeoutMs / 1000)} s (${lastProblem.get(node) ?? "no answer"}). Last lines of ${node.logFile}:\n${tailOf(node.logFile, 40)}`,
        );
      }
      await sleep(200);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Cluster interface

  nodes(): NodeInfo[] {
    return [...this.byId.values()].map((node) => ({
      nodeId: node.nodeId,
      host: LOOPBACK,
      port: node.port,
      advertisedHost: node.advertised.host,
      advertisedPort: node.advertised.port,
      controllerPort: node.controllerPort,
      pid: node.proc?.running ? node.proc.pid : undefined,
      running: node.proc?.running ?? false,
      paused: node.paused,
      dataDir: node.dataDir,
      logFile: node.logFile,
      rack: node.rack,
      roles: [...node.roles],
    }));
  }

  /** The pids of every running process (for leak checks and the CLI's state file). */
  processGroups(): number[] {
    return [...this.byId.values()].flatMap((node) => (node.proc?.running ? [node.proc.pgid] : []));
  }

  /** The cluster's temporary directory. */
  rootDir(): string | undefined {
    return this.root;
  }

  bootstrapServers(): string {
    const all = [...this.byId.values()];
    const running = all.filter((node) => node.proc?.running);
    return (running.length ? running : all).map((n) => `${n.advertised.host}:${n.advertised.port}`).join(",");
  }

  async kill(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    await node.proc?.kill();
    node.paused = false;
  }

  async terminate(nodeId: number, timeoutMs = 30_000): Promise<TerminateResult> {
    const node = this.node(nodeId);
    if (!node.proc?.running) return { clean: true, exitCode: null, signal: null, ms: 0 };
    const result = await node.proc.terminate(timeoutMs);
    node.paused = false;
    return result;
  }

  async pause(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (!node.proc?.running) throw new Error(`Kafka node ${nodeId} is not running, so it cannot be paused.`);
    node.proc.signal("SIGSTOP");
    node.paused = true;
  }

  async resume(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (!node.proc?.running) throw new Error(`Kafka node ${nodeId} is not running, so it cannot be resumed.`);
    node.proc.signal("SIGCONT");
    node.paused = false;
  }

  async restart(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (node.proc?.running) await this.terminate(nodeId);
    if (!existsSync(join(node.dataDir, "meta.properties"))) await this.format(node);
    await this.spawnNode(node);
    await this.waitReady([node], [nodeId]);
  }

  async wipe(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (node.proc?.running) await this.kill(nodeId);
    rmSync(node.dataDir, { recursive: true, force: true });
    await this.format(node);
  }

  async logs(nodeId: number, lines = 200): Promise<string> {
    return tailOf(this.node(nodeId).logFile, lines);
  }

  async addNode(): Promise<NodeInfo> {
    if (!this.root) throw new Error("Start the Kafka cluster before adding nodes to it.");
    if (this.options.peerAddress) {
      throw new Error(
        "Adding a node to a Kafka cluster with per-link routing (peerAddress) is not supported yet: every existing broker would need a FROM_<new> listener; start the cluster with all its nodes instead.",
      );
    }
    const nodeId = Math.max(...this.byId.keys()) + 1;
    const [port] = await allocatePorts(1);
    const node = await this.newNode(nodeId, ["broker"], port);
    this.byId.set(nodeId, node);
    try {
      this.writeConfig(node);
      await this.format(node);
      await this.spawnNode(node);
      await this.waitReady(
        [node],
        [...this.byId.values()].filter((n) => n.proc?.running).map((n) => n.nodeId),
      );
    } catch (err) {
      await node.proc?.kill();
      this.byId.delete(nodeId);
      rmSync(node.dir, { recursive: true, force: true });
      throw err;
    }
    return this.nodes().find((n) => n.nodeId === nodeId)!;
  }
}
