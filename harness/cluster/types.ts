// The Cluster interface every target implements (Apache Kafka, the reference broker, an external
// cluster), whatever backend runs it (local processes today).

/** A host and port a client connects to. */
export interface Address {
  host: string;
  port: number;
}

/**
 * Decides the client address a node advertises in Metadata, given the address it listens on.
 * The default advertises the listen address. The harness uses this to route client traffic
 * through a Toxiproxy proxy per node: it creates the proxy (listen → proxy) and returns the
 * proxy's address. Called once per node start, before the node's process is spawned.
 */
export type AdvertiseFn = (node: {
  nodeId: number;
  listen: Address;
  /** The node's client listener on the cluster's own docker network (docker backend only). */
  internal?: Address;
}) => Address | Promise<Address>;

export interface NodeInfo {
  nodeId: number;
  /** The address the node listens on for clients. */
  host: string;
  port: number;
  /** The address the node advertises to clients (differs from host/port behind a proxy). */
  advertisedHost: string;
  advertisedPort: number;
  /** The KRaft controller listener, for nodes that are controllers. */
  controllerPort?: number;
  /** Process id of the broker process, while it runs. */
  pid?: number;
  /** Whether the node's process is running (a paused process counts as running). */
  running: boolean;
  paused: boolean;
  dataDir: string;
  logFile: string;
  rack?: string;
  roles: ("broker" | "controller")[];
}

/** How a graceful termination went. */
export interface TerminateResult {
  /** True when the process exited on its own within the bound after SIGTERM (no SIGKILL was needed). */
  clean: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from SIGTERM to exit. */
  ms: number;
}

export interface Cluster {
  /** The target's name: "kafka", "reference" or "external". */
  readonly target: string;
  /** A snapshot of every node, running or not. */
  nodes(): NodeInfo[];
  /** Starts every node and resolves when all are ready (all brokers registered in Metadata). */
  start(): Promise<void>;
  /** Stops everything it started; data dirs are removed unless the cluster was created with keepData. */
  stop(): Promise<void>;
  /** Comma-separated advertised client addresses of the running nodes. */
  bootstrapServers(): string;
  /** SIGKILL: the node dies at once. */
  kill(nodeId: number): Promise<void>;
  /** SIGTERM, then SIGKILL if the node has not exited within timeoutMs. */
  terminate(nodeId: number, timeoutMs?: number): Promise<TerminateResult>;
  /** SIGSTOP: the process stays but does nothing (a stalled node). */
  pause(nodeId: number): Promise<void>;
  /** SIGCONT after pause. */
  resume(nodeId: number): Promise<void>;
  /** Terminates the node if it runs, then starts it again and waits until it is ready. */
  restart(nodeId: number): Promise<void>;
  /** Deletes the node's data (disk loss); the node is killed first if it runs and stays down. */
  wipe(nodeId: number): Promise<void>;
  /** The tail of the node's log file. */
  logs(nodeId: number, lines?: number): Promise<string>;
  /** Starts one more node, joined to the cluster, and resolves when it is registered. */
  addNode(): Promise<NodeInfo>;
}

/** "image": a broker image run on the docker backend by a profile (`--target image:<name>`). */
export type TargetName = "kafka" | "reference" | "external" | "image";
export const TARGET_NAMES: readonly TargetName[] = ["kafka", "reference", "external"];

/** Options shared by the targets that start their own nodes. */
export interface LocalClusterOptions {
  /** Number of nodes (default 1). */
  nodes?: number;
  /** Client ports to listen on, one per node; random free loopback ports when omitted. */
  ports?: number[];
  /** Controller ports, one per node; random free loopback ports when omitted. */
  controllerPorts?: number[];
  /** broker.rack per node (index 0 is the first node), or a function of the node id. */
  racks?: (string | undefined)[] | ((nodeId: number) => string | undefined);
  /** The address each node advertises to clients; see AdvertiseFn. */
  advertise?: AdvertiseFn;
  /** Keep the data directories after stop() (default false: they are removed). */
  keepData?: boolean;
  /** Bound for a node to become ready (default 60 s). */
  readyTimeoutMs?: number;
  /** Bound for the graceful part of stop() before SIGKILL (default 10 s). */
  stopTimeoutMs?: number;
  /** auto.create.topics.enable (default true, as in Apache Kafka). */
  autoCreateTopics?: boolean;
  /** min.insync.replicas (default 1). */
  minInsyncReplicas?: number;
  /** Extra broker configuration, applied last (overrides everything above). */
  config?: Record<string, string | number | boolean>;
  /** Parent directory for the cluster's temporary directory (default os.tmpdir()). */
  baseDir?: string;
}
