// RaftNode: the real runtime around the pure RaftCore. It owns a tick timer, DiskStorage, a GrpcTransport
// and a user state machine, and runs the Ready loop strictly in the order the core requires:
//
//   persist (snapshot, truncation, entries, hard state; fsync) -> send messages -> restore/apply ->
//   serve reads -> take a requested snapshot (persist, compact) -> advance
//
// One Ready is in flight at a time; ticks, incoming messages and proposals keep stepping the core
// meanwhile (the core allows it) and the loop picks their effects up in the next Ready, so everything
// that arrives during one fsync is made durable by the next single fsync (group commit).
import { randomInt } from "node:crypto";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { bootstrapState, RaftCore } from "../core.ts";
import type { ConfChange, ConfState, Entry, Message, NodeId, Ready, Role } from "../types.ts";
import { DiskStorage } from "./disk-storage.ts";
import { GrpcTransport, type TransportOptions } from "./transport.ts";

/** The replicated state machine. Entries include Raft's own (empty no-ops and `change` entries). */
export interface StateMachine {
  apply(entries: Entry[]): void | Promise<void>;
  /** A snapshot of everything applied so far. */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void | Promise<void>;
}

export class NotLeaderError extends Error {
  override name = "NotLeaderError";
  constructor(
    readonly leaderId: NodeId,
    reason = "not leader",
  ) {
    super(`${reason}${leaderId ? ` (leader: ${leaderId})` : " (leader unknown)"}`);
  }
}
/** The proposal's entry was overwritten by another leader's, or its fate cannot be known. */
export class ProposalDroppedError extends Error {
  override name = "ProposalDroppedError";
}
export class RaftTimeoutError extends Error {
  override name = "RaftTimeoutError";
}
export class RaftStoppedError extends Error {
  override name = "RaftStoppedError";
}

export interface RaftNodeOptions {
  id: NodeId;
  clusterId: string;
  dataDir: string;
  /** host:port for the Raft gRPC server; port 0 picks a free one (see `address`). */
  listen: string;
  /** nodeId -> host:port of the other nodes (may be completed later with `setPeer`). */
  peers?: Map<NodeId, string> | Record<number, string>;
  stateMachine: StateMachine;
  /** Voters of a brand-new cluster; ignored when the data dir already holds state. Absent: join later. */
  bootstrap?: NodeId[];
  tickMs?: number;
  electionTick?: number;
  heartbeatTick?: number;
  snapshotThreshold?: number;
  snapshotChunkSize?: number;
  maxEntriesPerAppend?: number;
  segmentBytes?: number;
  /** Deadline for propose/readIndex/membership calls (default 10 s). */
  requestTimeoutMs?: number;
  transportDeadlineMs?: number;
  registry?: Registry;
  logger?: Logger;
  seed?: number;
  /** More gRPC services on the Raft port (see TransportOptions.services). */
  services?: TransportOptions["services"];
  /** Tests only. */
  protocolVersion?: number;
  fsync?: boolean;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  role: Role;
  leaderId: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
  /** Entries on disk after the snapshot, and the bytes of the log segments. */
  logEntries: number;
  logBytes: number;
  snapshotIndex: number;
  conf: ConfState;
}

interface PendingProposal {
  term: number;
  started: number;
  resolve: (r: { index: number; term: number }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}
interface PendingRead {
  index: number | null;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const ROLES: Role[] = ["follower", "preCandidate", "candidate", "leader"];

interface Metrics {
  term: Gauge;
  role: Gauge;
  leader: Gauge;
  commit: Gauge;
  applied: Gauge;
  logEntries: Gauge;
  logBytes: Gauge;
  snapshotIndex: Gauge;
  voters: Gauge;
  learners: Gauge;
  elections: Counter;
  snapshotsTaken: Counter;
  snapshotsInstalled: Counter;
  leaderChanges: Counter;
  commitLatency: Histogram;
  readyDuration: Histogram;
}

function metricsFor(registry: Registry): Metrics {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T) ?? make();
  const gauge = (name: string, help: string, labelNames = ["node"]) =>
    get(name, () => new Gauge({ name, help, labelNames, registers: [registry] }));
  const counter = (name: string, help: string) =>
    get(name, () => new Counter({ name, help, labelNames: ["node"], registers: [registry] }));
  return {
    term: gauge("gauntlet_raft_term", "Current Raft term"),
    role: gauge("gauntlet_raft_role", "1 for the node's current Raft role", ["node", "role"]),
    leader: gauge("gauntlet_raft_leader_id", "Known leader id (0 = none)"),
    commit: gauge("gauntlet_raft_commit_index", "Commit index"),
    applied: gauge("gauntlet_raft_applied_index", "Index applied to the state machine"),
    logEntries: gauge("gauntlet_raft_log_entries", "Log entries on disk after the snapshot"),
    logBytes: gauge("gauntlet_raft_log_bytes", "Bytes of the log segments on disk"),
    snapshotIndex: gauge("gauntlet_raft_snapshot_index", "Index of the latest snapshot"),
    voters: gauge("gauntlet_raft_voters", "Voters in the configuration this node knows"),
    learners: gauge("gauntlet_raft_learners", "Learners in the configuration this node knows"),
    snapshotsTaken: counter(
      "gauntlet_raft_snapshots_taken_total",
      "Snapshots of the local state machine taken (log compactions)",
    ),
    snapshotsInstalled: counter(
      "gauntlet_raft_snapshots_installed_total",
      "Snapshots received from a leader and installed (the state machine restored from them)",
    ),
    elections: get(
      "gauntlet_raft_elections_total",
      () =>
        new Counter({
          name: "gauntlet_raft_elections_total",
          help: "Elections this node started (became candidate)",
          labelNames: ["node"],
          registers: [registry],
        }),
    ),
    leaderChanges: get(
      "gauntlet_raft_leader_changes_total",
      () =>
        new Counter({
          name: "gauntlet_raft_leader_changes_total",
          help: "Changes of the leader this node knows",
          labelNames: ["node"],
          registers: [registry],
        }),
    ),
    commitLatency: get(
      "gauntlet_raft_commit_latency_seconds",
      () =>
        new Histogram({
          name: "gauntlet_raft_commit_latency_seconds",
          help: "Proposal to local apply, on the leader",
          labelNames: ["node"],
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers: [registry],
        }),
    ),
    readyDuration: get(
      "gauntlet_raft_ready_seconds",
      () =>
        new Histogram({
          name: "gauntlet_raft_ready_seconds",
          help: "Time to carry out one Ready (persist, send, apply)",
          labelNames: ["node"],
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
          registers: [registry],
        }),
    ),
  };
}

export class RaftNode {
  readonly id: NodeId;
  private readonly core: RaftCore;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private readonly appliedWaiters: { index: number; resolve: () => void }[] = [];
  private readCounter = 0;
  private applied: number;
  private ticker: NodeJS.Timeout | null = null;
  private loopRunning = false;
  private loopScheduled = false;
  private stopped = false;
  private fatal: Error | null = null;
  private lastRole: Role;
  private lastLeader: NodeId;
  private readonly metrics: Metrics | null;
  private readonly labels: { node: string };
  private readonly requestTimeoutMs: number;
  private transport!: GrpcTransport;
  private loopDone: Promise<void> = Promise.resolve();

  private constructor(
    private readonly opts: RaftNodeOptions,
    private readonly storage: DiskStorage,
    core: RaftCore,
  ) {
    this.id = opts.id;
    this.core = core;
    this.applied = core.log.applied;
    this.lastRole = core.role;
    this.lastLeader = core.lead;
    this.labels = { node: String(opts.id) };
    this.metrics = opts.registry ? metricsFor(opts.registry) : null;
    if (this.metrics) {
      // Every series of this node exists from the start (at 0), not only after its first event.
      const m = this.metrics;
      for (const c of [m.elections, m.leaderChanges, m.snapshotsTaken, m.snapshotsInstalled])
        c.inc(this.labels, 0);
      m.commitLatency.zero(this.labels);
      m.readyDuration.zero(this.labels);
    }
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  }

  /** Opens the data dir, restores the state machine from the snapshot, starts the transport and ticks. */
  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    const storage = await DiskStorage.open({
      dir: opts.dataDir,
      clusterId: opts.clusterId,
      nodeId: opts.id,
      segmentBytes: opts.segmentBytes,
      fsync: opts.fsync,
    });
    try {
      let st = storage.takeInitialState();
      if (storage.isEmpty() && opts.bootstrap && opts.bootstrap.length > 0) {
        const boot = bootstrapState(opts.bootstrap);
        await storage.persist({ ...boot, truncateFrom: 1, snapshot: null });
        st = { hardState: boot.hardState, snapshot: undefined, entries: boot.entries };
      }
      if (st.snapshot) await opts.stateMachine.restore(st.snapshot.data);
      const core = new RaftCore({
        id: opts.id,
        seed: opts.seed ?? randomInt(1, 2 ** 31),
        electionTick: opts.electionTick ?? 10,
        heartbeatTick: opts.heartbeatTick ?? 1,
        snapshotThreshold: opts.snapshotThreshold,
        snapshotChunkSize: opts.snapshotChunkSize,
        maxEntriesPerAppend: opts.maxEntriesPerAppend,
        hardState: st.hardState,
        snapshot: st.snapshot,
        entries: st.entries,
      });
      const node = new RaftNode(opts, storage, core);
      node.transport = await GrpcTransport.start({
        id: opts.id,
        clusterId: opts.clusterId,
        listen: opts.listen,
        peers: opts.peers,
        logger: opts.logger,
        deadlineMs: opts.transportDeadlineMs,
        protocolVersion: opts.protocolVersion,
        services: opts.services,
        onMessage: (m) => node.onMessage(m),
      });
      node.updateMetrics();
      node.ticker = setInterval(() => node.onTick(), opts.tickMs ?? 50);
      opts.logger?.info(
        { node: opts.id, address: node.transport.address, term: core.term, commit: core.commit },
        "raft node started",
      );
      node.kick();
      return node;
    } catch (e) {
      await storage.close();
      throw e;
    }
  }

  /** The bound address of this node's Raft gRPC server. */
  get address(): string {
    return this.transport.address;
  }

  setPeer(id: NodeId, address: string): void {
    if (id !== this.id) this.transport.setPeer(id, address);
  }

  /** The transport, for calls of other services to peers over their Raft routes. */
  get peers(): Pick<GrpcTransport, "call" | "peerIds" | "peerAddress"> {
    return this.transport;
  }

  get transportStats() {
    return this.transport.stats;
  }

  status(): RaftStatus {
    const st = this.storage.stats();
    return {
      id: this.id,
      term: this.core.term,
      role: this.core.role,
      leaderId: this.core.lead,
      commit: this.core.commit,
      applied: this.applied,
      lastIndex: this.core.log.lastIndex(),
      logEntries: st.entries,
      logBytes: st.logBytes,
      snapshotIndex: this.core.log.snap.index,
      conf: this.core.conf(),
    };
  }

  // ---------------------------------------------------------------- client API

  /** Replicates `data`; resolves once it is committed and applied on this node. */
  propose(data: Uint8Array): Promise<{ index: number; term: number }> {
    const err = this.checkUsable();
    if (err) return Promise.reject(err);
    const r = this.core.propose(data);
    return this.awaitProposal(r);
  }

  /** Resolves when this node's state machine reflects every write committed before the call. */
  readIndex(): Promise<void> {
    const err = this.checkUsable();
    if (err) return Promise.reject(err);
    const ctx = `${this.id}-${++this.readCounter}`;
    const r = this.core.readIndex(ctx);
    if (!r.ok) return Promise.reject(new NotLeaderError(r.leaderId, r.reason));
    const p = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(ctx);
        reject(new RaftTimeoutError(`readIndex timed out after ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.reads.set(ctx, { index: null, resolve, reject, timer });
    });
    this.kick();
    return p;
  }

  /** Hands leadership to `to`; resolves once this node sees `to` as leader. */
  async transferLeadership(to: NodeId): Promise<void> {
    const err = this.checkUsable();
    if (err) throw err;
    const r = this.core.transferLeadership(to);
    if (!r.ok) throw new NotLeaderError(r.leaderId, r.reason);
    this.kick();
    const deadline = Date.now() + this.requestTimeoutMs;
    while (this.core.lead !== to) {
      if (this.stopped) throw new RaftStoppedError("stopped");
      if (Date.now() > deadline) throw new RaftTimeoutError(`leadership did not move to ${to}`);
      await sleep(this.opts.tickMs ?? 50);
    }
  }

  /** Adds `id` as a learner (it receives the log but does not vote); `address` registers its route. */
  addLearner(id: NodeId, address?: string): Promise<{ index: number; term: number }> {
    if (address) this.setPeer(id, address);
    return this.changeConf({ type: "addLearner", node: id });
  }

  /** Promotes a learner to voter, retrying (within the request timeout) until it has caught up. */
  async promote(id: NodeId): Promise<{ index: number; term: number }> {
    const deadline = Date.now() + this.requestTimeoutMs;
    for (;;) {
      try {
        return await this.changeConf({ type: "promote", node: id });
      } catch (e) {
        const retry = e instanceof NotLeaderError && /caught up|still uncommitted/.test(e.message);
        if (!retry || Date.now() > deadline) throw e;
        await sleep(this.opts.tickMs ?? 50);
      }
    }
  }

  removeVoter(id: NodeId): Promise<{ index: number; term: number }> {
    return this.changeConf({ type: "remove", node: id });
  }

  private changeConf(change: ConfChange): Promise<{ index: number; term: number }> {
    const err = this.checkUsable();
    if (err) return Promise.reject(err);
    return this.awaitProposal(this.core.proposeConfChange(change));
  }

  private awaitProposal(r: ReturnType<RaftCore["propose"]>): Promise<{ index: number; term: number }> {
    if (!r.ok) return Promise.reject(new NotLeaderError(r.leaderId, r.reason));
    const { index, term } = r;
    const p = new Promise<{ index: number; term: number }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.proposals.delete(index);
        reject(new RaftTimeoutError(`proposal ${index} not applied within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.proposals.set(index, { term, started: performance.now(), resolve, reject, timer });
    });
    this.kick();
    return p;
  }

  /** Resolves once the local state machine has applied `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  private checkUsable(): Error | null {
    if (this.fatal) return this.fatal;
    if (this.stopped) return new RaftStoppedError("raft node is stopped");
    return null;
  }

  // ---------------------------------------------------------------- inputs

  private onTick(): void {
    if (this.stopped) return;
    this.core.tick();
    this.observeRole();
    this.kick();
  }

  /** When a message from each peer last arrived (wall clock): a sign of life the controller can use. */
  readonly lastHeardFrom = new Map<NodeId, number>();

  private onMessage(m: Message): void {
    if (this.stopped) return;
    this.lastHeardFrom.set(m.from, Date.now());
    this.core.step(m);
    this.observeRole();
    this.kick();
  }

  private observeRole(): void {
    const role = this.core.role;
    const lead = this.core.lead;
    if (role !== this.lastRole) {
      if (role === "candidate") this.metrics?.elections.inc(this.labels);
      if (role === "leader")
        this.opts.logger?.info({ node: this.id, term: this.core.term }, "raft: became leader");
      this.lastRole = role;
      // Proposals this node made as leader may still commit (then they resolve) or be overwritten.
    }
    if (lead !== this.lastLeader) {
      if (lead !== 0) this.metrics?.leaderChanges.inc(this.labels);
      this.lastLeader = lead;
    }
  }

  // ---------------------------------------------------------------- the Ready loop

  private kick(): void {
    if (this.loopRunning || this.loopScheduled || this.stopped) return;
    this.loopScheduled = true;
    setImmediate(() => {
      this.loopScheduled = false;
      if (this.loopRunning || this.stopped) return;
      this.loopRunning = true;
      this.loopDone = this.runLoop().finally(() => {
        this.loopRunning = false;
      });
    });
  }

  private async runLoop(): Promise<void> {
    try {
      while (!this.stopped) {
        const rd = this.core.ready();
        if (!rd) break;
        const t0 = performance.now();
        await this.handleReady(rd);
        this.core.advance(rd);
        this.observeRole();
        this.metrics?.readyDuration.observe(this.labels, (performance.now() - t0) / 1000);
      }
      this.updateMetrics();
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    for (const m of rd.earlyMessages) this.transport.send(m);
    // 1. persist, fsync (group commit: everything gathered since the previous Ready)
    if (rd.snapshot || rd.entries.length > 0 || rd.hardState || rd.truncateFrom !== null) {
      await this.storage.persist(rd);
    }
    if (this.stopped) throw new RaftStoppedError("stopped during persist");
    // 2. send
    for (const m of rd.messages) this.transport.send(m);
    // 3. apply
    const sm = this.opts.stateMachine;
    if (rd.snapshot) {
      await sm.restore(rd.snapshot.data);
      this.applied = rd.snapshot.meta.index;
      this.metrics?.snapshotsInstalled.inc(this.labels);
      this.opts.logger?.info(
        {
          node: this.id,
          index: rd.snapshot.meta.index,
          term: rd.snapshot.meta.term,
          bytes: rd.snapshot.data.length,
        },
        "raft snapshot installed from the leader",
      );
      for (const [index, p] of this.proposals) {
        if (index <= this.applied) {
          this.proposals.delete(index);
          clearTimeout(p.timer);
          p.reject(new ProposalDroppedError(`entry ${index} was replaced by a snapshot from the leader`));
        }
      }
    }
    if (rd.committedEntries.length > 0) {
      await sm.apply(rd.committedEntries);
      const now = performance.now();
      for (const e of rd.committedEntries) {
        const p = this.proposals.get(e.index);
        if (!p) continue;
        this.proposals.delete(e.index);
        clearTimeout(p.timer);
        if (e.term === p.term) {
          this.metrics?.commitLatency.observe(this.labels, (now - p.started) / 1000);
          p.resolve({ index: e.index, term: e.term });
        } else {
          p.reject(new ProposalDroppedError(`entry ${e.index} was overwritten by term ${e.term}`));
        }
      }
      this.applied = rd.committedEntries[rd.committedEntries.length - 1].index;
    }
    // 4. reads
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.ctx);
      if (r) r.index = rs.index;
    }
    this.serveReads();
    // 5. snapshot + compaction
    if (rd.snapshotRequest) {
      const meta = rd.snapshotRequest;
      const data = await sm.snapshot();
      await this.storage.saveSnapshot({ meta, data });
      this.core.compact(meta.index, data);
      this.metrics?.snapshotsTaken.inc(this.labels);
      this.opts.logger?.debug({ node: this.id, index: meta.index }, "raft snapshot taken, log compacted");
    }
  }

  private serveReads(): void {
    for (const [ctx, r] of this.reads) {
      if (r.index !== null && r.index <= this.applied) {
        this.reads.delete(ctx);
        clearTimeout(r.timer);
        r.resolve();
      }
    }
    if (this.appliedWaiters.length > 0) {
      for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
        const w = this.appliedWaiters[i];
        if (w.index <= this.applied) {
          this.appliedWaiters.splice(i, 1);
          w.resolve();
        }
      }
    }
  }

  private updateMetrics(): void {
    const m = this.metrics;
    if (!m) return;
    const l = this.labels;
    const st = this.storage.stats();
    m.term.set(l, this.core.term);
    for (const r of ROLES) m.role.set({ ...l, role: r }, r === this.core.role ? 1 : 0);
    m.leader.set(l, this.core.lead);
    m.commit.set(l, this.core.commit);
    m.applied.set(l, this.applied);
    m.logEntries.set(l, st.entries);
    m.logBytes.set(l, st.logBytes);
    m.snapshotIndex.set(l, this.core.log.snap.index);
    const conf = this.core.conf();
    m.voters.set(l, conf.voters.length);
    m.learners.set(l, conf.learners.length);
  }

  private fail(e: Error): void {
    if (this.stopped) return;
    this.fatal = e;
    this.opts.logger?.error({ err: e, node: this.id }, "raft node failed; stopping (fail-stop)");
    void this.stop();
  }

  /** Stops ticking, the transport and the storage; pending requests are rejected. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    const err = this.fatal ?? new RaftStoppedError("raft node stopped");
    for (const p of this.proposals.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.proposals.clear();
    for (const r of this.reads.values()) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this.reads.clear();
    await this.transport.stop();
    await this.loopDone.catch(() => undefined);
    await this.storage.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export type { ConfChange, Entry, NodeId };
