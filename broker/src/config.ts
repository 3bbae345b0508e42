/**
 * Broker settings: command-line flags > environment variables (GAUNTLET_BROKER_*) > JSON config file
 * > defaults. `resolveSettings` is pure apart from reading the config file, and throws ConfigError
 * with one clear sentence on bad input; main turns that into exit code 2.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { Command, CommanderError, Option } from "commander";

export type FlushSetting =
  | { kind: "every-batch" }
  | { kind: "interval"; ms: number }
  | { kind: "group" }
  | { kind: "none" };

export interface HostPort {
  host: string;
  port: number;
}

export interface BrokerSettings {
  nodeId: number;
  listen: HostPort;
  advertised: HostPort;
  dataDir: string;
  admin: HostPort | undefined;
  autoCreateTopics: boolean;
  flush: FlushSetting;
  rack: string | null;
  logLevel: string;
  /** socket.request.max.bytes */
  maxFrameBytes: number;
  /** num.partitions for auto-created topics and CreateTopics with -1 partitions. */
  numPartitions: number;
  /** How long shutdown waits for in-flight requests before closing connections. */
  shutdownTimeoutMs: number;
  /** group.initial.rebalance.delay.ms */
  groupInitialRebalanceDelayMs: number;
  /** Upper bound of a Fetch long poll (Kafka honours the client's max_wait_ms; this only caps it). */
  maxFetchWaitMs: number;
  /** Cluster mode (a Raft metadata quorum); undefined for the single-node broker. */
  cluster: ClusterSettings | undefined;
}

export interface ClusterSettings {
  clusterId: string;
  /** Address of this node's Raft gRPC server (also serves the controller RPCs). */
  raftListen: HostPort;
  /** Voters' Raft addresses (nodeId → host:port), as this node reaches them; may include itself. */
  peers: Map<number, string>;
  /** An existing member's Raft address: start empty and ask it to add this node as a learner. */
  join: string | undefined;
  /** --peer-discovery: `peers` is filled from DNS when the node starts (instead of --peers). */
  discovery: PeerDiscoverySettings | undefined;
  /** The other brokers' Kafka listener addresses (informational; brokers learn them from the image). */
  kafkaPeers: Map<number, string>;
  /** broker.session.timeout.ms */
  sessionTimeoutMs: number;
  /** broker.heartbeat.interval.ms */
  heartbeatIntervalMs: number;
  /** default.replication.factor for CreateTopics with -1 and auto-created topics. */
  defaultReplicationFactor: number;
  /** replica.lag.time.max.ms: a follower not caught up for this long leaves the ISR. */
  replicaLagTimeMaxMs: number;
  /**
   * replica.selector.class (KIP-392): `leader` (Kafka's default: consumers always fetch from the leader)
   * or `rack-aware` (RackAwareReplicaSelector: the leader points a consumer that sent its rack at an
   * in-sync replica in that rack, `preferredReadReplica`).
   */
  replicaSelector: ReplicaSelectorKind;
  /** offsets.topic.num.partitions: partitions of `__consumer_offsets` when it is created. */
  offsetsTopicNumPartitions: number;
  /** offsets.topic.replication.factor: its replication factor (capped at the cluster's size). */
  offsetsTopicReplicationFactor: number;
  /** Applied Raft entries after which the metadata log is snapshotted and its prefix dropped. */
  raftSnapshotThreshold: number;
  /**
   * Known-bad variants switched on for mutation tests only (`--unsafe-mutation`): the suites must
   * catch them. `no-follower-truncation`: followers never cut a divergent log tail.
   */
  mutations: ReadonlySet<UnsafeMutation>;
}

export const UNSAFE_MUTATIONS = ["no-follower-truncation"] as const;
export type UnsafeMutation = (typeof UNSAFE_MUTATIONS)[number];

/**
 * Raft voters found by DNS (`cluster/peer-discovery.ts`). `dns-srv:<name>`: SRV records of `name`, each
 * target a voter at the record's port; `dns-a:<name>:<port>`: A records of `name` (a headless service),
 * each address a voter at `port`. A voter's node id is the number ending the first label of its host
 * name (the SRV target, or the PTR name of the A address): `gauntlet-2.gauntlet.ns.svc` is node 2.
 */
export type PeerDiscoverySpec =
  | { kind: "dns-srv"; name: string }
  | { kind: "dns-a"; name: string; port: number };

export interface PeerDiscoverySettings {
  spec: PeerDiscoverySpec;
  /** The option as given, for messages. */
  source: string;
  /** How many voters DNS must list (this node among them) before the node starts. */
  expectedVoters: number;
  /** DNS servers for `Resolver.setServers` (`ip:port`); undefined = the system's resolvers. */
  dnsServers: string[] | undefined;
  /** How long to wait for DNS to list the expected voters before refusing to start. */
  timeoutMs: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** One definition per setting: flag, env var and config-file key all derive from `key`. */
interface SettingDef {
  key: keyof RawSettings;
  flag: string;
  description: string;
}

type RawSettings = {
  nodeId?: string;
  listen?: string;
  advertised?: string;
  dataDir?: string;
  admin?: string;
  config?: string;
  autoCreateTopics?: string;
  flush?: string;
  rack?: string;
  logLevel?: string;
  maxFrameBytes?: string;
  numPartitions?: string;
  shutdownTimeoutMs?: string;
  groupInitialRebalanceDelayMs?: string;
  maxFetchWaitMs?: string;
  clusterId?: string;
  raftListen?: string;
  peers?: string;
  join?: string;
  peerDiscovery?: string;
  expectedVoters?: string;
  dnsServer?: string;
  discoveryTimeoutMs?: string;
  kafkaPeers?: string;
  sessionTimeoutMs?: string;
  heartbeatIntervalMs?: string;
  defaultReplicationFactor?: string;
  replicaLagTimeMaxMs?: string;
  replicaSelector?: string;
  offsetsTopicNumPartitions?: string;
  offsetsTopicReplicationFactor?: string;
  raftSnapshotThreshold?: string;
  unsafeMutation?: string;
};

const DISCOVERY_TIMEOUT_MS = 120_000;

const DEFS: SettingDef[] = [
  { key: "nodeId", flag: "--node-id <id>", description: "broker id (node.id), a non-negative integer" },
  { key: "listen", flag: "--listen <host:port>", description: "address the Kafka listener binds" },
  { key: "dataDir", flag: "--data-dir <dir>", description: "directory for logs and broker state" },
  {
    key: "advertised",
    flag: "--advertised <host:port>",
    description: "address given to clients (default: --listen)",
  },
  {
    key: "admin",
    flag: "--admin <host:port>",
    description: "admin HTTP address serving /health and /metrics",
  },
  {
    key: "config",
    flag: "--config <file.json>",
    description: "JSON file with any of these settings (camelCase keys)",
  },
  {
    key: "autoCreateTopics",
    flag: "--auto-create-topics <bool>",
    description: "auto.create.topics.enable (true|false)",
  },
  { key: "flush", flag: "--flush <policy>", description: "every-batch | interval:<ms> | group | none" },
  { key: "rack", flag: "--rack <rack>", description: "broker.rack reported in Metadata" },
  { key: "logLevel", flag: "--log-level <level>", description: "trace|debug|info|warn|error|fatal|silent" },
  { key: "maxFrameBytes", flag: "--max-frame-bytes <n>", description: "socket.request.max.bytes" },
  {
    key: "numPartitions",
    flag: "--num-partitions <n>",
    description: "default partition count (num.partitions)",
  },
  {
    key: "shutdownTimeoutMs",
    flag: "--shutdown-timeout-ms <ms>",
    description: "bound on draining in-flight requests",
  },
  {
    key: "groupInitialRebalanceDelayMs",
    flag: "--group-initial-rebalance-delay-ms <ms>",
    description: "group.initial.rebalance.delay.ms",
  },
  { key: "maxFetchWaitMs", flag: "--max-fetch-wait-ms <ms>", description: "cap on a Fetch long poll" },
  {
    key: "clusterId",
    flag: "--cluster-id <id>",
    description: "cluster mode: the cluster id every node shares (required with --raft-listen)",
  },
  {
    key: "raftListen",
    flag: "--raft-listen <host:port>",
    description: "cluster mode: this node's Raft (and controller RPC) gRPC address",
  },
  {
    key: "peers",
    flag: "--peers <id=host:port,...>",
    description: "cluster mode: the voters' Raft addresses (default: this node alone)",
  },
  {
    key: "join",
    flag: "--join <host:port>",
    description: "cluster mode: join an existing cluster as a learner through this member's Raft address",
  },
  {
    key: "peerDiscovery",
    flag: "--peer-discovery <dns-srv:name|dns-a:name:port>",
    description: "cluster mode: find the voters' Raft addresses in DNS at start (instead of --peers)",
  },
  {
    key: "expectedVoters",
    flag: "--expected-voters <n>",
    description: "cluster mode: how many voters --peer-discovery must find (required with it)",
  },
  {
    key: "dnsServer",
    flag: "--dns-server <ip:port,...>",
    description: "cluster mode: DNS servers for --peer-discovery (default: the system's resolvers)",
  },
  {
    key: "discoveryTimeoutMs",
    flag: "--discovery-timeout-ms <ms>",
    description: `cluster mode: how long --peer-discovery waits for the voters (default ${DISCOVERY_TIMEOUT_MS})`,
  },
  {
    key: "kafkaPeers",
    flag: "--kafka-peers <id=host:port,...>",
    description: "cluster mode: the other brokers' Kafka addresses (optional)",
  },
  {
    key: "sessionTimeoutMs",
    flag: "--session-timeout-ms <ms>",
    description: "cluster mode: broker.session.timeout.ms",
  },
  {
    key: "heartbeatIntervalMs",
    flag: "--heartbeat-interval-ms <ms>",
    description: "cluster mode: broker.heartbeat.interval.ms",
  },
  {
    key: "defaultReplicationFactor",
    flag: "--default-replication-factor <n>",
    description: "cluster mode: default.replication.factor",
  },
  {
    key: "replicaLagTimeMaxMs",
    flag: "--replica-lag-time-max-ms <ms>",
    description: "cluster mode: replica.lag.time.max.ms (a follower behind for longer leaves the ISR)",
  },
  {
    key: "replicaSelector",
    flag: "--replica-selector <leader|rack-aware>",
    description:
      "cluster mode: replica.selector.class (KIP-392); rack-aware sends consumers to an in-sync replica in their rack",
  },
  {
    key: "offsetsTopicNumPartitions",
    flag: "--offsets-topic-num-partitions <n>",
    description: "cluster mode: offsets.topic.num.partitions (partitions of __consumer_offsets)",
  },
  {
    key: "offsetsTopicReplicationFactor",
    flag: "--offsets-topic-replication-factor <n>",
    description: "cluster mode: offsets.topic.replication.factor (capped at the cluster's size)",
  },
  {
    key: "raftSnapshotThreshold",
    flag: "--raft-snapshot-threshold <entries>",
    description: "cluster mode: snapshot the Raft metadata log (dropping its prefix) every N applied entries",
  },
  {
    key: "unsafeMutation",
    flag: "--unsafe-mutation <names>",
    description: `mutation tests only: switch on known-bad behaviour (${UNSAFE_MUTATIONS.join(", ")})`,
  },
];

export const DEFAULTS = {
  listen: "127.0.0.1:9092",
  autoCreateTopics: "true",
  flush: "every-batch",
  logLevel: "info",
  maxFrameBytes: String(100 * 1024 * 1024),
  numPartitions: "1",
  shutdownTimeoutMs: "10000",
  groupInitialRebalanceDelayMs: "3000",
  maxFetchWaitMs: "30000",
  sessionTimeoutMs: "9000",
  heartbeatIntervalMs: "500",
  defaultReplicationFactor: "1",
  replicaLagTimeMaxMs: "30000",
  replicaSelector: "leader",
  offsetsTopicNumPartitions: "10",
  offsetsTopicReplicationFactor: "3",
  raftSnapshotThreshold: "1000",
} as const;

function envName(key: string): string {
  return `GAUNTLET_BROKER_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export function envVarNames(): string[] {
  return DEFS.map((d) => envName(d.key));
}

function buildProgram(): Command {
  const program = new Command("broker")
    .description("Gauntlet reference broker: a single-node Kafka-compatible broker")
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  for (const d of DEFS) program.addOption(new Option(d.flag, d.description));
  return program;
}

export function helpText(): string {
  return buildProgram().helpInformation();
}

function parseHostPort(value: string, what: string): HostPort {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(value.trim());
  if (!m) throw new ConfigError(`${what} must look like host:port, got "${value}".`);
  const port = Number(m[2]);
  if (port > 65535) throw new ConfigError(`${what} port must be between 0 and 65535, got ${port}.`);
  const host = m[1]!.replace(/^\[|\]$/g, "") || "0.0.0.0";
  return { host, port };
}

function parseInteger(value: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^-?\d+$/.test(value.trim())) throw new ConfigError(`${what} must be an integer, got "${value}".`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(`${what} must be between ${min} and ${max}, got ${n}.`);
  return n;
}

function parseBool(value: string, what: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === "true" || v === "1" || v === "yes") return true;
  if (v === "false" || v === "0" || v === "no") return false;
  throw new ConfigError(`${what} must be true or false, got "${value}".`);
}

export function parseFlush(value: string): FlushSetting {
  const v = value.trim();
  if (v === "every-batch" || v === "group" || v === "none") return { kind: v };
  const m = /^interval:(\d+)$/.exec(v);
  if (m) {
    const ms = Number(m[1]);
    if (ms <= 0)
      throw new ConfigError(`--flush interval must be a positive number of milliseconds, got ${ms}.`);
    return { kind: "interval", ms };
  }
  throw new ConfigError(`--flush must be every-batch, interval:<ms>, group or none, got "${value}".`);
}

const LOG_LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal", "silent"]);

function readConfigFile(path: string): RawSettings {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}.`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must contain a JSON object.`);
  }
  const known = new Set<string>(DEFS.map((d) => d.key));
  const out: RawSettings = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!known.has(k) || k === "config") {
      throw new ConfigError(`config file ${path} has an unknown setting "${k}".`);
    }
    if (v === null || (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")) {
      throw new ConfigError(`config file ${path}: setting "${k}" must be a string, number or boolean.`);
    }
    (out as Record<string, string>)[k] = String(v);
  }
  return out;
}

/** Thrown (instead of exiting) when --help or --version was asked for. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
}

export function resolveSettings(argv: string[], env: NodeJS.ProcessEnv = process.env): BrokerSettings {
  const program = buildProgram();
  let flags: RawSettings;
  try {
    program.parse(argv, { from: "user" });
    flags = program.opts() as RawSettings;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.help") throw new HelpRequested();
      throw new ConfigError(e.message.replace(/^error: /, "").replace(/\.?$/, "."));
    }
    throw e;
  }
  const fromEnv: RawSettings = {};
  for (const d of DEFS) {
    const v = env[envName(d.key)];
    if (v !== undefined && v !== "") (fromEnv as Record<string, string>)[d.key] = v;
  }
  const configPath = flags.config ?? fromEnv.config;
  const fromFile = configPath ? readConfigFile(configPath) : {};
  const raw: RawSettings = { ...DEFAULTS, ...fromFile, ...fromEnv, ...flags };

  if (raw.nodeId === undefined) throw new ConfigError("--node-id is required (or GAUNTLET_BROKER_NODE_ID).");
  if (raw.dataDir === undefined || raw.dataDir === "") {
    throw new ConfigError("--data-dir is required (or GAUNTLET_BROKER_DATA_DIR).");
  }
  const nodeId = parseInteger(raw.nodeId, "--node-id", 0, 2 ** 31 - 1);
  const listen = parseHostPort(raw.listen!, "--listen");
  const advertised = raw.advertised ? parseHostPort(raw.advertised, "--advertised") : { ...listen };
  if (advertised.host === "0.0.0.0" || advertised.host === "::") {
    throw new ConfigError("--advertised is required when --listen binds a wildcard address.");
  }
  const admin = raw.admin ? parseHostPort(raw.admin, "--admin") : undefined;
  const logLevel = raw.logLevel!.trim().toLowerCase();
  if (!LOG_LEVELS.has(logLevel)) {
    throw new ConfigError(`--log-level must be one of ${[...LOG_LEVELS].join(", ")}, got "${raw.logLevel}".`);
  }
  return {
    nodeId,
    listen,
    advertised,
    dataDir: raw.dataDir,
    admin,
    autoCreateTopics: parseBool(raw.autoCreateTopics!, "--auto-create-topics"),
    flush: parseFlush(raw.flush!),
    rack: raw.rack ? raw.rack : null,
    logLevel,
    maxFrameBytes: parseInteger(raw.maxFrameBytes!, "--max-frame-bytes", 1024, 2 ** 31 - 1),
    numPartitions: parseInteger(raw.numPartitions!, "--num-partitions", 1, 100_000),
    shutdownTimeoutMs: parseInteger(raw.shutdownTimeoutMs!, "--shutdown-timeout-ms", 0),
    groupInitialRebalanceDelayMs: parseInteger(
      raw.groupInitialRebalanceDelayMs!,
      "--group-initial-rebalance-delay-ms",
      0,
    ),
    maxFetchWaitMs: parseInteger(raw.maxFetchWaitMs!, "--max-fetch-wait-ms", 0),
    cluster: clusterSettings(raw, nodeId),
  };
}

/** Parses `1=host:port,2=host:port` into a map (each address validated). */
export function parsePeerMap(value: string, what: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const part of value.split(",").map((p) => p.trim())) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    if (eq < 0) throw new ConfigError(`${what} entries must look like id=host:port, got "${part}".`);
    const id = parseInteger(part.slice(0, eq), `${what} node id`, 0, 2 ** 31 - 1);
    const hp = parseHostPort(part.slice(eq + 1), `${what} address of node ${id}`);
    if (out.has(id)) throw new ConfigError(`${what} names node ${id} twice.`);
    out.set(id, `${hp.host}:${hp.port}`);
  }
  return out;
}

function clusterSettings(raw: RawSettings, nodeId: number): ClusterSettings | undefined {
  const clusterOnly = (
    [
      "clusterId",
      "peers",
      "join",
      "kafkaPeers",
      "peerDiscovery",
      "expectedVoters",
      "dnsServer",
      "discoveryTimeoutMs",
    ] as const
  ).filter((k) => raw[k]);
  if (!raw.raftListen) {
    if (clusterOnly.length > 0) {
      throw new ConfigError(`--raft-listen is required with --${kebab(clusterOnly[0]!)} (cluster mode).`);
    }
    return undefined;
  }
  if (!raw.clusterId) throw new ConfigError("--cluster-id is required with --raft-listen (cluster mode).");
  if (nodeId < 1) throw new ConfigError(`--node-id must be at least 1 in cluster mode, got ${nodeId}.`);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw.clusterId)) {
    throw new ConfigError(
      `--cluster-id must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-', got "${raw.clusterId}".`,
    );
  }
  const raftListen = parseHostPort(raw.raftListen, "--raft-listen");
  const peers = raw.peers ? parsePeerMap(raw.peers, "--peers") : new Map<number, string>();
  if (raw.join && raw.peers && peers.has(nodeId)) {
    throw new ConfigError(
      `--join starts node ${nodeId} as a learner, so --peers must not name it as a voter.`,
    );
  }
  const join = raw.join ? parseHostPort(raw.join, "--join") : undefined;
  const discovery = peerDiscoverySettings(raw);
  const sessionTimeoutMs = parseInteger(raw.sessionTimeoutMs!, "--session-timeout-ms", 100);
  const heartbeatIntervalMs = parseInteger(raw.heartbeatIntervalMs!, "--heartbeat-interval-ms", 10);
  if (heartbeatIntervalMs >= sessionTimeoutMs) {
    throw new ConfigError("--heartbeat-interval-ms must be below --session-timeout-ms.");
  }
  return {
    clusterId: raw.clusterId,
    raftListen,
    peers,
    join: join ? `${join.host}:${join.port}` : undefined,
    discovery,
    kafkaPeers: raw.kafkaPeers ? parsePeerMap(raw.kafkaPeers, "--kafka-peers") : new Map(),
    sessionTimeoutMs,
    heartbeatIntervalMs,
    defaultReplicationFactor: parseInteger(
      raw.defaultReplicationFactor!,
      "--default-replication-factor",
      1,
      32767,
    ),
    replicaLagTimeMaxMs: parseInteger(raw.replicaLagTimeMaxMs!, "--replica-lag-time-max-ms", 100),
    replicaSelector: parseReplicaSelector(raw.replicaSelector!),
    offsetsTopicNumPartitions: parseInteger(
      raw.offsetsTopicNumPartitions!,
      "--offsets-topic-num-partitions",
      1,
      100_000,
    ),
    offsetsTopicReplicationFactor: parseInteger(
      raw.offsetsTopicReplicationFactor!,
      "--offsets-topic-replication-factor",
      1,
      32767,
    ),
    raftSnapshotThreshold: parseInteger(raw.raftSnapshotThreshold!, "--raft-snapshot-threshold", 1),
    mutations: parseMutations(raw.unsafeMutation),
  };
}

export type ReplicaSelectorKind = "leader" | "rack-aware";

/** Our names, or Kafka's replica.selector.class values (the harness passes Kafka configs through). */
const REPLICA_SELECTORS = new Map<string, ReplicaSelectorKind>([
  ["leader", "leader"],
  ["rack-aware", "rack-aware"],
  ["org.apache.kafka.common.replica.LeaderSelector", "leader"],
  ["org.apache.kafka.common.replica.RackAwareReplicaSelector", "rack-aware"],
]);

function parseReplicaSelector(value: string): ReplicaSelectorKind {
  const kind = REPLICA_SELECTORS.get(value.trim());
  if (!kind) {
    throw new ConfigError(
      `--replica-selector must be leader, rack-aware or org.apache.kafka.common.replica.RackAwareReplicaSelector, got "${value}".`,
    );
  }
  return kind;
}

function parseMutations(text: string | undefined): Set<UnsafeMutation> {
  const out = new Set<UnsafeMutation>();
  for (const name of (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!(UNSAFE_MUTATIONS as readonly string[]).includes(name)) {
      throw new ConfigError(
        `--unsafe-mutation: unknown mutation "${name}" (known: ${UNSAFE_MUTATIONS.join(", ")}).`,
      );
    }
    out.add(name as UnsafeMutation);
  }
  return out;
}

/** `--peer-discovery` and its companions (undefined without it; their misuse is a ConfigError). */
function peerDiscoverySettings(raw: RawSettings): PeerDiscoverySettings | undefined {
  if (!raw.peerDiscovery) {
    const orphan = (["expectedVoters", "dnsServer", "discoveryTimeoutMs"] as const).find((k) => raw[k]);
    if (orphan) throw new ConfigError(`--${kebab(orphan)} is only used with --peer-discovery.`);
    return undefined;
  }
  if (raw.peers) {
    throw new ConfigError("--peers and --peer-discovery both name the voters: give only one of them.");
  }
  if (raw.join) {
    throw new ConfigError(
      "--peer-discovery finds the voters of a new cluster and cannot be combined with --join (a learner).",
    );
  }
  const spec = parsePeerDiscoverySpec(raw.peerDiscovery);
  if (!raw.expectedVoters) {
    throw new ConfigError(
      "--expected-voters is required with --peer-discovery (how many voters DNS must list before the node starts).",
    );
  }
  return {
    spec,
    source: raw.peerDiscovery.trim(),
    expectedVoters: parseInteger(raw.expectedVoters, "--expected-voters", 1, 1000),
    dnsServers: raw.dnsServer ? parseDnsServers(raw.dnsServer) : undefined,
    timeoutMs: parseInteger(
      raw.discoveryTimeoutMs ?? String(DISCOVERY_TIMEOUT_MS),
      "--discovery-timeout-ms",
      1,
      24 * 3600 * 1000,
    ),
  };
}

const DNS_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function isDnsName(name: string): boolean {
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  return bare.length > 0 && bare.length <= 253 && bare.split(".").every((l) => DNS_LABEL.test(l));
}

/** Parses `dns-srv:<name>` or `dns-a:<name>:<port>`. */
export function parsePeerDiscoverySpec(value: string): PeerDiscoverySpec {
  const v = value.trim();
  const srv = /^dns-srv:(.+)$/.exec(v);
  if (srv) {
    if (!isDnsName(srv[1]!)) {
      throw new ConfigError(`--peer-discovery dns-srv needs a DNS name, got "${srv[1]}".`);
    }
    return { kind: "dns-srv", name: srv[1]! };
  }
  const a = /^dns-a:(.+):(\d{1,5})$/.exec(v);
  if (a) {
    if (!isDnsName(a[1]!)) throw new ConfigError(`--peer-discovery dns-a needs a DNS name, got "${a[1]}".`);
    return { kind: "dns-a", name: a[1]!, port: parseInteger(a[2]!, "--peer-discovery dns-a port", 1, 65535) };
  }
  if (/^dns-a:/.test(v)) {
    throw new ConfigError(`--peer-discovery dns-a must look like dns-a:<name>:<raft port>, got "${value}".`);
  }
  throw new ConfigError(
    `--peer-discovery must be dns-srv:<name> or dns-a:<name>:<raft port>, got "${value}".`,
  );
}

/** Parses `ip[:port],...` (IPv6 as `[addr]:port`; port 53 by default) into `Resolver.setServers` form. */
export function parseDnsServers(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(",").map((p) => p.trim())) {
    if (part === "") continue;
    const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(part) ?? /^([^:]+)(?::(\d{1,5}))?$/.exec(part);
    const host = m?.[1] ?? part;
    if (!m || isIP(host) === 0) {
      throw new ConfigError(
        `--dns-server entries must be an IP address with an optional :port, got "${part}".`,
      );
    }
    const port = m[2] === undefined ? 53 : parseInteger(m[2], "--dns-server port", 1, 65535);
    out.push(isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);
  }
  if (out.length === 0) throw new ConfigError("--dns-server names no server.");
  return out;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
