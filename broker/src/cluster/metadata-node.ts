/**
 * Cluster mode's metadata node: a RaftNode whose state machine applies committed controller record
 * batches to a MetadataImage (every node applies the same committed log), plus the active controller
 * on the Raft leader and this broker's own registration and heartbeats.
 *
 * Controller decisions are serialised (one at a time) and each is decided on the committed image after
 * a ReadIndex (so a new leader first sees everything committed before it), then proposed and awaited
 * before the next decision. That makes a separate speculative image unnecessary: no two decisions are
 * ever in flight together (simple and safe; metadata operations are rare, so the cost is fine).
 *
 * Controller RPCs (`/gauntlet.broker.Controller/Call`, JSON with tagged bigints) are served on the Raft
 * port and travel over the same per-peer routes as Raft messages. A non-leader forwards a call to the
 * leader it knows (one hop); a caller that knows no leader tries the peers in turn.
 */
import { randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ERROR_CODES } from "../../../protocol/error-codes.ts";
import type { AllocateProducerIdsResponse } from "../../../protocol/generated/allocate-producer-ids-response.ts";
import type { AlterPartitionReassignmentsRequest } from "../../../protocol/generated/alter-partition-reassignments-request.ts";
import type { AlterPartitionReassignmentsResponse } from "../../../protocol/generated/alter-partition-reassignments-response.ts";
import type { AlterPartitionRequest } from "../../../protocol/generated/alter-partition-request.ts";
import type { AlterPartitionResponse } from "../../../protocol/generated/alter-partition-response.ts";
import type { BrokerHeartbeatResponse } from "../../../protocol/generated/broker-heartbeat-response.ts";
import type { BrokerRegistrationResponse } from "../../../protocol/generated/broker-registration-response.ts";
import type { CreatePartitionsRequest } from "../../../protocol/generated/create-partitions-request.ts";
import type { CreatePartitionsResponse } from "../../../protocol/generated/create-partitions-response.ts";
import type { CreateTopicsRequest } from "../../../protocol/generated/create-topics-request.ts";
import type { CreateTopicsResponse } from "../../../protocol/generated/create-topics-response.ts";
import type { DeleteTopicsRequest } from "../../../protocol/generated/delete-topics-request.ts";
import type { DeleteTopicsResponse } from "../../../protocol/generated/delete-topics-response.ts";
import type { ElectLeadersRequest } from "../../../protocol/generated/elect-leaders-request.ts";
import type { ElectLeadersResponse } from "../../../protocol/generated/elect-leaders-response.ts";
import type { IncrementalAlterConfigsRequest } from "../../../protocol/generated/incremental-alter-configs-request.ts";
import type { IncrementalAlterConfigsResponse } from "../../../protocol/generated/incremental-alter-configs-response.ts";
import type { ListPartitionReassignmentsRequest } from "../../../protocol/generated/list-partition-reassignments-request.ts";
import type { ListPartitionReassignmentsResponse } from "../../../protocol/generated/list-partition-reassignments-response.ts";
import { Controller, type ControllerResult } from "../../controller/controller.ts";
import {
  applyRecords,
  decodeImageSnapshot,
  decodeMetadataBatch,
  emptyImage,
  encodeImageSnapshot,
  encodeMetadataBatch,
  MetadataApplyError,
  type MetadataImage,
} from "../../controller/metadata-image.ts";
import { NotLeaderError, RaftNode } from "../../raft/runtime/raft-node.ts";
import type { Entry } from "../../raft/types.ts";
import type { ClusterSettings, HostPort } from "../config.ts";
import { Mutex } from "../state/append-notifier.ts";
import { discoverPeers } from "./peer-discovery.ts";

export const CONTROLLER_CALL_PATH = "/gauntlet.broker.Controller/Call";
/** The listener name of the Kafka endpoint in broker registrations (and in Metadata). */
export const KAFKA_LISTENER = "PLAINTEXT";
/** Brokers also register their Raft address, so every node can route to nodes that joined later. */
export const RAFT_LISTENER = "RAFT";
const INCARNATION_FILE = "broker.incarnation";
const CONTROLLER_TICK_MS = 100;
const CALL_TIMEOUT_MS = 5000;

/** Thrown by controller operations on a node that is not (or no longer) the Raft leader. */
export class NotControllerError extends Error {
  override name = "NotControllerError";
  constructor(
    readonly leaderId: number,
    detail?: string,
  ) {
    super(
      `not the active controller (leader: ${leaderId > 0 ? leaderId : "unknown"})${detail ? `: ${detail}` : ""}`,
    );
  }
}

/** A fatal cluster condition (duplicate node id, another cluster's data): the broker must not serve. */
export class ClusterFatalError extends Error {
  override name = "ClusterFatalError";
}

export interface ControllerOps {
  register: { brokerId: number; incarnationId: string; kafka: HostPort; raft: string; rack: string | null };
  heartbeat: {
    brokerId: number;
    brokerEpoch: bigint;
    currentMetadataOffset: bigint;
    wantShutDown?: boolean;
  };
  /** AlterPartition (ISR changes from a partition leader), at version 3 (ISR members with epochs). */
  alterPartition: AlterPartitionRequest;
  createTopics: CreateTopicsRequest;
  deleteTopics: DeleteTopicsRequest;
  createPartitions: CreatePartitionsRequest;
  incrementalAlterConfigs: IncrementalAlterConfigsRequest;
  electLeaders: ElectLeadersRequest;
  alterPartitionReassignments: AlterPartitionReassignmentsRequest;
  listPartitionReassignments: ListPartitionReassignmentsRequest;
  allocateProducerIds: { brokerId: number; brokerEpoch: bigint };
  join: { nodeId: number; raftAddress: string };
}
interface OpResponses {
  register: BrokerRegistrationResponse;
  heartbeat: BrokerHeartbeatResponse;
  alterPartition: AlterPartitionResponse;
  createTopics: CreateTopicsResponse;
  deleteTopics: DeleteTopicsResponse;
  createPartitions: CreatePartitionsResponse;
  incrementalAlterConfigs: IncrementalAlterConfigsResponse;
  electLeaders: ElectLeadersResponse;
  alterPartitionReassignments: AlterPartitionReassignmentsResponse;
  listPartitionReassignments: ListPartitionReassignmentsResponse;
  allocateProducerIds: AllocateProducerIdsResponse;
  /** `peers`: every member's Raft address (as registered), so the joiner can answer the leader. */
  join: { errorCode: number; peers?: Record<string, string> };
}
type Op = keyof ControllerOps;

// ---- JSON with bigints ----------------------------------------------------------------------------

function encodeJson(v: unknown): Buffer {
  return Buffer.from(
    JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? { $big: x.toString() } : x)),
    "utf8",
  );
}
function decodeJson<T>(b: Buffer): T {
  return JSON.parse(b.toString("utf8"), (_k, x) =>
    x !== null && typeof x === "object" && typeof x.$big === "string" && Object.keys(x).length === 1
      ? BigInt(x.$big)
      : x,
  ) as T;
}

type CallReply =
  | { ok: true; response: unknown; index: number }
  | { ok: false; leaderId: number; error: string };

const identity = (b: Buffer): Buffer => b;
const serviceDefinition: grpc.ServiceDefinition = {
  call: {
    path: CONTROLLER_CALL_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface MetadataNodeOptions {
  nodeId: number;
  dataDir: string;
  cluster: ClusterSettings;
  /** This broker's advertised Kafka endpoint (known once the listener is bound). */
  kafkaEndpoint: () => HostPort;
  rack: string | null;
  log: Logger;
  /** Called (serially) after the committed image changed. */
  onImage: (image: MetadataImage) => Promise<void>;
  /** Called once on a fatal condition (this node must stop). */
  onFatal: (message: string) => void;
  /** Where the Raft metrics go (the broker's /metrics registry). */
  registry?: Registry;
}

export class MetadataNode {
  /** The committed image: every applied batch, on every node. */
  image: MetadataImage;
  raft!: RaftNode;
  readonly controller: Controller;
  private readonly ops = new Mutex();
  private readonly log: Logger;
  private wasLeader = false;
  private lastTick = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private incarnationId = "";
  /** This broker's epoch from its registration; -1 while unregistered. */
  brokerEpoch = -1n;
  fenced = true;
  /**
   * Whether this node's image has caught up with the cluster since it started: set once the controller
   * first unfences it (which needs this node to have applied its own registration, and so everything
   * committed before it). Until then the image may be stale or empty (a restart replays the log only
   * as the leader reports the commit index), so local partitions are not reconciled against it (an
   * empty image would delete every local topic) and this node neither leads nor follows.
   */
  caughtUp = false;
  private peerCursor = 0;
  private reconcileRunning = false;
  private reconcileAgain = false;
  private lifecycle: Promise<void> = Promise.resolve();
  /** When this node became the Raft leader (for metrics/tests). */
  leaderSince = 0;
  /** A learner promotion in flight (the active controller promotes caught-up learners to voters). */
  private promoting = false;

  constructor(private readonly opts: MetadataNodeOptions) {
    this.image = emptyImage(opts.cluster.clusterId);
    this.log = opts.log.child({ component: "metadata" });
    this.controller = new Controller({
      clusterId: opts.cluster.clusterId,
      sessionTimeoutMs: opts.cluster.sessionTimeoutMs,
      defaultReplicationFactor: opts.cluster.defaultReplicationFactor,
    });
  }

  get nodeId(): number {
    return this.opts.nodeId;
  }

  /** Opens the Raft log (refusing another cluster's data dir), starts the transport and the timers. */
  async start(): Promise<void> {
    const c = this.opts.cluster;
    if (c.discovery && c.peers.size === 0) {
      // --peer-discovery: DNS gives the voters, into the same map --peers fills (ConfigError → exit 2).
      const found = await discoverPeers(this.opts.nodeId, c.discovery, {
        log: this.log,
        stopped: () => this.stopped,
      });
      for (const [id, address] of found) c.peers.set(id, address);
    }
    this.incarnationId = await loadIncarnation(this.opts.dataDir);
    const voters = c.join ? undefined : c.peers.size > 0 ? [...c.peers.keys()] : [this.opts.nodeId];
    if (voters && !voters.includes(this.opts.nodeId)) {
      throw new ClusterFatalError(
        `--peers does not name node ${this.opts.nodeId} itself; use --join to add a node to an existing cluster`,
      );
    }
    const peers = new Map([...c.peers].filter(([id]) => id !== this.opts.nodeId));
    this.raft = await RaftNode.start({
      id: this.opts.nodeId,
      clusterId: c.clusterId,
      dataDir: join(this.opts.dataDir, "raft"),
      listen: `${c.raftListen.host}:${c.raftListen.port}`,
      peers,
      bootstrap: voters,
      snapshotThreshold: c.raftSnapshotThreshold,
      stateMachine: {
        apply: (entries) => this.apply(entries),
        snapshot: () => encodeImageSnapshot(this.image),
        restore: (data) => {
          this.image = decodeImageSnapshot(data);
          // A snapshot installed from the leader (or loaded at start) replaces the whole image: learn
          // the routes it names and bring the local topics in line, as after any applied batch.
          if (this.raft) this.learnRoutes();
          this.scheduleReconcile();
        },
      },
      logger: this.log,
      registry: this.opts.registry,
      services: [
        {
          definition: serviceDefinition,
          implementation: {
            call: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
              this.serveCall(call.request).then(
                (reply) => cb(null, encodeJson(reply)),
                (e: unknown) => cb({ code: grpc.status.INTERNAL, details: (e as Error).message }),
              );
            },
          },
        },
      ],
    });
    this.learnRoutes();
    this.timer = setInterval(() => this.onTimer(), 50);
    this.timer.unref();
    this.scheduleReconcile();
  }

  /** Starts registration and heartbeats (once the Kafka listener is bound). */
  startBrokerLifecycle(): void {
    this.lifecycle = this.runLifecycle();
  }

  get raftAddress(): string {
    return this.raft.address;
  }

  /** The Raft leader's id (the active controller), or -1 when none is known. */
  controllerId(): number {
    const s = this.raft.status();
    return s.leaderId > 0 ? s.leaderId : -1;
  }

  isLeader(): boolean {
    // No Raft node yet while --peer-discovery waits (a stop then still asks).
    return this.raft?.status().role === "leader";
  }

  // ---- state machine ------------------------------------------------------------------------------

  private apply(entries: Entry[]): void {
    let changed = false;
    for (const e of entries) {
      if (e.change || e.data.length === 0) continue;
      try {
        this.image = applyRecords(this.image, decodeMetadataBatch(e.data), e.index);
        changed = true;
      } catch (err) {
        if (!(err instanceof MetadataApplyError)) throw err;
        // Deterministic on every node: the batch is skipped everywhere.
        this.log.error({ err: err.message, index: e.index }, "metadata batch does not apply; skipped");
      }
    }
    if (changed) {
      this.learnRoutes();
      this.scheduleReconcile();
    }
  }

  /** Routes to brokers known only from their registration (nodes that joined later). */
  private learnRoutes(): void {
    for (const b of this.image.brokers.values()) {
      if (b.id === this.opts.nodeId || this.opts.cluster.peers.has(b.id)) continue;
      const raft = b.endpoints.get(RAFT_LISTENER);
      if (raft && this.raft?.peers.peerAddress(b.id) !== `${raft.host}:${raft.port}`) {
        this.raft.setPeer(b.id, `${raft.host}:${raft.port}`);
      }
    }
  }

  /**
   * The Raft addresses of the members (voters and learners), for a node that joins: this node's own,
   * else a member's registered RAFT listener, else the route this node uses to reach it.
   */
  private memberRoutes(): Record<string, string> {
    const conf = this.raft.status().conf;
    const out: Record<string, string> = {};
    for (const id of [...conf.voters, ...conf.learners]) {
      const raft = this.image.brokers.get(id)?.endpoints.get(RAFT_LISTENER);
      const address =
        id === this.opts.nodeId
          ? this.raft.address
          : raft
            ? `${raft.host}:${raft.port}`
            : this.raft.peers.peerAddress(id);
      if (address) out[id] = address;
    }
    return out;
  }

  private scheduleReconcile(): void {
    if (!this.caughtUp) return;
    if (this.reconcileRunning) {
      this.reconcileAgain = true;
      return;
    }
    this.reconcileRunning = true;
    void (async () => {
      do {
        this.reconcileAgain = false;
        try {
          await this.opts.onImage(this.image);
        } catch (e) {
          this.log.error({ err: e }, "applying the metadata image to local partitions failed");
        }
      } while (this.reconcileAgain && !this.stopped);
      this.reconcileRunning = false;
    })();
  }

  // ---- the active controller ----------------------------------------------------------------------

  private onTimer(): void {
    if (this.stopped) return;
    const leader = this.isLeader();
    if (leader && !this.wasLeader) {
      this.controller.resetSessions(Date.now(), this.raft.lastHeardFrom);
      this.leaderSince = Date.now();
      this.log.info({ term: this.raft.status().term }, "this node is now the active controller");
    } else if (!leader && this.wasLeader) {
      this.log.info({ leader: this.controllerId() }, "this node is no longer the active controller");
    }
    this.wasLeader = leader;
    if (leader) this.maybePromoteLearner();
    if (leader && Date.now() - this.lastTick >= CONTROLLER_TICK_MS) {
      this.lastTick = Date.now();
      this.decide((img) => this.controller.tick(img, Date.now())).then(
        ({ response }) => {
          if (response.fenced.length > 0) this.log.warn({ fenced: response.fenced }, "brokers fenced");
        },
        () => {},
      );
    }
  }

  /**
   * The active controller promotes a learner (a node that joined with --join) to voter once it has
   * caught up with the commit index; RaftNode.promote retries until it has (or its request timeout
   * passes; the next timer tick tries again). One promotion at a time (Raft's one change at a time).
   */
  private maybePromoteLearner(): void {
    if (this.promoting) return;
    const learner = this.raft.status().conf.learners[0];
    if (learner === undefined) return;
    this.promoting = true;
    this.raft
      .promote(learner)
      .then(
        (r) => this.log.info({ node: learner, index: r.index }, "promoted a learner to voter"),
        (e: unknown) =>
          this.log.debug({ node: learner, err: (e as Error).message }, "learner not promoted yet"),
      )
      .finally(() => {
        this.promoting = false;
      });
  }

  /** One controller decision on the committed image, proposed and applied before the next. */
  private decide<T>(
    fn: (image: MetadataImage) => ControllerResult<T>,
  ): Promise<{ response: T; index: number }> {
    return this.ops.run(async () => {
      if (!this.isLeader()) throw new NotControllerError(this.controllerId());
      try {
        await this.raft.readIndex();
        const r = fn(this.image);
        let index = this.image.highestOffset;
        if (r.records.length > 0) index = (await this.raft.propose(encodeMetadataBatch(r.records))).index;
        return { response: r.response, index };
      } catch (e) {
        if (e instanceof NotLeaderError) throw new NotControllerError(e.leaderId);
        throw e;
      }
    });
  }

  private async runOp<K extends Op>(
    op: K,
    args: ControllerOps[K],
  ): Promise<{ response: unknown; index: number }> {
    const now = Date.now();
    switch (op) {
      case "register": {
        const a = args as ControllerOps["register"];
        const [rh, rp] = splitHostPort(a.raft);
        return this.decide((img) =>
          this.controller.registerBroker(
            img,
            {
              brokerId: a.brokerId,
              clusterId: this.opts.cluster.clusterId,
              incarnationId: a.incarnationId,
              listeners: [
                { name: KAFKA_LISTENER, host: a.kafka.host, port: a.kafka.port, securityProtocol: 0 },
                { name: RAFT_LISTENER, host: rh, port: rp, securityProtocol: 0 },
              ],
              features: [],
              rack: a.rack,
            },
            now,
          ),
        );
      }
      case "heartbeat": {
        const a = args as ControllerOps["heartbeat"];
        if (this.isLeader()) this.controller.noteHeartbeat(this.image, a.brokerId, a.brokerEpoch, now);
        return this.decide((img) =>
          this.controller.brokerHeartbeat(
            img,
            { ...a, wantFence: false, wantShutDown: a.wantShutDown ?? false },
            now,
          ),
        );
      }
      case "alterPartition":
        return this.decide((img) => this.controller.alterPartition(img, args as AlterPartitionRequest, 3));
      case "createTopics":
        return this.decide((img) => this.controller.createTopics(img, args as CreateTopicsRequest));
      case "deleteTopics":
        return this.decide((img) => this.controller.deleteTopics(img, args as DeleteTopicsRequest));
      case "createPartitions":
        return this.decide((img) => this.controller.createPartitions(img, args as CreatePartitionsRequest));
      case "incrementalAlterConfigs":
        return this.decide((img) =>
          this.controller.incrementalAlterConfigs(img, args as IncrementalAlterConfigsRequest),
        );
      case "electLeaders":
        return this.decide((img) => this.controller.electLeaders(img, args as ElectLeadersRequest));
      case "alterPartitionReassignments":
        return this.decide((img) =>
          this.controller.alterPartitionReassignments(img, args as AlterPartitionReassignmentsRequest),
        );
      case "listPartitionReassignments":
        // a read: decided on the committed image after a ReadIndex, no records
        return this.decide((img) => ({
          records: [],
          response: this.controller.listPartitionReassignments(
            img,
            args as ListPartitionReassignmentsRequest,
          ),
        }));
      case "allocateProducerIds":
        return this.decide((img) =>
          this.controller.allocateProducerIds(img, args as ControllerOps["allocateProducerIds"]),
        );
      case "join": {
        const a = args as ControllerOps["join"];
        if (!this.isLeader()) throw new NotControllerError(this.controllerId());
        const conf = this.raft.status().conf;
        if (conf.voters.includes(a.nodeId) || conf.learners.includes(a.nodeId)) {
          this.raft.setPeer(a.nodeId, a.raftAddress);
          return { response: { errorCode: 0, peers: this.memberRoutes() }, index: this.image.highestOffset };
        }
        const r = await this.raft.addLearner(a.nodeId, a.raftAddress);
        this.log.info({ node: a.nodeId, address: a.raftAddress }, "added a learner");
        return { response: { errorCode: 0, peers: this.memberRoutes() }, index: r.index };
      }
      default:
        throw new Error(`unknown controller op ${String(op)}`);
    }
  }

  private async serveCall(buf: Buffer): Promise<CallReply> {
    const req = decodeJson<{ op: Op; args: ControllerOps[Op]; hops: number }>(buf);
    if (this.isLeader()) {
      try {
        const r = await this.runOp(req.op, req.args);
        return { ok: true, ...r };
      } catch (e) {
        if (e instanceof NotControllerError) return { ok: false, leaderId: e.leaderId, error: e.message };
        throw e;
      }
    }
    const leader = this.controllerId();
    if (leader > 0 && leader !== this.opts.nodeId && req.hops < 1) {
      const out = await this.raft.peers.call(
        leader,
        CONTROLLER_CALL_PATH,
        encodeJson({ ...req, hops: req.hops + 1 }),
        CALL_TIMEOUT_MS,
      );
      return decodeJson<CallReply>(out);
    }
    return { ok: false, leaderId: leader, error: "not the active controller" };
  }

  /**
   * A controller operation from this node: run here when this node leads, else sent to the leader
   * (or, leader unknown, to the peers in turn). Retries until `timeoutMs`; then NotControllerError.
   * With `waitApplied`, resolves only once this node has applied the decision's records.
   */
  async call<K extends Op>(
    op: K,
    args: ControllerOps[K],
    timeoutMs = CALL_TIMEOUT_MS,
    waitApplied = true,
  ): Promise<OpResponses[K]> {
    const deadline = Date.now() + timeoutMs;
    let lastError = "no controller";
    while (!this.stopped) {
      let reply: CallReply | undefined;
      try {
        if (this.isLeader()) {
          reply = { ok: true, ...(await this.runOp(op, args)) };
        } else {
          const leader = this.controllerId();
          const peers = this.raft.peers.peerIds();
          const target =
            leader > 0 && leader !== this.opts.nodeId ? leader : peers[this.peerCursor++ % peers.length];
          if (target !== undefined) {
            const out = await this.raft.peers.call(
              target,
              CONTROLLER_CALL_PATH,
              encodeJson({ op, args, hops: 0 }),
              Math.max(100, Math.min(CALL_TIMEOUT_MS, deadline - Date.now())),
            );
            reply = decodeJson<CallReply>(out);
          }
        }
      } catch (e) {
        lastError = (e as Error).message;
      }
      if (reply?.ok) {
        if (waitApplied) await this.waitApplied(reply.index, Math.max(0, deadline - Date.now()));
        return reply.response as OpResponses[K];
      }
      if (reply) lastError = reply.error;
      if (Date.now() >= deadline) break;
      await sleep(50);
    }
    throw new NotControllerError(this.stopped ? -1 : this.controllerId(), lastError);
  }

  private async waitApplied(index: number, timeoutMs: number): Promise<void> {
    if (this.image.highestOffset >= index) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.raft.waitApplied(index).catch(() => {}),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    if (timer) clearTimeout(timer);
  }

  // ---- this broker's registration and heartbeats ------------------------------------------------

  private async runLifecycle(): Promise<void> {
    const c = this.opts.cluster;
    if (c.join) await this.joinCluster(c.join);
    let duplicateSince = 0;
    while (!this.stopped) {
      try {
        if (this.brokerEpoch < 0n) {
          const r = await this.call(
            "register",
            {
              brokerId: this.opts.nodeId,
              incarnationId: this.incarnationId,
              kafka: this.opts.kafkaEndpoint(),
              raft: this.raft.address,
              rack: this.opts.rack,
            },
            CALL_TIMEOUT_MS,
            false,
          );
          if (r.errorCode === ERROR_CODES.DUPLICATE_BROKER_REGISTRATION) {
            duplicateSince ||= Date.now();
            // A restart with another incarnation (a wiped data dir) waits for the old session to
            // expire; a live broker with the same id keeps its session alive for good.
            if (Date.now() - duplicateSince > c.sessionTimeoutMs + 2000) {
              this.fatal(
                `node id ${this.opts.nodeId} is already registered by another live broker (another incarnation): refusing to start`,
              );
              return;
            }
          } else if (r.errorCode === ERROR_CODES.INCONSISTENT_CLUSTER_ID) {
            this.fatal(`the controller refused cluster id ${c.clusterId}: refusing to start`);
            return;
          } else if (r.errorCode !== 0) {
            this.log.warn({ errorCode: r.errorCode }, "broker registration refused; retrying");
          } else {
            duplicateSince = 0;
            this.brokerEpoch = r.brokerEpoch;
            this.log.info({ brokerEpoch: String(r.brokerEpoch) }, "broker registered");
            continue;
          }
        } else {
          const r = await this.call(
            "heartbeat",
            {
              brokerId: this.opts.nodeId,
              brokerEpoch: this.brokerEpoch,
              currentMetadataOffset: BigInt(this.image.highestOffset),
            },
            CALL_TIMEOUT_MS,
            false,
          );
          if (
            r.errorCode === ERROR_CODES.STALE_BROKER_EPOCH ||
            r.errorCode === ERROR_CODES.BROKER_ID_NOT_REGISTERED
          ) {
            this.log.warn({ errorCode: r.errorCode }, "broker registration lost; registering again");
            this.brokerEpoch = -1n;
            continue;
          }
          if (r.errorCode === 0 && r.isFenced !== this.fenced) {
            this.fenced = r.isFenced;
            this.log.info({ fenced: r.isFenced }, r.isFenced ? "broker fenced" : "broker unfenced");
            if (!r.isFenced && !this.caughtUp) {
              this.caughtUp = true;
              this.scheduleReconcile();
            }
          }
        }
      } catch (e) {
        if (!this.stopped) this.log.debug({ err: (e as Error).message }, "controller unreachable; retrying");
      }
      await sleep(this.opts.cluster.heartbeatIntervalMs);
    }
  }

  /** Asks an existing member (by its Raft address) to add this node as a learner, until it does. */
  private async joinCluster(address: string): Promise<void> {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      while (!this.stopped) {
        const status = this.raft.status();
        if (
          status.conf.learners.includes(this.opts.nodeId) ||
          status.conf.voters.includes(this.opts.nodeId)
        ) {
          return;
        }
        try {
          const out = await new Promise<Buffer>((resolve, reject) =>
            client.makeUnaryRequest<Buffer, Buffer>(
              CONTROLLER_CALL_PATH,
              identity,
              identity,
              encodeJson({
                op: "join",
                args: { nodeId: this.opts.nodeId, raftAddress: this.raft.address },
                hops: 0,
              }),
              { deadline: Date.now() + CALL_TIMEOUT_MS },
              (err, res) => (err ? reject(err) : resolve(res ?? Buffer.alloc(0))),
            ),
          );
          const reply = decodeJson<CallReply>(out);
          if (reply.ok) {
            // Routes to the members: without them this node could not answer the leader (no acks,
            // so no snapshot transfer) nor reach the controller.
            const peers = (reply.response as OpResponses["join"]).peers ?? {};
            for (const [id, peer] of Object.entries(peers)) {
              if (Number(id) !== this.opts.nodeId && !this.raft.peers.peerAddress(Number(id))) {
                this.raft.setPeer(Number(id), peer);
              }
            }
            this.log.info({ via: address, peers }, "joined the cluster as a learner");
            return;
          }
        } catch (e) {
          this.log.debug({ err: (e as Error).message, via: address }, "join failed; retrying");
        }
        await sleep(500);
      }
    } finally {
      client.close();
    }
  }

  private fatal(message: string): void {
    this.log.fatal(message);
    this.opts.onFatal(message);
  }

  /**
   * Controlled shutdown (SIGTERM): heartbeats asking to shut down until the controller has moved this
   * broker's leaderships away and says `shouldShutDown`, then hands the Raft (quorum) leadership to
   * another voter if this node holds it. Bounded by `timeoutMs`; returns whether it completed.
   */
  async controlledShutdown(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let done = this.brokerEpoch < 0n;
    while (!done && !this.stopped && Date.now() < deadline) {
      try {
        const r = await this.call(
          "heartbeat",
          {
            brokerId: this.opts.nodeId,
            brokerEpoch: this.brokerEpoch,
            currentMetadataOffset: BigInt(this.image.highestOffset),
            wantShutDown: true,
          },
          Math.max(100, Math.min(CALL_TIMEOUT_MS, deadline - Date.now())),
          false,
        );
        if (r.errorCode !== 0 || r.shouldShutDown) done = true;
      } catch {
        // no controller right now: try again until the deadline
      }
      if (!done) await sleep(Math.min(100, this.opts.cluster.heartbeatIntervalMs));
    }
    if (this.isLeader()) {
      const conf = this.raft.status().conf;
      for (const to of conf.voters.filter((v) => v !== this.opts.nodeId)) {
        if (Date.now() >= deadline) break;
        try {
          await this.raft.transferLeadership(to);
          for (let i = 0; i < 20 && this.isLeader(); i++) await sleep(25);
          if (!this.isLeader()) break;
        } catch (e) {
          this.log.debug({ err: (e as Error).message, to }, "quorum leadership transfer failed");
        }
      }
    }
    this.log.info({ leadershipsMoved: done, quorumLeader: this.isLeader() }, "controlled shutdown done");
    return done;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.raft?.stop();
    await this.lifecycle.catch(() => {});
  }
}

function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(":");
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

/** This data dir's broker incarnation id: a restart of the same data dir is the same incarnation. */
async function loadIncarnation(dataDir: string): Promise<string> {
  const path = join(dataDir, INCARNATION_FILE);
  try {
    const id = (await readFile(path, "utf8")).trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const id = randomUUID();
  await writeFile(path, id);
  return id;
}
