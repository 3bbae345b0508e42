// Who leads what, asked through the Kafka protocol like any client would: partition leaders and ISR
// from Metadata, the brokers and their idea of the controller from DescribeCluster, and the active
// KRaft controller (the Raft leader of __cluster_metadata) from DescribeQuorum, which brokers forward to
// the controller quorum. No target-specific back doors (logs, JMX, files): this works for any target,
// external clusters included.
//
// Every call opens one short-lived connection per node it asks, encodes with the project's codec
// (protocol/), and tries the given addresses in order until one answers, so a killed node (connection
// refused) or a partitioned one (no answer within timeoutMs) is skipped.
import { createConnection, type Socket } from "node:net";
import { FrameReader } from "../../protocol/framing/frame-reader.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import { decodeResponseFrame, encodeRequestFrame } from "../../protocol/messages.ts";
import type { Address } from "./types.ts";

const CLIENT_ID = "gauntlet-leaders";
const METADATA_TOPIC = "__cluster_metadata";
const NO_LEADER = -1;

export interface PartitionState {
  topic: string;
  partition: number;
  /** The leader's node id, or -1 when the partition has no leader. */
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offline: number[];
  /** Kafka error code of the partition (0 = none; 5 = LEADER_NOT_AVAILABLE...). */
  errorCode: number;
}

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface ControllerInfo {
  /**
   * The controller id DescribeCluster returns to clients. On KRaft clusters this is a random live
   * broker (clients cannot talk to controllers), on ZooKeeper-era clusters the real controller.
   */
  controllerId: number;
  /** The active KRaft controller (leader of __cluster_metadata) per DescribeQuorum, if the cluster answers it. */
  activeController: number | undefined;
  /** Its Raft epoch. */
  quorumEpoch: number | undefined;
  /** The voters of the quorum per DescribeQuorum. */
  voters: number[];
  brokers: BrokerInfo[];
  clusterId: string | null;
  /** Which address answered. */
  answeredBy: string;
}

export interface AskOptions {
  /** Bound per connection attempt and per request (default 2000 ms). */
  timeoutMs?: number;
}

type Bootstrap = string | Address | Address[];

function addresses(bootstrap: Bootstrap): Address[] {
  if (typeof bootstrap !== "string") return Array.isArray(bootstrap) ? bootstrap : [bootstrap];
  return bootstrap
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const i = entry.lastIndexOf(":");
      return { host: entry.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(entry.slice(i + 1)) };
    });
}

const show = (a: Address) => `${a.host}:${a.port}`;

/** One connection, one request outstanding at a time. */
class Connection {
  private readonly frames = new FrameReader();
  private waiting: { resolve: (frame: Buffer) => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;
  private correlationId = 0;
  private versions = new Map<number, [number, number]>();

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = this.frames.feed(chunk);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      for (const frame of frames) {
        const w = this.waiting;
        this.waiting = undefined;
        w?.resolve(frame);
      }
    });
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.fail(new Error("connection closed")));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.failure);
  }

  static open(address: Address, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: address.host, port: address.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connecting to ${show(address)} timed out`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(new Connection(socket));
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Sends a request at `version` and decodes the response body. */
  async request<T>(apiKey: number, version: number, body: unknown, timeoutMs: number): Promise<T> {
    if (this.failure) throw this.failure;
    const correlationId = ++this.correlationId;
    const frame = encodeRequestFrame(
      { apiKey, apiVersion: version, correlationId, clientId: CLIENT_ID },
      body,
    );
    const response = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error("request timed out"));
      }, timeoutMs);
      this.waiting = {
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.socket.write(frame);
    });
    const decoded = decodeResponseFrame(apiKey, version, response);
    if (decoded.correlationId !== correlationId) throw new Error("unexpected correlation id");
    return decoded.body as T;
  }

  /** ApiVersions v0 (every broker answers it), remembering each API's version range. */
  async negotiate(timeoutMs: number): Promise<void> {
    const res = await this.request<{
      errorCode: number;
      apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[];
    }>(ApiKey.ApiVersions, 0, {}, timeoutMs);
    if (res.errorCode !== 0) throw new Error(`ApiVersions error ${res.errorCode}`);
    for (const k of res.apiKeys) this.versions.set(k.apiKey, [k.minVersion, k.maxVersion]);
  }

  /** The highest version of `apiKey` both sides speak, or undefined. */
  version(apiKey: number, ours: [number, number]): number | undefined {
    const theirs = this.versions.get(apiKey);
    if (!theirs) return undefined;
    const v = Math.min(theirs[1], ours[1]);
    return v >= Math.max(theirs[0], ours[0]) ? v : undefined;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Runs `fn` against the first address that answers; rejects with every address's problem. */
async function ask<T>(
  bootstrap: Bootstrap,
  options: AskOptions,
  fn: (conn: Connection, timeoutMs: number, address: Address) => Promise<T>,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const list = addresses(bootstrap);
  if (!list.length) throw new Error("No bootstrap addresses to ask.");
  const problems: string[] = [];
  for (const address of list) {
    let conn: Connection | undefined;
    try {
      conn = await Connection.open(address, timeoutMs);
      await conn.negotiate(timeoutMs);
      return await fn(conn, timeoutMs, address);
    } catch (err) {
      problems.push(`${show(address)}: ${(err as Error).message}`);
    } finally {
      conn?.close();
    }
  }
  throw new Error(`No node answered (${problems.join("; ")}).`);
}

interface MetadataBody {
  brokers: { nodeId: number; host: string; port: number; rack?: string | null }[];
  controllerId?: number;
  clusterId?: string | null;
  topics: {
    errorCode: number;
    name: string | null;
    partitions: {
      errorCode: number;
      partitionIndex: number;
      leaderId: number;
      leaderEpoch?: number;
      replicaNodes: number[];
      isrNodes: number[];
      offlineReplicas?: number[];
    }[];
  }[];
}

/** Metadata of the given topics (leaders, replicas, ISR per partition), from the first node that answers. */
export async function describePartitions(
  bootstrap: Bootstrap,
  topics: string[],
  options: AskOptions = {},
): Promise<PartitionState[]> {
  return ask(bootstrap, options, async (conn, timeoutMs) => {
    const version = conn.version(ApiKey.Metadata, [1, 12]);
    if (version === undefined) throw new Error("the node supports no Metadata version from 1 to 12");
    const body = {
      topics: topics.map((name) => ({ name, topicId: "00000000-0000-0000-0000-000000000000" })),
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    };
    const md = await conn.request<MetadataBody>(ApiKey.Metadata, version, body, timeoutMs);
    const out: PartitionState[] = [];
    for (const t of md.topics) {
      if (t.errorCode !== 0 && !t.partitions.length) {
        throw new Error(`topic ${t.name}: error code ${t.errorCode}`);
      }
      for (const p of t.partitions) {
        out.push({
          topic: t.name ?? "",
          partition: p.partitionIndex,
          leader: p.leaderId,
          leaderEpoch: p.leaderEpoch ?? -1,
          replicas: [...p.replicaNodes],
          isr: [...p.isrNodes].sort((a, b) => a - b),
          offline: [...(p.offlineReplicas ?? [])],
          errorCode: p.errorCode,
        });
      }
    }
    return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  });
}

/** The leader of one partition (-1 when it has none). */
export async function findLeader(
  bootstrap: Bootstrap,
  topic: string,
  partition: number,
  options: AskOptions = {},
): Promise<number> {
  const states = await describePartitions(bootstrap, [topic], options);
  const state = states.find((s) => s.topic === topic && s.partition === partition);
  if (!state) throw new Error(`Topic ${topic} has no partition ${partition}.`);
  return state.leader;
}

/** node id → the partitions it leads, for one topic. */
export async function leadersByNode(
  bootstrap: Bootstrap,
  topic: string,
  options: AskOptions = {},
): Promise<Map<number, number[]>> {
  const map = new Map<number, number[]>();
  for (const s of await describePartitions(bootstrap, [topic], options)) {
    if (s.leader === NO_LEADER) continue;
    map.set(s.leader, [...(map.get(s.leader) ?? []), s.partition]);
  }
  return map;
}

interface DescribeClusterBody {
  errorCode: number;
  errorMessage: string | null;
  clusterId: string;
  controllerId: number;
  brokers: { brokerId: number; host: string; port: number; rack: string | null }[];
}

interface DescribeQuorumBody {
  errorCode: number;
  errorMessage?: string | null;
  topics: {
    topicName: string;
    partitions: {
      partitionIndex: number;
      errorCode: number;
      leaderId: number;
      leaderEpoch: number;
      currentVoters: { replicaId: number }[];
    }[];
  }[];
}

/**
 * The brokers and the controller: DescribeCluster (falling back to Metadata on brokers without it) for
 * the brokers and the client-facing controller id, and DescribeQuorum for the active KRaft controller.
 */
export async function findController(
  bootstrap: Bootstrap,
  options: AskOptions = {},
): Promise<ControllerInfo> {
  return ask(bootstrap, options, async (conn, timeoutMs, address) => {
    let brokers: BrokerInfo[];
    let controllerId: number;
    let clusterId: string | null;
    const dcVersion = conn.version(ApiKey.DescribeCluster, [0, 1]);
    if (dcVersion !== undefined) {
      const body =
        dcVersion >= 1
          ? { includeClusterAuthorizedOperations: false, endpointType: 1 }
          : { includeClusterAuthorizedOperations: false };
      const dc = await conn.request<DescribeClusterBody>(ApiKey.DescribeCluster, dcVersion, body, timeoutMs);
      if (dc.errorCode !== 0)
        throw new Error(`DescribeCluster error ${dc.errorCode}: ${dc.errorMessage ?? ""}`);
      brokers = dc.brokers.map((b) => ({ nodeId: b.brokerId, host: b.host, port: b.port, rack: b.rack }));
      controllerId = dc.controllerId;
      clusterId = dc.clusterId;
    } else {
      const version = conn.version(ApiKey.Metadata, [1, 12]);
      if (version === undefined)
        throw new Error("the node supports neither DescribeCluster nor Metadata v1+");
      const md = await conn.request<MetadataBody>(
        ApiKey.Metadata,
        version,
        { topics: [], allowAutoTopicCreation: false },
        timeoutMs,
      );
      brokers = md.brokers.map((b) => ({
        nodeId: b.nodeId,
        host: b.host,
        port: b.port,
        rack: b.rack ?? null,
      }));
      controllerId = md.controllerId ?? NO_LEADER;
      clusterId = md.clusterId ?? null;
    }
    let activeController: number | undefined;
    let quorumEpoch: number | undefined;
    let voters: number[] = [];
    const dqVersion = conn.version(ApiKey.DescribeQuorum, [0, 2]);
    if (dqVersion !== undefined) {
      const body = { topics: [{ topicName: METADATA_TOPIC, partitions: [{ partitionIndex: 0 }] }] };
      try {
        const dq = await conn.request<DescribeQuorumBody>(ApiKey.DescribeQuorum, dqVersion, body, timeoutMs);
        const p = dq.topics[0]?.partitions[0];
        if (dq.errorCode === 0 && p && p.errorCode === 0 && p.leaderId >= 0) {
          activeController = p.leaderId;
          quorumEpoch = p.leaderEpoch;
          voters = p.currentVoters.map((v) => v.replicaId).sort((a, b) => a - b);
        }
      } catch {
        // Not every broker forwards DescribeQuorum; the rest of the answer stands.
      }
    }
    brokers.sort((a, b) => a.nodeId - b.nodeId);
    return {
      controllerId,
      activeController,
      quorumEpoch,
      voters,
      brokers,
      clusterId,
      answeredBy: show(address),
    };
  });
}

export interface WaitOptions extends AskOptions {
  /** Give up after this long (default 60 s). */
  withinMs?: number;
  /** Poll interval (default 500 ms). */
  intervalMs?: number;
  /** Called with each state seen (or the error asking for it), e.g. for progress output. */
  onPoll?: (states: PartitionState[] | Error) => void;
}

/**
 * Polls Metadata until `predicate` holds for the topic's partitions; resolves with them. Rejects with
 * the last state seen after withinMs.
 */
export async function waitForPartitions(
  bootstrap: Bootstrap,
  topic: string,
  predicate: (states: PartitionState[]) => boolean,
  options: WaitOptions = {},
): Promise<PartitionState[]> {
  const withinMs = options.withinMs ?? 60_000;
  const deadline = Date.now() + withinMs;
  let last = "no answer";
  for (;;) {
    try {
      const states = await describePartitions(bootstrap, [topic], options);
      options.onPoll?.(states);
      if (states.length && predicate(states)) return states;
      last = formatPartitions(states);
    } catch (err) {
      options.onPoll?.(err as Error);
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Topic ${topic} did not reach the expected state within ${withinMs} ms (last: ${last}).`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
  }
}

/** Every partition has a leader and its full replica set in sync. */
export function fullyReplicated(states: PartitionState[]): boolean {
  return states.every(
    (s) =>
      s.leader !== NO_LEADER &&
      s.isr.length === s.replicas.length &&
      s.replicas.every((r) => s.isr.includes(r)),
  );
}

/** e.g. "t-0 L2 isr[1,2,3] t-1 L3 isr[2,3]". */
export function formatPartitions(states: PartitionState[]): string {
  return states.map((s) => `${s.topic}-${s.partition} L${s.leader} isr[${s.isr.join(",")}]`).join(" ");
}

/** One replica's log of one partition, as its node reports it in DescribeLogDirs. */
export interface ReplicaLogSize {
  topic: string;
  partition: number;
  /** Bytes of the log on that node (followers copy batches verbatim, so equal sizes mean equal logs). */
  bytes: number;
}

interface DescribeLogDirsBody {
  errorCode?: number;
  results: {
    errorCode: number;
    topics: {
      name: string;
      partitions: { partitionIndex: number; partitionSize: bigint; isFutureKey: boolean }[];
    }[];
  }[];
}

/**
 * The sizes of the given partitions' replicas on one node (DescribeLogDirs v1-4 against that node
 * only: every node answers for the replicas it holds; partitions must be listed, an empty list asks
 * for none). A partition the node does not hold is absent.
 */
export async function replicaLogSizes(
  node: Address,
  topics: { topic: string; partitions: number[] }[],
  options: AskOptions = {},
): Promise<ReplicaLogSize[]> {
  return ask(node, options, async (conn, timeoutMs) => {
    const version = conn.version(ApiKey.DescribeLogDirs, [1, 4]);
    if (version === undefined) throw new Error("the node supports no DescribeLogDirs version from 1 to 4");
    const res = await conn.request<DescribeLogDirsBody>(
      ApiKey.DescribeLogDirs,
      version,
      { topics },
      timeoutMs,
    );
    if (res.errorCode) throw new Error(`DescribeLogDirs error code ${res.errorCode}`);
    const out: ReplicaLogSize[] = [];
    for (const dir of res.results) {
      if (dir.errorCode !== 0) continue; // an offline log dir holds nothing readable
      for (const t of dir.topics) {
        if (!topics.some((q) => q.topic === t.name)) continue;
        for (const p of t.partitions) {
          if (p.isFutureKey) continue; // a reassignment's future log is not the replica
          out.push({ topic: t.name, partition: p.partitionIndex, bytes: Number(p.partitionSize) });
        }
      }
    }
    return out;
  });
}
