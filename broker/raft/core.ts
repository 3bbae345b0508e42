// The Raft core: a pure, deterministic state machine in the Ready/Advance shape. It performs no I/O, reads
// no clock and draws no ambient randomness; the runtime feeds it ticks, messages and proposals and
// carries out what `ready()` returns (see `Ready` in types.ts for the exact order). See README.md.
//
// Membership changes take effect when their entry is APPENDED to a log (the single-server change of
// Ongaro's dissertation, section 4.1), not when committed. It is safe because (a) a leader accepts a new
// change only once every earlier one is committed (`pendingConfIndex`), which also covers a change left
// uncommitted by a previous leader (pendingConfIndex starts at the log end when a node becomes leader,
// so the leader must first commit its own no-op entry — the fix for the bug Ongaro reported in 2015), and
// (b) a follower that truncates a conf entry falls back to the previous configuration.
import { RaftLog } from "./log.ts";
import { Progress } from "./progress.ts";
import { CoreRandom } from "./rand.ts";
import {
  type AppendRequest,
  type AppendResponse,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Heartbeat,
  type Message,
  NONE,
  type NodeId,
  type ProposeResult,
  type ReadIndexResult,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
  type SnapshotChunk,
  type SnapshotMeta,
  type VoteRequest,
} from "./types.ts";

export { RaftSafetyError } from "./log.ts";

export interface UnsafeFlags {
  /** BROKEN ON PURPOSE: vote grants are released (Ready.earlyMessages) before the vote is durable. */
  grantVoteBeforePersist?: boolean;
  /** BROKEN ON PURPOSE: entries of earlier terms are committed by counting replicas (Raft Figure 8). */
  commitPreviousTermByCount?: boolean;
}

export interface RaftOptions {
  id: NodeId;
  /** Seeds the randomised election timeouts. */
  seed: number;
  /** Ticks without hearing from a leader before campaigning (randomised in [electionTick, 2*electionTick)). */
  electionTick?: number;
  heartbeatTick?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  maxEntriesPerAppend?: number;
  maxInflight?: number;
  /** Bytes per InstallSnapshot chunk. */
  snapshotChunkSize?: number;
  /** Ask for a snapshot once this many applied entries follow the latest snapshot; 0 = never. */
  snapshotThreshold?: number;
  /** Durable state loaded by the runtime (all absent for a brand-new, empty node). */
  hardState?: HardState;
  snapshot?: Snapshot;
  entries?: Entry[];
  /** Index the runtime's state machine has already applied (if it is itself durable); default: snapshot index. */
  applied?: number;
  unsafe?: UnsafeFlags;
}

const EMPTY = new Uint8Array(0);

/** The durable state of a brand-new cluster member: a committed bootstrap conf entry at index 1. */
export function bootstrapState(voters: NodeId[]): { hardState: HardState; entries: Entry[] } {
  return {
    hardState: { term: 1, vote: NONE, commit: 1 },
    entries: [{ index: 1, term: 1, data: EMPTY, change: { type: "bootstrap", voters: [...voters] } }],
  };
}

interface PendingRead {
  ctx: string;
  index: number;
  from: NodeId;
  acks: Set<NodeId>;
}

export class RaftCore {
  readonly id: NodeId;
  term: number;
  vote: NodeId;
  lead: NodeId = NONE;
  role: Role = "follower";
  readonly log: RaftLog;

  private readonly electionTick: number;
  private readonly heartbeatTick: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxEntries: number;
  private readonly maxInflight: number;
  private readonly chunkSize: number;
  private readonly snapshotThreshold: number;
  private readonly unsafe: UnsafeFlags;
  private readonly rand: CoreRandom;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private votes = new Map<NodeId, boolean>();
  private progress = new Map<NodeId, Progress>();
  private msgs: Message[] = [];
  private earlyMsgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHardState: HardState;
  private readyInFlight = false;
  private pendingConfIndex = 0;
  private leadTransferee: NodeId = NONE;
  /** Reads waiting for the leader to commit its first entry of the term. */
  private readsBeforeCommit: { ctx: string; from: NodeId }[] = [];
  /** Reads waiting for a heartbeat quorum, oldest first. */
  private readQueue: PendingRead[] = [];
  private snapshotRequestedAt = 0;
  /** Chunks of an incoming snapshot transfer. */
  private snapRecv: { index: number; term: number; received: number; chunks: Uint8Array[] } | null = null;

  constructor(opts: RaftOptions) {
    if (!Number.isInteger(opts.id) || opts.id <= 0)
      throw new RangeError("node id must be a positive integer");
    this.id = opts.id;
    this.electionTick = opts.electionTick ?? 10;
    this.heartbeatTick = opts.heartbeatTick ?? 1;
    if (this.heartbeatTick >= this.electionTick) throw new RangeError("heartbeatTick must be < electionTick");
    this.preVote = opts.preVote ?? true;
    this.checkQuorum = opts.checkQuorum ?? true;
    this.maxEntries = opts.maxEntriesPerAppend ?? 64;
    this.maxInflight = opts.maxInflight ?? 16;
    this.chunkSize = opts.snapshotChunkSize ?? 64 * 1024;
    this.snapshotThreshold = opts.snapshotThreshold ?? 1000;
    this.unsafe = opts.unsafe ?? {};
    this.rand = new CoreRandom(opts.seed);
    const hs = opts.hardState ?? { term: 0, vote: NONE, commit: 0 };
    const snapshot = opts.snapshot ?? {
      meta: { index: 0, term: 0, conf: { voters: [], learners: [] } },
      data: EMPTY,
    };
    this.log = new RaftLog(snapshot, opts.entries ?? [], hs.commit, opts.applied ?? snapshot.meta.index);
    this.term = hs.term;
    this.vote = hs.vote;
    this.prevHardState = { term: hs.term, vote: hs.vote, commit: this.log.committed };
    this.snapshotRequestedAt = snapshot.meta.index;
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- inspection

  get commit(): number {
    return this.log.committed;
  }

  conf(): ConfState {
    return this.log.conf();
  }

  isVoter(id: NodeId = this.id): boolean {
    return this.log.conf().voters.includes(id);
  }

  /** The leader's replication view of `id` (leader only), for tests and metrics. */
  progressOf(id: NodeId): Readonly<Progress> | undefined {
    return this.progress.get(id);
  }

  hasReady(): boolean {
    const hs = this.hardState();
    return (
      this.msgs.length > 0 ||
      this.earlyMsgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.pendingSnapshot !== null ||
      this.log.lastIndex() > this.log.stableTo ||
      hs.term !== this.prevHardState.term ||
      hs.vote !== this.prevHardState.vote ||
      hs.commit !== this.prevHardState.commit ||
      this.applicableTo() > this.log.applied
    );
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  propose(data: Uint8Array): ProposeResult {
    if (this.role !== "leader") return { ok: false, leaderId: this.lead, reason: "not leader" };
    if (this.leadTransferee !== NONE)
      return { ok: false, leaderId: this.id, reason: "leadership transfer in progress" };
    const e = this.appendEntry(data);
    return { ok: true, index: e.index, term: e.term };
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    if (this.role !== "leader") return { ok: false, leaderId: this.lead, reason: "not leader" };
    if (this.leadTransferee !== NONE)
      return { ok: false, leaderId: this.id, reason: "leadership transfer in progress" };
    if (this.pendingConfIndex > this.log.committed) {
      return { ok: false, leaderId: this.id, reason: "a configuration change is still uncommitted" };
    }
    const conf = this.log.conf();
    const refuse = (reason: string): ProposeResult => ({ ok: false, leaderId: this.id, reason });
    switch (change.type) {
      case "bootstrap":
        return refuse("bootstrap is only valid as a new cluster's first entry");
      case "addLearner":
        if (conf.voters.includes(change.node) || conf.learners.includes(change.node))
          return refuse("already a member");
        break;
      case "promote": {
        if (!conf.learners.includes(change.node)) return refuse("not a learner");
        const pr = this.progress.get(change.node);
        if (!pr || pr.match < this.log.committed) return refuse("learner has not caught up");
        break;
      }
      case "remove":
        if (change.node === this.id) return refuse("transfer leadership before removing the leader");
        if (!conf.voters.includes(change.node) && !conf.learners.includes(change.node))
          return refuse("not a member");
        break;
    }
    const e = this.appendEntry(EMPTY, change);
    this.pendingConfIndex = e.index;
    return { ok: true, index: e.index, term: e.term };
  }

  /** Requests a linearizable read; its ReadState (ctx, index) arrives in a later Ready. */
  readIndex(ctx: string): ReadIndexResult {
    if (this.role === "leader") {
      this.leaderReadIndex(ctx, this.id);
      return { ok: true };
    }
    if (this.lead === NONE) return { ok: false, leaderId: NONE, reason: "no known leader" };
    this.send({ type: "readIndex", from: this.id, to: this.lead, term: this.term, ctx });
    return { ok: true };
  }

  transferLeadership(to: NodeId): ReadIndexResult {
    if (this.role !== "leader") return { ok: false, leaderId: this.lead, reason: "not leader" };
    if (to === this.id) return { ok: false, leaderId: this.id, reason: "already leader" };
    if (!this.isVoter(to)) return { ok: false, leaderId: this.id, reason: "target is not a voter" };
    if (this.leadTransferee === to) return { ok: true };
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex())
      this.send({ type: "timeoutNow", from: this.id, to, term: this.term });
    else this.sendAppend(to);
    return { ok: true };
  }

  /** Metadata (term, configuration) a snapshot of the state machine at applied index `index` must carry. */
  snapshotMeta(index: number): SnapshotMeta {
    const term = this.log.term(index);
    if (term === undefined || index > this.log.applied) throw new RangeError(`no applied entry at ${index}`);
    return { index, term, conf: this.log.confAt(index) };
  }

  /**
   * The runtime has durably stored a snapshot of the state machine at `index` (<= applied), with the
   * metadata from `Ready.snapshotRequest` or `snapshotMeta(index)`: entries up to `index` are dropped from
   * the in-memory log (the runtime may delete them from disk too) and lagging followers will receive
   * this snapshot. A no-op if the log has meanwhile moved past `index` (e.g. a leader's snapshot was
   * installed).
   */
  compact(index: number, data: Uint8Array): void {
    this.log.compact(index, data);
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === "preVote" || m.type === "vote") {
        const inLease =
          this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTick && !m.transfer;
        if (inLease) return; // a leader is alive as far as we know: do not let this candidate disrupt it
      }
      if (m.type === "preVote") {
        // Never change term for a pre-vote.
      } else if (m.type === "preVoteResp" && !m.reject) {
        // Granted pre-votes carry the future term; the pre-candidate counts them below.
      } else {
        const fromLeader = m.type === "append" || m.type === "heartbeat" || m.type === "snapshot";
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === "append" || m.type === "heartbeat")) {
        // A stale leader (e.g. one rejoining after a partition): tell it the current term.
        this.send({
          type: "appendResp",
          from: this.id,
          to: m.from,
          term: this.term,
          index: 0,
          reject: false,
          hintIndex: 0,
          hintTerm: 0,
        });
      } else if (m.type === "preVote") {
        this.send({ type: "preVoteResp", from: this.id, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    switch (m.type) {
      case "preVote":
      case "vote":
        this.handleVoteRequest(m);
        return;
      case "readIndex":
        if (this.role === "leader") this.leaderReadIndex(m.ctx, m.from);
        return;
      case "readIndexResp":
        if (this.role !== "leader") this.readStates.push({ ctx: m.ctx, index: m.index });
        return;
    }
    if (this.role === "leader") this.stepLeader(m);
    else if (this.role === "follower") this.stepFollower(m);
    else this.stepCandidate(m);
  }

  ready(): Ready | null {
    if (this.readyInFlight) throw new Error("ready() called before advance() of the previous Ready");
    if (!this.hasReady()) return null;
    const hs = this.hardState();
    const hsChanged =
      hs.term !== this.prevHardState.term ||
      hs.vote !== this.prevHardState.vote ||
      hs.commit !== this.prevHardState.commit;
    const snapshot = this.log.pendingSnapshot;
    const entries =
      this.log.lastIndex() > this.log.stableTo
        ? this.log.slice(this.log.stableTo + 1, this.log.lastIndex())
        : [];
    let committedEntries: Entry[] = [];
    if (snapshot) {
      this.log.applied = snapshot.meta.index;
    } else {
      const to = this.applicableTo();
      if (to > this.log.applied) {
        committedEntries = this.log.slice(this.log.applied + 1, to);
        this.log.applied = to;
      }
    }
    let snapshotRequest: SnapshotMeta | null = null;
    if (
      this.snapshotThreshold > 0 &&
      this.log.applied - Math.max(this.log.snap.index, this.snapshotRequestedAt) >= this.snapshotThreshold
    ) {
      snapshotRequest = this.snapshotMeta(this.log.applied);
      this.snapshotRequestedAt = this.log.applied;
    }
    const rd: Ready = {
      hardState: hsChanged ? hs : null,
      truncateFrom: entries.length > 0 ? entries[0].index : null,
      entries,
      snapshot,
      messages: this.msgs,
      earlyMessages: this.earlyMsgs,
      committedEntries,
      readStates: this.readStates,
      snapshotRequest,
    };
    this.msgs = [];
    this.earlyMsgs = [];
    this.readStates = [];
    this.readyInFlight = true;
    return rd;
  }

  /** The runtime has carried out `rd` (persisted, sent, applied). */
  advance(rd: Ready): void {
    if (!this.readyInFlight) throw new Error("advance() without an outstanding Ready");
    this.readyInFlight = false;
    if (rd.hardState) this.prevHardState = rd.hardState;
    if (rd.snapshot) {
      if (this.log.pendingSnapshot === rd.snapshot) this.log.pendingSnapshot = null;
      this.log.stableToIndex(rd.snapshot.meta.index, rd.snapshot.meta.term);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.log.stableToIndex(last.index, last.term);
    }
    if (this.role === "leader") {
      const self = this.progress.get(this.id);
      if (self) self.maybeUpdate(this.log.stableTo);
      if (this.maybeCommit()) this.bcastAppend();
    }
  }

  // ---------------------------------------------------------------- role changes

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** Committed entries that are also durable locally (and not behind a pending snapshot). */
  private applicableTo(): number {
    if (this.log.pendingSnapshot) return this.log.applied;
    return Math.min(this.log.committed, this.log.stableTo);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTick + this.rand.int(0, this.electionTick - 1);
    this.votes.clear();
    this.progress.clear();
    this.leadTransferee = NONE;
    this.readQueue = [];
    this.readsBeforeCommit = [];
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.role = "follower";
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    // Pre-candidates keep their term and vote: nothing about them is durable yet.
    this.role = "preCandidate";
    this.votes.clear();
    this.lead = NONE;
    this.electionElapsed = 0;
    this.randomizedElectionTimeout = this.electionTick + this.rand.int(0, this.electionTick - 1);
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = "leader";
    this.lead = this.id;
    this.rebuildProgress();
    // Any conf entry in our log may be uncommitted: no new change until our own no-op commits.
    this.pendingConfIndex = this.log.lastIndex();
    this.appendEntry(EMPTY);
  }

  private rebuildProgress(): void {
    const conf = this.log.conf();
    const next = this.log.lastIndex() + 1;
    const old = this.progress;
    this.progress = new Map();
    for (const id of [...conf.voters, ...conf.learners]) {
      const isLearner = !conf.voters.includes(id);
      let pr = old.get(id);
      if (pr) pr.isLearner = isLearner;
      else {
        pr = new Progress(next, isLearner, this.maxInflight);
        if (id === this.id) {
          pr.match = this.log.stableTo;
          pr.next = next;
        }
      }
      this.progress.set(id, pr);
    }
  }

  private campaign(pre: boolean, transfer: boolean): void {
    if (pre) this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = pre ? this.term + 1 : this.term;
    if (this.poll(this.id, true) === "won") {
      if (pre) this.campaign(false, transfer);
      else this.becomeLeader();
      return;
    }
    for (const id of this.log.conf().voters) {
      if (id === this.id) continue;
      this.send({
        type: pre ? "preVote" : "vote",
        from: this.id,
        to: id,
        term: voteTerm,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer,
      });
    }
  }

  private poll(from: NodeId, granted: boolean): "won" | "lost" | "pending" {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const voters = this.log.conf().voters;
    let yes = 0;
    let no = 0;
    for (const id of voters) {
      const v = this.votes.get(id);
      if (v === true) yes++;
      else if (v === false) no++;
    }
    const q = quorum(voters.length);
    if (yes >= q) return "won";
    if (no > voters.length - q) return "lost";
    return "pending";
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      if (this.isVoter()) this.campaign(this.preVote, false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTick) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        let active = 0;
        for (const id of this.log.conf().voters) {
          const pr = this.progress.get(id);
          if (id === this.id || pr?.recentActive) active++;
        }
        for (const [id, pr] of this.progress) pr.recentActive = id === this.id;
        if (active < quorum(this.log.conf().voters.length)) {
          this.becomeFollower(this.term, NONE);
          return;
        }
      }
      this.leadTransferee = NONE; // a transfer that did not finish within an election timeout is abandoned
    }
    if (this.heartbeatElapsed >= this.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  // ---------------------------------------------------------------- votes

  private handleVoteRequest(m: VoteRequest): void {
    const pre = m.type === "preVote";
    const canVote =
      this.vote === m.from || (this.vote === NONE && this.lead === NONE) || (pre && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      const resp: Message = {
        type: pre ? "preVoteResp" : "voteResp",
        from: this.id,
        to: m.from,
        term: m.term,
        reject: false,
      };
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
        if (this.unsafe.grantVoteBeforePersist) {
          this.earlyMsgs.push(resp);
          return;
        }
      }
      this.send(resp);
    } else {
      this.send({
        type: pre ? "preVoteResp" : "voteResp",
        from: this.id,
        to: m.from,
        term: this.term,
        reject: true,
      });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case "preVoteResp":
      case "voteResp": {
        const want = this.role === "preCandidate" ? "preVoteResp" : "voteResp";
        if (m.type !== want) return;
        if (this.role === "preCandidate" && m.term !== this.term + 1) return;
        const res = this.poll(m.from, !m.reject);
        if (res === "won") {
          if (this.role === "preCandidate") this.campaign(false, false);
          else this.becomeLeader();
        } else if (res === "lost") {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      case "timeoutNow":
        return;
    }
  }

  // ---------------------------------------------------------------- follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "append":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case "heartbeat":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case "snapshot":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshotChunk(m);
        return;
      case "timeoutNow":
        if (this.isVoter()) this.campaign(false, true);
        return;
    }
  }

  private handleAppend(m: AppendRequest): void {
    const reply = (index: number, reject: boolean, hintIndex = 0, hintTerm = 0) =>
      this.send({
        type: "appendResp",
        from: this.id,
        to: m.from,
        term: this.term,
        index,
        reject,
        hintIndex,
        hintTerm,
      });
    if (m.prevIndex < this.log.committed) {
      reply(this.log.committed, false);
      return;
    }
    const res = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (res) {
      reply(res.lastNew, false);
      return;
    }
    const [hintIndex, hintTerm] = this.log.findConflictByTerm(
      Math.min(m.prevIndex, this.log.lastIndex()),
      m.prevTerm,
    );
    reply(m.prevIndex, true, hintIndex, hintTerm);
  }

  private handleHeartbeat(m: Heartbeat): void {
    // The leader sends min(our match, its commit), so every index up to it matches its log.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: "heartbeatResp", from: this.id, to: m.from, term: this.term, ctx: m.ctx });
  }

  private handleSnapshotChunk(m: SnapshotChunk): void {
    const { meta } = m;
    const ack = (index: number) =>
      this.send({
        type: "appendResp",
        from: this.id,
        to: m.from,
        term: this.term,
        index,
        reject: false,
        hintIndex: 0,
        hintTerm: 0,
      });
    if (meta.index <= this.log.committed) {
      this.snapRecv = null;
      ack(this.log.committed);
      return;
    }
    let buf = this.snapRecv;
    if (!buf || buf.index !== meta.index || buf.term !== meta.term) {
      buf = { index: meta.index, term: meta.term, received: 0, chunks: [] };
      this.snapRecv = buf;
    }
    if (m.offset !== buf.received) {
      // Lost, duplicated or reordered chunk: tell the leader where to resume.
      this.send({
        type: "snapshotResp",
        from: this.id,
        to: m.from,
        term: this.term,
        index: meta.index,
        offset: buf.received,
      });
      return;
    }
    buf.chunks.push(m.chunk);
    buf.received += m.chunk.length;
    if (buf.received < m.total) {
      this.send({
        type: "snapshotResp",
        from: this.id,
        to: m.from,
        term: this.term,
        index: meta.index,
        offset: buf.received,
      });
      return;
    }
    this.snapRecv = null;
    const data = concat(buf.chunks, m.total);
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already hold the snapshot's last entry: just fast-forward the commit index.
      this.log.commitTo(meta.index);
    } else {
      this.log.restore({ meta, data });
    }
    ack(meta.index);
  }

  // ---------------------------------------------------------------- leader

  private appendEntry(data: Uint8Array, change?: ConfChange): Entry {
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, data };
    if (change) e.change = change;
    const confChanged = this.log.append([e]);
    if (confChanged) this.onConfChanged();
    this.bcastAppend();
    return e;
  }

  private onConfChanged(): void {
    if (this.role !== "leader") return;
    if (!this.isVoter()) {
      // Cannot happen through proposeConfChange (the leader may not remove itself); be safe anyway.
      this.becomeFollower(this.term, NONE);
      return;
    }
    this.rebuildProgress();
    if (this.maybeCommit()) this.bcastAppend();
  }

  private maybeCommit(): boolean {
    const voters = this.log.conf().voters;
    const matches: number[] = [];
    for (const id of voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    const idx = matches[quorum(voters.length) - 1];
    if (idx <= this.log.committed) return false;
    if (!this.unsafe.commitPreviousTermByCount && this.log.term(idx) !== this.term) return false;
    const firstInTerm = this.log.term(this.log.committed) !== this.term;
    this.log.commitTo(idx);
    if (firstInTerm && this.log.term(this.log.committed) === this.term) {
      const waiting = this.readsBeforeCommit;
      this.readsBeforeCommit = [];
      for (const r of waiting) this.leaderReadIndex(r.ctx, r.from);
    }
    return true;
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case "appendResp":
        pr.recentActive = true;
        this.handleAppendResp(m, pr);
        return;
      case "heartbeatResp":
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === "replicate" && pr.isPaused()) pr.inflight.shift();
        if (pr.state === "snapshot") this.sendSnapshotChunk(m.from, pr);
        else if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.ctx !== null) this.ackRead(m.ctx, m.from);
        return;
      case "snapshotResp":
        pr.recentActive = true;
        if (pr.state !== "snapshot" || !pr.snap || pr.snap.index !== m.index) return;
        pr.snap.offset = m.offset;
        this.sendSnapshotChunk(m.from, pr);
        return;
    }
  }

  private handleAppendResp(m: AppendResponse, pr: Progress): void {
    if (m.reject) {
      let hint = m.hintIndex;
      if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.hintIndex, m.hintTerm)[0];
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasProbe = pr.state === "probe" && pr.match === m.index;
    if (pr.maybeUpdate(m.index) || wasProbe) {
      if (pr.state === "probe") pr.becomeReplicate();
      else if (pr.state === "snapshot" && pr.snap && pr.match >= pr.snap.index) pr.becomeReplicate();
      if (this.maybeCommit()) this.bcastAppend();
      while (this.sendAppend(m.from, false)) {
        // keep the pipeline full
      }
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.send({ type: "timeoutNow", from: this.id, to: m.from, term: this.term });
      }
    }
  }

  /** Sends the entries `to` is missing (or a snapshot); returns whether a message went out. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    if (to === this.id) return false;
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      // What `to` needs is compacted away.
      pr.becomeSnapshot(this.log.snap.index);
      this.sendSnapshotChunk(to, pr);
      return true;
    }
    const last = Math.min(this.log.lastIndex(), prevIndex + this.maxEntries);
    const entries = last > prevIndex ? this.log.slice(prevIndex + 1, last) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: "append",
      from: this.id,
      to,
      term: this.term,
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.committed,
    });
    pr.sent(last, entries.length > 0);
    return true;
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    if (!pr.snap) return;
    if (pr.snap.index !== this.log.snap.index) pr.snap = { index: this.log.snap.index, offset: 0 };
    const data = this.log.snapData;
    const offset = Math.min(pr.snap.offset, data.length);
    const chunk = data.subarray(offset, Math.min(offset + this.chunkSize, data.length));
    this.send({
      type: "snapshot",
      from: this.id,
      to,
      term: this.term,
      meta: this.log.snap,
      offset,
      total: data.length,
      chunk,
    });
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    const ctx = this.readQueue.length > 0 ? this.readQueue[this.readQueue.length - 1].ctx : null;
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send({
        type: "heartbeat",
        from: this.id,
        to: id,
        term: this.term,
        commit: Math.min(pr.match, this.log.committed),
        ctx,
      });
    }
  }

  private leaderReadIndex(ctx: string, from: NodeId): void {
    if (this.log.term(this.log.committed) !== this.term) {
      this.readsBeforeCommit.push({ ctx, from });
      return;
    }
    const index = this.log.committed;
    if (this.log.conf().voters.length === 1) {
      this.releaseRead({ ctx, index, from, acks: new Set() });
      return;
    }
    this.readQueue.push({ ctx, index, from, acks: new Set([this.id]) });
    this.bcastHeartbeat();
  }

  private ackRead(ctx: string, from: NodeId): void {
    const i = this.readQueue.findIndex((r) => r.ctx === ctx);
    if (i < 0) return;
    const voters = this.log.conf().voters;
    if (!voters.includes(from)) return;
    const r = this.readQueue[i];
    r.acks.add(from);
    let n = 0;
    for (const id of voters) if (r.acks.has(id)) n++;
    if (n < quorum(voters.length)) return;
    // A quorum confirmed our leadership after this read (and every earlier one) was registered.
    for (const done of this.readQueue.splice(0, i + 1)) this.releaseRead(done);
  }

  private releaseRead(r: PendingRead): void {
    if (r.from === this.id) this.readStates.push({ ctx: r.ctx, index: r.index });
    else
      this.send({
        type: "readIndexResp",
        from: this.id,
        to: r.from,
        term: this.term,
        ctx: r.ctx,
        index: r.index,
      });
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }
}

export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
