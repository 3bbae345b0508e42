// The docker backend: the same Cluster interface as the process backend, with every node a
// container (testcontainers GenericContainer) on a user-defined bridge network of its own. Images
// come from images.ts (built from local parts, no registry). Ryuk is disabled: every container and
// network carries gauntlet.run=<run id>, stop() removes them by label, a reaper process (reaper.mjs)
// does it when the harness dies, and start() first sweeps what dead runs left (cleanup.ts).
//
// Node layout: the client listener is published on 127.0.0.1:<host port> and advertised there (or
// where `advertise` says); Kafka's inter-broker (INTERNAL) and controller listeners stay on the
// network, reached by alias node-<id>. Each node's data dir is a host directory bind-mounted at
// /data (wipe = delete it on the host), its config dir at /config, and its output goes to a host
// log file (attached before each container start, so nothing is missed).
import { randomBytes } from "node:crypto";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type Dockerode from "dockerode";
import type { GenericContainer, StartedTestContainer } from "testcontainers";
import { probeMetadata } from "../cluster/kafka-probe.ts";
import { allocatePorts, assertPortsFree, LOOPBACK } from "../cluster/ports.ts";
import { registerCleanupPath, registerShutdownHook } from "../cluster/process-supervisor.ts";
import type { Address, Cluster, NodeInfo, TerminateResult } from "../cluster/types.ts";
import type { KafkaClusterOptions } from "../targets/kafka.ts";
import { kafkaNodeDefaults, writeServerProperties } from "../targets/kafka-config.ts";
import { REFERENCE_CLUSTER_FLAGS, referenceConfigArgs } from "../targets/reference.ts";
import { type Reaper, removeRun, runLabels, startReaper, sweepDeadRuns } from "./cleanup.ts";
import { loadTestcontainers, requireEngine } from "./engine.ts";
import { ensureKafkaImage, ensureReferenceImage, IMAGE_PATHS } from "./images.ts";
import { type ImageProfile, renderProfile } from "./profile.ts";

export type DockerTarget = "kafka" | "reference" | "image";

export interface DockerClusterOptions extends KafkaClusterOptions {
  target: DockerTarget;
  /** Use this image instead of building one from local parts (required for target "image"). */
  image?: string;
  /** Target "image": how to run the image's nodes (harness/docker/profile.ts). */
  profile?: ImageProfile;
  /**
   * Join this existing docker network (e.g. FaultPlane.open({ docker: true }).network, where the
   * Toxiproxy container is) instead of creating one; the cluster never removes it.
   */
  network?: string;
}

const CLIENT_PORT = 9092;
const INTERNAL_PORT = 19092;
const CONTROLLER_PORT = 9093;
const READY_LOG: Record<Exclude<DockerTarget, "image">, RegExp> = {
  kafka: /Kafka Server started/,
  reference: /"msg":"broker ready"/,
};

const LOG4J2_CONFIG = `# Written by the Gauntlet harness: everything to stdout (the container's log).
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = info
`;

interface DockerNode {
  nodeId: number;
  roles: ("broker" | "controller")[];
  dir: string;
  dataDir: string;
  configDir: string;
  logFile: string;
  hostPort: number;
  advertised: Address;
  rack?: string;
  containerId?: string;
  /** Reference cluster: --peers and --kafka-peers values (through link proxies with peerAddress). */
  peers?: string;
  kafkaPeers?: string;
  pid?: number;
  running: boolean;
  paused: boolean;
  /** Output of the current container run (for the ready line and error messages), capped. */
  output: string;
  exit?: Promise<number>;
  exitCode?: number | null;
}

/** Docker could not publish a port that was free a moment before; start() retries with new ports. */
class PortClashError extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}

function tailText(text: string, lines = 40): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n") || "(no output)";
}

function tailOf(file: string, lines: number): string {
  try {
    return tailText(readFileSync(file, "utf8"), lines);
  } catch {
    return "(no log file)";
  }
}

function isPortClash(err: unknown): boolean {
  return /port is already allocated|address already in use|bind for .* failed/i.test(String(err));
}

type Testcontainers = Awaited<ReturnType<typeof loadTestcontainers>>;

/**
 * A GenericContainer whose published ports bind 127.0.0.1 only, with docker-init as PID 1 and a hook
 * between create and start (to attach to its output before it runs). Made on first use, since
 * testcontainers is loaded lazily.
 */
function nodeContainer(
  tc: Testcontainers,
  image: string,
  onCreated: (containerId: string) => Promise<void>,
): GenericContainer {
  class NodeContainer extends tc.GenericContainer {
    protected override async beforeContainerCreated(): Promise<void> {
      for (const bindings of Object.values(this.hostConfig.PortBindings ?? {}) as { HostIp?: string }[][]) {
        for (const binding of bindings) binding.HostIp = LOOPBACK;
      }
      // tini forwards SIGTERM to a PID 1 that installed no handler; SIGKILL still kills everything.
      this.hostConfig.Init = true;
    }

    protected override async containerCreated(containerId: string): Promise<void> {
      await onCreated(containerId);
    }
  }
  return new NodeContainer(image);
}

export class DockerCluster implements Cluster {
  readonly target: DockerTarget;
  private readonly options: DockerClusterOptions;
  private readonly byId = new Map<number, DockerNode>();
  private runId = "";
  private root: string | undefined;
  private image = "";
  private networkName: string | undefined;
  private reaper: Reaper | undefined;
  private clusterId = "";
  private controllerCount = 0;
  private cleanups: (() => void)[] = [];
  private started: StartedTestContainer[] = [];
  /** Milliseconds the last start() took from the first container start to all brokers registered. */
  lastStartMs = 0;
  /** Milliseconds the last start() spent making sure the image exists (0 when it was cached). */
  lastImageMs = 0;

  constructor(options: DockerClusterOptions) {
    const nodes = options.nodes ?? 1;
    if (!Number.isInteger(nodes) || nodes < 1)
      throw new Error(`nodes must be a positive integer, not ${nodes}.`);
    if (options.ports && options.ports.length !== nodes)
      throw new Error(`ports must list one port per node (${nodes}).`);
    if (options.peerAddress && !options.network) {
      throw new Error(
        "Per-link routing (peerAddress) on the docker backend needs the proxies on the cluster's network: open the fault plane with docker: true and pass network: plane.network.",
      );
    }
    if (options.peerAddress && options.target === "kafka") {
      throw new Error(
        "Per-link routing (peerAddress) of Apache Kafka is not supported on the docker backend yet: use the process backend for Kafka link faults.",
      );
    }
    if (options.target === "image" && options.peerAddress) {
      throw new Error(
        "Per-link routing (peerAddress) is not supported for an image target yet: its profile names peers by alias; use the reference target for link faults.",
      );
    }
    if (options.target === "image" && (!options.image || !options.profile))
      throw new Error(
        "The image target needs an image name and a profile (--target image:<name> --profile <file>).",
      );
    this.target = options.target;
    this.options = { ...options, nodes };
  }

  /** The output line that says a node started. */
  private get readyLog(): RegExp {
    return this.target === "image" ? new RegExp(this.options.profile!.ready) : READY_LOG[this.target];
  }

  /** The container port clients use. */
  private get clientPort(): number {
    return this.target === "image" ? this.options.profile!.clientPort : CLIENT_PORT;
  }

  /** The run id labelling everything this cluster created (empty before start). */
  get run(): string {
    return this.runId;
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  async start(): Promise<void> {
    if (this.root) throw new Error("This docker cluster is already started: stop() it first.");
    await requireEngine();
    if (this.options.ports) await assertPortsFree(this.options.ports);
    if (this.target === "image") await this.requireImage(this.options.image!);
    await sweepDeadRuns();
    const t0 = Date.now();
    this.image =
      this.options.image ??
      (this.target === "kafka" ? (await ensureKafkaImage()).tag : (await ensureReferenceImage()).tag);
    if (this.target === "image" && !this.options.profile)
      throw new Error("The image target needs a profile.");
    this.lastImageMs = Date.now() - t0;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce();
        return;
      } catch (err) {
        await this.teardown(false);
        if (err instanceof PortClashError && attempt < 3 && !this.options.ports) continue;
        if (err instanceof PortClashError) {
          throw new Error(
            `A port of the docker cluster is already in use on ${LOOPBACK} (${err.message}); everything the run created was removed.`,
          );
        }
        throw err;
      }
    }
  }

  /** The image target's image must exist locally: nothing is pulled (there may be no registry). */
  private async requireImage(image: string): Promise<void> {
    const docker = (await (await loadTestcontainers()).getContainerRuntimeClient()).container.dockerode;
    try {
      await docker.getImage(image).inspect();
    } catch {
      throw new Error(
        `The image ${image} is not in the local docker engine: build or load it first (docker build / docker load); Gauntlet does not pull images.`,
      );
    }
  }

  private async startOnce(): Promise<void> {
    const n = this.options.nodes!;
    this.runId = `gauntlet-${process.pid}-${randomBytes(3).toString("hex")}`;
    const root = mkdtempSync(join(this.options.baseDir ?? tmpdir(), `gauntlet-docker-${this.target}-`));
    this.root = root;
    if (!this.options.keepData) this.cleanups.push(registerCleanupPath(root));
    this.cleanups.push(registerShutdownHook(() => this.stop()));
    this.reaper = startReaper(this.runId, this.options.keepData ? [] : [root]);
    this.clusterId = randomClusterId();
    this.controllerCount = this.target === "kafka" ? n : 0;
    const tc = await loadTestcontainers();
    const client = await tc.getContainerRuntimeClient();
    if (this.options.network) {
      this.networkName = this.options.network;
    } else {
      await client.network.create({
        Name: this.runId,
        CheckDuplicate: true,
        Driver: "bridge",
        Labels: runLabels(this.runId),
      });
      this.networkName = this.runId;
    }

    const ports = this.options.ports ?? (await allocatePorts(n));
    for (let i = 0; i < n; i++) {
      const node = await this.newNode(i + 1, ["broker", "controller"], ports[i]);
      this.byId.set(node.nodeId, node);
    }
    const nodes = [...this.byId.values()];
    if (this.target === "kafka") {
      for (const node of nodes) this.writeKafkaConfig(node);
      await this.formatKafka(nodes);
    } else if (this.target === "reference" && nodes.length > 1) {
      for (const node of nodes) await this.routeReferencePeers(node, nodes);
    }
    const t0 = Date.now();
    await Promise.all(nodes.map((node) => this.startContainer(node)));
    await this.waitReady(
      nodes,
      nodes.map((node) => node.nodeId),
    );
    this.lastStartMs = Date.now() - t0;
  }

  async stop(): Promise<void> {
    const graceful = this.options.gracefulStop ?? this.options.keepData ?? this.target === "reference";
    await this.teardown(graceful);
  }

  private async teardown(graceful: boolean): Promise<void> {
    if (graceful) {
      const timeout = this.options.stopTimeoutMs ?? 10_000;
      await Promise.all(
        [...this.byId.values()]
          .filter((n) => n.running)
          .map((n) => this.terminate(n.nodeId, timeout).catch(() => {})),
      );
    }
    if (this.runId) await removeRun(this.runId);
    this.networkName = undefined;
    this.started = [];
    if (this.root && !this.options.keepData) rmSync(this.root, { recursive: true, force: true });
    this.reaper?.done();
    this.reaper = undefined;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.byId.clear();
    this.root = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Nodes

  private async newNode(nodeId: number, roles: DockerNode["roles"], hostPort: number): Promise<DockerNode> {
    const dir = join(this.root!, `node-${nodeId}`);
    const node: DockerNode = {
      nodeId,
      roles,
      dir,
      dataDir: join(dir, "data"),
      configDir: join(dir, "config"),
      logFile: join(dir, this.target === "kafka" ? "server.log" : "broker.log"),
      hostPort,
      advertised: { host: LOOPBACK, port: hostPort },
      running: false,
      paused: false,
      output: "",
    };
    mkdirSync(node.dataDir, { recursive: true });
    mkdirSync(node.configDir, { recursive: true });
    const listen = { host: LOOPBACK, port: hostPort };
    const internal = { host: this.alias(nodeId), port: this.clientPort };
    if (this.options.advertise) node.advertised = await this.options.advertise({ nodeId, listen, internal });
    const racks = this.options.racks;
    node.rack = typeof racks === "function" ? racks(nodeId) : racks?.[nodeId - 1];
    return node;
  }

  private node(nodeId: number): DockerNode {
    const node = this.byId.get(nodeId);
    if (!node) {
      const ids = [...this.byId.keys()].join(", ") || "none: the cluster is not started";
      throw new Error(`${this.target} node ${nodeId} does not exist (nodes: ${ids}).`);
    }
    return node;
  }

  private alias(nodeId: number): string {
    return `node-${nodeId}`;
  }

  private writeKafkaConfig(node: DockerNode): void {
    const n = this.controllerCount;
    const voters = [...this.byId.values()]
      .filter((v) => v.roles.includes("controller"))
      .map((v) => `${v.nodeId}@${this.alias(v.nodeId)}:${CONTROLLER_PORT}`)
      .join(",");
    const isController = node.roles.includes("controller");
    const listeners = [`PLAINTEXT://0.0.0.0:${CLIENT_PORT}`, `INTERNAL://0.0.0.0:${INTERNAL_PORT}`];
    if (isController) listeners.push(`CONTROLLER://0.0.0.0:${CONTROLLER_PORT}`);
    const config: Record<string, string | number | boolean> = {
      "process.roles": node.roles.join(","),
      "node.id": node.nodeId,
      "controller.quorum.voters": voters,
      "controller.listener.names": "CONTROLLER",
      listeners: listeners.join(","),
      "advertised.listeners": `PLAINTEXT://${node.advertised.host}:${node.advertised.port},INTERNAL://${this.alias(node.nodeId)}:${INTERNAL_PORT}`,
      "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
      "inter.broker.listener.name": "INTERNAL",
      "log.dirs": "/data",
      ...kafkaNodeDefaults(n, this.options, node.rack),
      ...this.options.config,
    };
    writeServerProperties(join(node.configDir, "server.properties"), config);
    writeFileSync(join(node.configDir, "log4j2.properties"), LOG4J2_CONFIG);
  }

  private jvmArgs(): string[] {
    return [
      `-Xmx${this.options.heap ?? "512m"}`,
      "-Xms64m",
      "-XX:+UseSerialGC",
      "-XX:-UsePerfData",
      "-XX:+ExitOnOutOfMemoryError",
      "-Djava.awt.headless=true",
      ...(this.options.fastStartup === false ? [] : ["-XX:TieredStopAtLevel=1"]),
      "-Dlog4j2.configurationFile=/config/log4j2.properties",
      ...(this.options.jvmOptions ?? []),
    ];
  }

  private mounts(node: DockerNode) {
    return [
      {
        source: node.dataDir,
        target: this.target === "image" ? this.options.profile!.dataDir : "/data",
        mode: "rw" as const,
      },
      { source: node.configDir, target: "/config", mode: "ro" as const },
    ];
  }

  private labels(node?: DockerNode): Record<string, string> {
    return {
      ...runLabels(this.runId),
      "gauntlet.target": this.target,
      ...(node ? { "gauntlet.node": String(node.nodeId) } : {}),
    };
  }

  /** Formats a node's storage with Kafka's StorageTool in a one-shot container of the same image. */
  private async formatOne(node: DockerNode): Promise<void> {
    const { GenericContainer, Wait } = await loadTestcontainers();
    const container = new GenericContainer(this.image)
      .withName(`${this.runId}-format-${node.nodeId}-${randomBytes(2).toString("hex")}`)
      .withLabels(this.labels(node))
      .withBindMounts(this.mounts(node))
      .withCommand([
        ...this.jvmArgs(),
        "-cp",
        `${IMAGE_PATHS.kafkaLibs}/*`,
        "kafka.tools.StorageTool",
        "format",
        "--cluster-id",
        this.clusterId,
        "--config",
        "/config/server.properties",
        "--ignore-formatted",
      ])
      .withWaitStrategy(Wait.forOneShotStartup())
      .withStartupTimeout(120_000);
    let started: StartedTestContainer | undefined;
    try {
      started = await container.start();
    } catch (err) {
      throw new Error(
        `Formatting the storage of Kafka node ${node.nodeId} in a container failed: ${(err as Error).message}`,
      );
    } finally {
      await started?.stop({ remove: true }).catch(() => {});
    }
  }

  /** Formats the first node in a container, then replicates its result (as the process backend does). */
  private async formatKafka(nodes: DockerNode[]): Promise<void> {
    const [first, ...rest] = nodes;
    await this.formatOne(first);
    const checkpoint = join(first.dataDir, "bootstrap.checkpoint");
    const meta = readFileSync(join(first.dataDir, "meta.properties"), "utf8");
    if (!existsSync(checkpoint) || !/^version=1$/m.test(meta)) {
      for (const node of rest) await this.formatOne(node);
      return;
    }
    for (const node of rest) {
      writeFileSync(join(node.dataDir, "bootstrap.checkpoint"), readFileSync(checkpoint));
      const props = `version=1\ncluster.id=${this.clusterId}\nnode.id=${node.nodeId}\ndirectory.id=${randomClusterId()}\n`;
      writeFileSync(join(node.dataDir, "meta.properties"), props);
    }
  }

  /**
   * A reference node's --peers (Raft, CONTROLLER_PORT) and --kafka-peers (follower fetchers, client port)
   * by alias on the network, or through the link proxies peerAddress gives (on the same network).
   */
  private async routeReferencePeers(node: DockerNode, nodes: DockerNode[]): Promise<void> {
    const route = async (other: DockerNode, purpose: "controller" | "replication", port: number) => {
      const upstream = { host: this.alias(other.nodeId), port };
      const addr =
        other === node || !this.options.peerAddress
          ? upstream
          : await this.options.peerAddress({ from: node.nodeId, to: other.nodeId, purpose, upstream });
      return `${other.nodeId}=${addr.host}:${addr.port}`;
    };
    const peers: string[] = [];
    const kafkaPeers: string[] = [];
    for (const other of nodes) {
      peers.push(await route(other, "controller", CONTROLLER_PORT));
      if (other !== node) kafkaPeers.push(await route(other, "replication", CLIENT_PORT));
    }
    node.peers = peers.join(",");
    node.kafkaPeers = kafkaPeers.join(",");
  }

  /** The profile's command and environment of a node (image target). */
  private rendered(node: DockerNode) {
    return renderProfile(this.options.profile!, {
      nodeId: node.nodeId,
      nodeCount: this.byId.size,
      alias: this.alias(node.nodeId),
      advertised: node.advertised,
      clusterId: this.clusterId,
      rack: node.rack,
      aliases: new Map([...this.byId.keys()].map((id) => [id, this.alias(id)])),
    });
  }

  private environment(node: DockerNode): Record<string, string> {
    return this.target === "image" ? this.rendered(node).environment : {};
  }

  private command(node: DockerNode): string[] {
    if (this.target === "image") return this.rendered(node).command ?? [];
    if (this.target === "kafka") {
      return [
        ...this.jvmArgs(),
        "-cp",
        `${IMAGE_PATHS.kafkaLibs}/*`,
        "kafka.Kafka",
        "/config/server.properties",
      ];
    }
    // A reference cluster: Raft on CONTROLLER_PORT and follower fetchers on the client port, both reached
    // by alias on the network (the registered client address is the host-published one, which other
    // containers cannot reach, so --kafka-peers routes replication).
    const clustered = this.byId.size > 1;
    return [
      "--node-id",
      String(node.nodeId),
      "--listen",
      `0.0.0.0:${CLIENT_PORT}`,
      "--advertised",
      `${node.advertised.host}:${node.advertised.port}`,
      "--data-dir",
      "/data",
      "--auto-create-topics",
      String(this.options.autoCreateTopics ?? true),
      ...(node.rack ? ["--rack", node.rack] : []),
      ...(clustered
        ? [
            "--cluster-id",
            this.clusterId,
            "--raft-listen",
            `0.0.0.0:${CONTROLLER_PORT}`,
            "--peers",
            node.peers!,
            "--kafka-peers",
            node.kafkaPeers!,
            ...REFERENCE_CLUSTER_FLAGS,
          ]
        : []),
      ...referenceConfigArgs(this.options.config),
    ];
  }

  /**
   * Attaches to the container's output (before it starts, so nothing is missed) and watches for its
   * exit. Output goes to the node's host log file and to node.output.
   */
  private async attach(node: DockerNode, container: Dockerode.Container): Promise<void> {
    const client = await (await loadTestcontainers()).getContainerRuntimeClient();
    const docker = client.container.dockerode;
    const stream = (await container.attach({
      stream: true,
      stdout: true,
      stderr: true,
      logs: false,
    })) as NodeJS.ReadableStream;
    const file = createWriteStream(node.logFile, { flags: "a" });
    const sink = new PassThrough();
    sink.on("data", (chunk: Buffer) => {
      file.write(chunk);
      node.output = (node.output + chunk.toString("utf8")).slice(-200_000);
    });
    docker.modem.demuxStream(stream, sink, sink);
    stream.on("end", () => file.end());
    node.output = "";
    node.exitCode = undefined;
  }

  private watchExit(node: DockerNode, container: Dockerode.Container): void {
    node.running = true;
    node.exit = container
      .wait()
      .then((r: { StatusCode: number }) => r.StatusCode)
      .catch(() => -1)
      .then((code: number) => {
        if (node.containerId === container.id) {
          node.running = false;
          node.paused = false;
          node.pid = undefined;
          node.exitCode = code;
        }
        return code;
      });
  }

  private async startContainer(node: DockerNode): Promise<void> {
    const tc = await loadTestcontainers();
    const client = await tc.getContainerRuntimeClient();
    const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
    const container = nodeContainer(tc, this.image, async (id) => {
      node.containerId = id;
      await this.attach(node, client.container.getById(id));
    })
      .withName(`${this.runId}-${this.target}-${node.nodeId}`)
      .withLabels(this.labels(node))
      .withNetworkMode(this.networkName!)
      .withNetworkAliases(this.alias(node.nodeId))
      .withExposedPorts({ container: this.clientPort, host: node.hostPort })
      .withBindMounts(this.mounts(node))
      .withEnvironment(this.environment(node))
      .withWaitStrategy(tc.Wait.forLogMessage(this.readyLog))
      .withStartupTimeout(timeoutMs);
    const command = this.command(node);
    if (command.length) container.withCommand(command); // none: the image's own CMD
    try {
      const started = await container.start();
      this.started.push(started);
      const dockerContainer = client.container.getById(started.getId());
      this.watchExit(node, dockerContainer);
      node.pid = (await dockerContainer.inspect()).State.Pid || undefined;
    } catch (err) {
      if (isPortClash(err)) throw new PortClashError(`host port ${node.hostPort}`);
      throw new Error(
        `${this.target} node ${node.nodeId} (image ${this.image}) did not log ${this.readyLog} within ${Math.round(timeoutMs / 1000)} s or exited: ${(err as Error).message.split("\n")[0]}. Last lines of ${node.logFile}:\n${tailText(node.output)}`,
      );
    }
  }

  /** Starts a node's existing (stopped) container again, attached first. */
  private async restartContainer(node: DockerNode): Promise<void> {
    const client = await (await loadTestcontainers()).getContainerRuntimeClient();
    const container = client.container.getById(node.containerId!);
    await this.attach(node, container);
    await container.start();
    this.watchExit(node, container);
    node.pid = (await container.inspect()).State.Pid || undefined;
    const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    while (!this.readyLog.test(node.output)) {
      if (!node.running) {
        throw new Error(
          `${this.target} node ${node.nodeId} exited while starting (exit code ${node.exitCode}). Last lines of ${node.logFile}:\n${tailText(node.output)}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${this.target} node ${node.nodeId} did not log ${this.readyLog} within ${Math.round(timeoutMs / 1000)} s. Last lines of ${node.logFile}:\n${tailText(node.output)}`,
        );
      }
      await sleep(100);
    }
  }

  /** Waits until every node answers Metadata on its published port listing every expected broker. */
  private async waitReady(nodes: DockerNode[], expectBrokers: number[]): Promise<void> {
    const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(nodes);
    const problems = new Map<DockerNode, string>();
    while (pending.size) {
      for (const node of [...pending]) {
        if (!node.running) {
          throw new Error(
            `${this.target} node ${node.nodeId} exited while starting (exit code ${node.exitCode}). Last lines of ${node.logFile}:\n${tailText(node.output)}`,
          );
        }
        try {
          const md = await probeMetadata(LOOPBACK, node.hostPort, 1500);
          const registered = new Set(md.brokers.map((b) => b.nodeId));
          const missing = expectBrokers.filter((id) => !registered.has(id));
          // a reference cluster node answers controller -1 until it has caught up with the metadata log
          if (this.target !== "kafka" && this.byId.size > 1 && md.controllerId < 0)
            problems.set(node, `node ${node.nodeId} has not caught up yet`);
          else if (missing.length === 0) pending.delete(node);
          else problems.set(node, `brokers ${missing.join(", ")} not yet registered`);
        } catch (err) {
          problems.set(node, `port ${node.hostPort}: ${(err as Error).message}`);
        }
      }
      if (!pending.size) return;
      if (Date.now() > deadline) {
        const node = [...pending][0];
        throw new Error(
          `${this.target} node ${node.nodeId} did not become ready within ${Math.round(timeoutMs / 1000)} s (${problems.get(node) ?? "no answer"}). Last lines of ${node.logFile}:\n${tailText(node.output)}`,
        );
      }
      await sleep(200);
    }
  }

  private async dockerContainer(node: DockerNode): Promise<Dockerode.Container> {
    if (!node.containerId) throw new Error(`${this.target} node ${node.nodeId} has no container.`);
    return (await (await loadTestcontainers()).getContainerRuntimeClient()).container.getById(
      node.containerId,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Cluster interface

  nodes(): NodeInfo[] {
    return [...this.byId.values()].map((node) => ({
      nodeId: node.nodeId,
      host: LOOPBACK,
      port: node.hostPort,
      advertisedHost: node.advertised.host,
      advertisedPort: node.advertised.port,
      pid: node.running ? node.pid : undefined,
      running: node.running,
      paused: node.paused,
      dataDir: node.dataDir,
      logFile: node.logFile,
      rack: node.rack,
      roles: [...node.roles],
    }));
  }

  /** The container id of a node (for tests and tools). */
  containerId(nodeId: number): string | undefined {
    return this.byId.get(nodeId)?.containerId;
  }

  /** The cluster's temporary directory on the host. */
  rootDir(): string | undefined {
    return this.root;
  }

  bootstrapServers(): string {
    const all = [...this.byId.values()];
    const running = all.filter((node) => node.running);
    return (running.length ? running : all).map((n) => `${n.advertised.host}:${n.advertised.port}`).join(",");
  }

  async kill(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (!node.running) return;
    const container = await this.dockerContainer(node);
    // A frozen process receives SIGKILL when thawed; unpause right after so it dies at once.
    await container.kill({ signal: "SIGKILL" }).catch(async (err: unknown) => {
      if (!/paused/i.test(String(err))) throw err;
      await container.unpause();
      await container.kill({ signal: "SIGKILL" });
    });
    if (node.paused) await container.unpause().catch(() => {});
    await node.exit;
    node.paused = false;
  }

  async terminate(nodeId: number, timeoutMs = 30_000): Promise<TerminateResult> {
    const node = this.node(nodeId);
    if (!node.running) return { clean: true, exitCode: null, signal: null, ms: 0 };
    const container = await this.dockerContainer(node);
    if (node.paused) {
      await container.unpause();
      node.paused = false;
    }
    const t0 = Date.now();
    await container.kill({ signal: "SIGTERM" });
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([node.exit!, bound]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      await container.kill({ signal: "SIGKILL" }).catch(() => {});
      await node.exit;
      return { clean: false, exitCode: null, signal: "SIGKILL", ms: Date.now() - t0 };
    }
    const code = outcome as number;
    const signal = code === 143 ? "SIGTERM" : code === 137 ? "SIGKILL" : null;
    return { clean: true, exitCode: signal ? null : code, signal, ms: Date.now() - t0 };
  }

  async pause(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (!node.running)
      throw new Error(`${this.target} node ${nodeId} is not running, so it cannot be paused.`);
    await (await this.dockerContainer(node)).pause();
    node.paused = true;
  }

  async resume(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (!node.running)
      throw new Error(`${this.target} node ${nodeId} is not running, so it cannot be resumed.`);
    await (await this.dockerContainer(node)).unpause();
    node.paused = false;
  }

  async restart(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (node.running) await this.terminate(nodeId);
    if (this.target === "kafka" && !existsSync(join(node.dataDir, "meta.properties")))
      await this.formatOne(node);
    await this.restartContainer(node);
    await this.waitReady([node], [nodeId]);
  }

  async wipe(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (node.running) await this.kill(nodeId);
    rmSync(node.dataDir, { recursive: true, force: true });
    mkdirSync(node.dataDir, { recursive: true });
    if (this.target === "kafka") await this.formatOne(node);
  }

  async logs(nodeId: number, lines = 200): Promise<string> {
    return tailOf(this.node(nodeId).logFile, lines);
  }

  async addNode(): Promise<NodeInfo> {
    if (!this.root) throw new Error("Start the docker cluster before adding nodes to it.");
    if (this.target !== "kafka") {
      throw new Error(
        "The reference target cannot add nodes yet: the reference broker runs a single node for now.",
      );
    }
    const nodeId = Math.max(...this.byId.keys()) + 1;
    const [port] = await allocatePorts(1);
    const node = await this.newNode(nodeId, ["broker"], port);
    this.byId.set(nodeId, node);
    try {
      this.writeKafkaConfig(node);
      await this.formatOne(node);
      await this.startContainer(node);
      await this.waitReady(
        [node],
        [...this.byId.values()].filter((n) => n.running).map((n) => n.nodeId),
      );
    } catch (err) {
      if (node.containerId) await (await this.dockerContainer(node)).remove({ force: true }).catch(() => {});
      this.byId.delete(nodeId);
      rmSync(node.dir, { recursive: true, force: true });
      throw err;
    }
    return this.nodes().find((n) => n.nodeId === nodeId)!;
  }
}
