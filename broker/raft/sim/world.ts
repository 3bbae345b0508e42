// The deterministic Raft simulator. Real `RaftCore` nodes run over a simulated network and simulated
// disks, with clients and an operator on top; every choice derives from one seed (harness/seed.ts), time
// is a virtual millisecond counter and events are ordered by (time, sequence), so a seed replays exactly.
//
// Fault model (rates drawn per seed):
//   network  per-message drop, duplication and random delay (hence reordering); partitions that split the
//            nodes into two groups and heal later; messages to a down node are lost.
//   disk     a Ready's writes stay pending until a simulated fsync completes; a crash loses them; a
//            restart reloads only durable state (hard state, snapshot, entries). Crashes happen at random
//            and, on purpose, while an fsync is pending.
//   process  crash + restart with a fresh core (new election-timeout seed) and a state machine rebuilt
//            from the durable snapshot and log.
// After `faultMs` every fault stops and everything heals; the liveness check then requires a write
// invoked after the heal to be acknowledged within `healMs`.
import { SeededRandom } from "../../../harness/seed.ts";
import { bootstrapState, RaftCore, RaftSafetyError } from "../core.ts";
import { type Entry, type HardState, type Message, NONE, type Ready, type Snapshot } from "../types.ts";
import { type Checker, createChecker } from "./checker.ts";
import { EventHeap, type Timed } from "./heap.ts";
import { encodeWrite, KEYS, KvStore, mixHash } from "./kv.ts";

export type Variant = "grant-vote-before-persist" | "commit-previous-term-by-count";
export const VARIANTS: Variant[] = ["grant-vote-before-persist", "commit-previous-term-by-count"];

export interface SimOptions {
  seed: number;
  variant?: Variant;
  /** Record a human-readable event trace (slower); used to replay a failing seed. */
  trace?: boolean;
  /** Simulated milliseconds of faults before everything heals (default 3000). */
  faultMs?: number;
  /** Simulated milliseconds after the heal within which a new write must commit (default 4000). */
  healMs?: number;
}

export interface Violation {
  invariant: string;
  message: string;
  time: number;
}

export type FaultCounts = Record<string, number>;

export interface SimResult {
  seed: number;
  violation: Violation | null;
  /** Hash of the whole event trace: equal for two runs of the same seed. */
  hash: string;
  faults: FaultCounts;
  stats: Record<string, number>;
  /** The last events before the end of the run (only with `trace: true`). */
  trace: string[];
}

type EvBody =
  | { k: "tick" }
  | { k: "deliver"; msg: Message }
  | { k: "fsync"; node: number; inc: number }
  | { k: "crash"; node: number }
  | { k: "restart"; node: number }
  | { k: "partition" }
  | { k: "isolate"; node: number }
  | { k: "healPartition" }
  | { k: "client"; c: number }
  | { k: "operator" }
  | { k: "transfer" }
  | { k: "endFaults" };
type Ev = Timed & EvBody;

interface Durable {
  hs: HardState;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

export interface SimNode {
  id: number;
  up: boolean;
  inc: number;
  core: RaftCore | null;
  kv: KvStore;
  durable: Durable;
  inflight: Ready | null;
  /** ReadStates waiting for the state machine to reach their index. */
  reads: { ctx: string; index: number }[];
  commitSeen: number;
}

type ClientOp =
  | { kind: "write"; wid: number; key: number; node: number; inc: number; invokedAt: number }
  | {
      kind: "read";
      ctx: string;
      key: number;
      node: number;
      inc: number;
      invokedAt: number;
      minIndex: number;
    };

interface Client {
  id: number;
  op: ClientOp | null;
  leaderHint: number;
  seq: number;
}

const TICK_MS = 10;
const OP_TIMEOUT_MS = 800;
const TRACE_KEEP = 80;

const TYPE_CODE: Record<string, number> = {
  preVote: 1,
  vote: 2,
  preVoteResp: 3,
  voteResp: 4,
  append: 5,
  appendResp: 6,
  heartbeat: 7,
  heartbeatResp: 8,
  snapshot: 9,
  snapshotResp: 10,
  timeoutNow: 11,
  readIndex: 12,
  readIndexResp: 13,
};

class Stop extends Error {}

export class Simulation {
  readonly seed: number;
  readonly nodes: SimNode[] = [];
  now = 0;
  readonly faults: FaultCounts = {
    drop: 0,
    duplicate: 0,
    partition: 0,
    partitionDrop: 0,
    isolateLeader: 0,
    crash: 0,
    crashUnsynced: 0,
    restart: 0,
  };
  readonly stats: Record<string, number> = {
    events: 0,
    writesAcked: 0,
    readsServed: 0,
    opsTimedOut: 0,
    elections: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    transfers: 0,
    confChanges: 0,
    learnersAdded: 0,
    learnersPromoted: 0,
    votersRemoved: 0,
  };
  violation: Violation | null = null;
  readonly checker: Checker;

  private readonly heap = new EventHeap<Ev>();
  private seq = 0;
  private hash = 0x811c9dc5;
  private readonly traceOn: boolean;
  private readonly traceBuf: string[] = [];
  private readonly root: SeededRandom;
  private readonly net: SeededRandom;
  private readonly disk: SeededRandom;
  private readonly faultRng: SeededRandom;
  private readonly clientRng: SeededRandom;
  private readonly opRng: SeededRandom;
  private readonly clients: Client[] = [];
  private group = new Map<number, number>();
  private faultsActive = true;
  private healAt = 0;
  private livenessDeadline = 0;
  private done = false;
  private nextWriteId = 1;
  private operatorStage = 0;
  private readonly joiner: number;
  private removeTarget = 0;
  private lastLeaderTerm = 0;

  // Per-seed configuration.
  private readonly cfg: {
    voters: number[];
    membership: boolean;
    electionTick: number;
    heartbeatTick: number;
    snapshotThreshold: number;
    chunkSize: number;
    maxEntries: number;
    maxInflight: number;
    clients: number;
    dropP: number;
    dupP: number;
    maxDelay: number;
    fsyncMax: number;
    crashEvery: number;
    crashUnsyncedP: number;
    partitionEvery: number;
    isolateLeaderP: number;
    transfers: boolean;
    faultMs: number;
    healMs: number;
  };

  constructor(private readonly opts: SimOptions) {
    this.seed = opts.seed;
    this.traceOn = opts.trace ?? false;
    this.root = new SeededRandom(opts.seed);
    const c = this.root.fork("config");
    const nVoters = c.chance(0.25) ? 5 : 3;
    const membership = c.chance(0.3);
    // Two fault profiles: "chaos" (40% of seeds) keeps AppendEntries tiny, clients busy, crashes and
    // leader isolation frequent — the schedules that expose subtle ordering bugs; "mixed" spans the rest.
    const chaos = c.chance(0.4);
    this.cfg = {
      voters: Array.from({ length: nVoters }, (_, i) => i + 1),
      membership,
      electionTick: 10,
      heartbeatTick: 2,
      snapshotThreshold: membership || c.chance(0.5) ? c.int(6, 30) : 0,
      chunkSize: c.int(16, 96),
      maxEntries: chaos ? 1 : c.int(1, 6),
      maxInflight: chaos ? c.int(1, 2) : c.int(1, 4),
      clients: chaos ? c.int(4, 6) : c.int(1, 3),
      dropP: c.pick([0, 0.01, 0.05, 0.15]),
      dupP: c.pick([0, 0.02, 0.08]),
      maxDelay: c.pick([4, 15, 40]),
      fsyncMax: c.pick([2, 10, 30]),
      crashEvery: c.pick(chaos ? [400, 800] : [0, 1500, 600]),
      crashUnsyncedP: c.pick(chaos ? [0.05, 0.15] : [0, 0.02, 0.08]),
      partitionEvery: c.pick([0, 1200, 500]),
      isolateLeaderP: c.pick(chaos ? [0.5, 0.8] : [0, 0.2]),
      transfers: c.chance(0.3),
      faultMs: opts.faultMs ?? 3000,
      healMs: opts.healMs ?? 4000,
    };
    this.net = this.root.fork("net");
    this.disk = this.root.fork("disk");
    this.faultRng = this.root.fork("faults");
    this.clientRng = this.root.fork("clients");
    this.opRng = this.root.fork("operator");
    this.checker = createChecker(this);

    const all = [...this.cfg.voters];
    this.joiner = membership ? nVoters + 1 : 0;
    if (this.joiner) all.push(this.joiner);
    for (const id of all) {
      const boot = this.cfg.voters.includes(id) ? bootstrapState(this.cfg.voters) : null;
      const node: SimNode = {
        id,
        up: false,
        inc: 0,
        core: null,
        kv: new KvStore(),
        durable: {
          hs: boot?.hardState ?? { term: 0, vote: NONE, commit: 0 },
          snapshot: undefined,
          entries: boot?.entries ?? [],
        },
        inflight: null,
        reads: [],
        commitSeen: 0,
      };
      this.nodes.push(node);
      this.start(node);
    }
    for (let i = 0; i < this.cfg.clients; i++)
      this.clients.push({ id: i, op: null, leaderHint: NONE, seq: 0 });
  }

  // ---------------------------------------------------------------- running

  run(): SimResult {
    this.schedule(TICK_MS, { k: "tick" });
    for (const cl of this.clients) this.schedule(this.clientRng.int(50, 150), { k: "client", c: cl.id });
    if (this.cfg.crashEvery)
      this.schedule(this.faultRng.int(0, this.cfg.crashEvery), { k: "crash", node: 0 });
    if (this.cfg.partitionEvery)
      this.schedule(this.faultRng.int(0, this.cfg.partitionEvery), { k: "partition" });
    if (this.cfg.membership) this.schedule(this.opRng.int(200, 800), { k: "operator" });
    if (this.cfg.transfers) this.schedule(this.opRng.int(300, 1200), { k: "transfer" });
    this.schedule(this.cfg.faultMs, { k: "endFaults" });
    try {
      while (!this.done) {
        const ev = this.heap.pop();
        if (!ev) break;
        this.now = ev.time;
        this.stats.events++;
        this.mix(ev);
        this.handle(ev);
        this.checker.afterEvent();
        this.watchLeaders();
        if (this.healAt > 0 && this.now > this.livenessDeadline) {
          this.fail(
            "liveness",
            `no write invoked after the heal at ${this.healAt} ms committed within ${this.cfg.healMs} ms`,
          );
        }
      }
      this.checker.atEnd();
    } catch (err) {
      if (!(err instanceof Stop)) {
        const invariant = err instanceof RaftSafetyError ? "core-assertion" : "exception";
        this.violation = {
          invariant,
          message: err instanceof Error ? (err.stack ?? err.message) : String(err),
          time: this.now,
        };
      }
    }
    return {
      seed: this.seed,
      violation: this.violation,
      hash: this.hash.toString(16).padStart(8, "0"),
      faults: { ...this.faults },
      stats: { ...this.stats, simulatedMs: this.now },
      trace: this.traceBuf.slice(-TRACE_KEEP),
    };
  }

  /** Targeted fault: sometimes cut a newly elected leader off right after its election. */
  private watchLeaders(): void {
    if (!this.faultsActive || this.cfg.isolateLeaderP === 0) return;
    for (const n of this.nodes) {
      if (!n.up || n.core!.role !== "leader" || n.core!.term <= this.lastLeaderTerm) continue;
      this.lastLeaderTerm = n.core!.term;
      if (this.faultRng.chance(this.cfg.isolateLeaderP)) {
        this.schedule(this.faultRng.int(0, 2 * this.cfg.maxDelay), { k: "isolate", node: n.id });
      }
    }
  }

  fail(invariant: string, message: string): never {
    this.violation = { invariant, message, time: this.now };
    throw new Stop();
  }

  upNodes(): SimNode[] {
    return this.nodes.filter((n) => n.up);
  }

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      if (n.up && n.core!.role === "leader" && (!best || n.core!.term > best.core!.term)) best = n;
    }
    return best;
  }

  private schedule(delay: number, ev: EvBody): void {
    this.heap.push({ ...ev, time: this.now + delay, seq: this.seq++ } as Ev);
  }

  private mix(ev: Ev): void {
    let h = mixHash(this.hash, ev.time);
    h = mixHash(h, ev.k.length * 31 + ev.k.charCodeAt(0));
    if (ev.k === "deliver") {
      const m = ev.msg;
      h = mixHash(mixHash(mixHash(h, TYPE_CODE[m.type]), m.from * 256 + m.to), m.term);
    } else if ("node" in ev) {
      h = mixHash(h, ev.node);
    }
    this.hash = h;
    if (this.traceOn) this.traceBuf.push(this.describe(ev));
    if (this.traceBuf.length > 4 * TRACE_KEEP) this.traceBuf.splice(0, this.traceBuf.length - TRACE_KEEP);
  }

  private describe(ev: Ev): string {
    const t = `${String(ev.time).padStart(6)}ms`;
    switch (ev.k) {
      case "deliver": {
        const m = ev.msg;
        let extra = "";
        if (m.type === "append")
          extra = ` prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`;
        else if (m.type === "appendResp")
          extra = ` index=${m.index}${m.reject ? ` REJECT hint=${m.hintIndex}/${m.hintTerm}` : ""}`;
        else if (m.type === "preVoteResp" || m.type === "voteResp") extra = m.reject ? " REJECT" : " GRANT";
        else if (m.type === "preVote" || m.type === "vote") extra = ` last=${m.lastIndex}/${m.lastTerm}`;
        else if (m.type === "snapshot") extra = ` snap=${m.meta.index} off=${m.offset}/${m.total}`;
        return `${t} ${m.from}->${m.to} ${m.type} t${m.term}${extra}`;
      }
      case "fsync":
      case "crash":
      case "restart":
      case "isolate":
        return `${t} ${ev.k} n${ev.node}`;
      case "client":
        return `${t} client c${ev.c}`;
      default: {
        const roles = this.nodes
          .map((n) =>
            n.up
              ? `n${n.id}:${n.core!.role[0]}${n.core!.term}/${n.core!.log.lastIndex()}/${n.core!.commit}`
              : `n${n.id}:down`,
          )
          .join(" ");
        return `${t} ${ev.k} [${roles}]`;
      }
    }
  }

  private handle(ev: Ev): void {
    switch (ev.k) {
      case "tick":
        for (const n of this.nodes) {
          if (!n.up) continue;
          n.core!.tick();
          this.pump(n);
        }
        this.schedule(TICK_MS, { k: "tick" });
        return;
      case "deliver":
        this.deliver(ev.msg);
        return;
      case "fsync": {
        const n = this.nodes[ev.node - 1];
        if (n.up && n.inc === ev.inc && n.inflight) {
          const rd = n.inflight;
          this.complete(n, rd);
          this.pump(n);
        }
        return;
      }
      case "crash":
        this.onCrashEvent(ev.node);
        return;
      case "restart": {
        const n = this.nodes[ev.node - 1];
        if (!n.up) {
          this.faults.restart++;
          this.start(n);
        }
        return;
      }
      case "partition":
        this.onPartition();
        return;
      case "healPartition":
        this.group.clear();
        return;
      case "isolate":
        if (!this.faultsActive) return;
        this.group.clear();
        for (const n of this.nodes) this.group.set(n.id, n.id === ev.node ? 1 : 0);
        this.faults.partition++;
        this.faults.isolateLeader++;
        this.schedule(this.faultRng.int(100, 800), { k: "healPartition" });
        return;
      case "client":
        this.onClient(this.clients[ev.c]);
        return;
      case "operator":
        this.onOperator();
        return;
      case "transfer":
        this.onTransfer();
        return;
      case "endFaults":
        this.faultsActive = false;
        this.group.clear();
        for (const n of this.nodes) {
          if (!n.up) {
            this.faults.restart++;
            this.start(n);
          }
        }
        this.healAt = this.now;
        this.livenessDeadline = this.now + this.cfg.healMs;
        return;
    }
  }

  // ---------------------------------------------------------------- nodes and disks

  private start(n: SimNode): void {
    n.inc++;
    n.up = true;
    n.inflight = null;
    n.reads = [];
    const d = n.durable;
    n.core = new RaftCore({
      id: n.id,
      seed: this.root.fork(`core-${n.id}-${n.inc}`).seed,
      electionTick: this.cfg.electionTick,
      heartbeatTick: this.cfg.heartbeatTick,
      maxEntriesPerAppend: this.cfg.maxEntries,
      maxInflight: this.cfg.maxInflight,
      snapshotChunkSize: this.cfg.chunkSize,
      snapshotThreshold: this.cfg.snapshotThreshold,
      hardState: d.hs,
      snapshot: d.snapshot,
      entries: d.entries.slice(),
      unsafe: {
        grantVoteBeforePersist: this.opts.variant === "grant-vote-before-persist",
        commitPreviousTermByCount: this.opts.variant === "commit-previous-term-by-count",
      },
    });
    n.kv = d.snapshot ? KvStore.restore(d.snapshot.data) : new KvStore();
    n.commitSeen = n.core.commit;
    this.pump(n);
  }

  private crash(n: SimNode, unsynced: boolean): void {
    if (!n.up) return;
    n.up = false;
    n.core = null;
    n.inflight = null; // pending writes are lost with it
    n.reads = [];
    this.faults.crash++;
    if (unsynced) this.faults.crashUnsynced++;
    if (this.faultsActive) this.schedule(this.faultRng.int(20, 600), { k: "restart", node: n.id });
  }

  private onCrashEvent(node: number): void {
    if (!this.faultsActive) return;
    if (node === 0) {
      // The periodic random crash.
      const up = this.upNodes();
      if (up.length > 0) this.crash(this.faultRng.pick(up), false);
      this.schedule(this.faultRng.int(this.cfg.crashEvery / 2, (this.cfg.crashEvery * 3) / 2), {
        k: "crash",
        node: 0,
      });
    } else {
      const n = this.nodes[node - 1];
      if (n.inflight) this.crash(n, true);
    }
  }

  /** Hands the node's next Ready to its (simulated) disk, or carries it out at once if nothing to persist. */
  private pump(n: SimNode): void {
    while (n.up && !n.inflight) {
      const rd = n.core!.ready();
      if (!rd) return;
      for (const m of rd.earlyMessages) this.send(m);
      this.checker.onAppend(n, rd.entries);
      if (rd.hardState || rd.entries.length > 0 || rd.snapshot) {
        n.inflight = rd;
        const delay = this.disk.int(0, this.cfg.fsyncMax);
        this.schedule(delay, { k: "fsync", node: n.id, inc: n.inc });
        if (this.faultsActive && this.disk.chance(this.cfg.crashUnsyncedP)) {
          this.schedule(this.disk.int(0, delay), { k: "crash", node: n.id });
        }
        return;
      }
      this.complete(n, rd);
    }
  }

  /** The fsync for `rd` completed: make it durable, send, apply, snapshot, advance. */
  private complete(n: SimNode, rd: Ready): void {
    const d = n.durable;
    if (rd.snapshot) {
      d.snapshot = rd.snapshot;
      d.entries = [];
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      const base = d.snapshot ? d.snapshot.meta.index : 0;
      d.entries.length = Math.max(0, Math.min(d.entries.length, first - base - 1));
      if (d.entries.length + base + 1 !== first)
        throw new Error(`disk gap on n${n.id}: ${first} after ${base + d.entries.length}`);
      for (const e of rd.entries) d.entries.push(e);
    }
    if (rd.hardState) d.hs = rd.hardState;
    for (const m of rd.messages) this.send(m);
    const core = n.core!;
    if (rd.snapshot) {
      n.kv = KvStore.restore(rd.snapshot.data);
      this.stats.snapshotsInstalled++;
      this.checker.onSnapshotRestored(n, rd.snapshot);
    }
    for (const e of rd.committedEntries) this.apply(n, e);
    for (const rs of rd.readStates) n.reads.push(rs);
    this.serveReads(n);
    if (rd.snapshotRequest) {
      const index = rd.snapshotRequest.index;
      if (n.kv.applied !== index)
        this.fail("runtime", `snapshot requested at ${index} but applied ${n.kv.applied}`);
      const base = d.snapshot ? d.snapshot.meta.index : 0;
      if (index > base) {
        // Modelled as an atomic, immediately durable write (a real runtime writes and fsyncs a file).
        const snap: Snapshot = { meta: rd.snapshotRequest, data: n.kv.snapshot() };
        d.entries = d.entries.slice(Math.max(0, index - base));
        d.snapshot = snap;
        core.compact(index, snap.data);
        this.stats.snapshotsTaken++;
      }
    }
    core.advance(rd);
    n.inflight = null;
  }

  private apply(n: SimNode, e: Entry): void {
    const w = n.kv.apply(e);
    this.checker.onApply(n, e);
    if (e.change) this.stats.confChanges++;
    if (!w) return;
    for (const cl of this.clients) {
      const op = cl.op;
      if (op?.kind === "write" && op.wid === w.id && op.node === n.id && op.inc === n.inc) {
        this.checker.onWriteAcked(op.key, e);
        this.stats.writesAcked++;
        if (this.healAt > 0 && op.invokedAt >= this.healAt) this.done = true;
        cl.op = null;
      }
    }
  }

  private serveReads(n: SimNode): void {
    if (n.reads.length === 0) return;
    const keep: { ctx: string; index: number }[] = [];
    for (const rs of n.reads) {
      if (rs.index > n.kv.applied) {
        keep.push(rs);
        continue;
      }
      for (const cl of this.clients) {
        const op = cl.op;
        if (op?.kind === "read" && op.ctx === rs.ctx && op.node === n.id && op.inc === n.inc) {
          this.checker.onRead(op.key, op.minIndex, n.kv.writeIndex[op.key], n, rs.index);
          this.stats.readsServed++;
          cl.op = null;
        }
      }
    }
    n.reads = keep;
  }

  // ---------------------------------------------------------------- network

  private send(m: Message): void {
    if (this.faultsActive && this.cfg.dropP > 0 && this.net.chance(this.cfg.dropP)) {
      this.faults.drop++;
      return;
    }
    this.schedule(this.net.int(1, this.cfg.maxDelay), { k: "deliver", msg: m });
    if (this.faultsActive && this.cfg.dupP > 0 && this.net.chance(this.cfg.dupP)) {
      this.faults.duplicate++;
      this.schedule(this.net.int(1, this.cfg.maxDelay * 2), { k: "deliver", msg: m });
    }
  }

  private deliver(m: Message): void {
    const n = this.nodes[m.to - 1];
    if (!n?.up) return;
    if (this.group.size > 0 && this.group.get(m.from) !== this.group.get(m.to)) {
      this.faults.partitionDrop++;
      return;
    }
    n.core!.step(m);
    this.pump(n);
  }

  private onPartition(): void {
    if (!this.faultsActive) return;
    const ids = this.faultRng.shuffle(this.nodes.map((n) => n.id));
    const cut = this.faultRng.int(1, ids.length - 1);
    this.group.clear();
    for (let i = 0; i < ids.length; i++) this.group.set(ids[i], i < cut ? 0 : 1);
    this.faults.partition++;
    const heal = this.faultRng.int(100, 1000);
    this.schedule(heal, { k: "healPartition" });
    this.schedule(heal + this.faultRng.int(this.cfg.partitionEvery / 2, this.cfg.partitionEvery), {
      k: "partition",
    });
  }

  // ---------------------------------------------------------------- clients and operator

  private onClient(cl: Client): void {
    this.schedule(this.clientRng.int(5, 40), { k: "client", c: cl.id });
    if (cl.op) {
      const target = this.nodes[cl.op.node - 1];
      if (this.now - cl.op.invokedAt < OP_TIMEOUT_MS && target.up && target.inc === cl.op.inc) return;
      this.stats.opsTimedOut++;
      cl.op = null;
    }
    const up = this.upNodes();
    if (up.length === 0) return;
    let n = this.nodes[cl.leaderHint - 1];
    if (!n?.up || this.clientRng.chance(0.2)) n = this.clientRng.pick(up);
    const core = n.core!;
    const key = this.clientRng.int(0, KEYS - 1);
    if (this.clientRng.chance(0.6)) {
      const wid = this.nextWriteId++;
      const res = core.propose(encodeWrite(key, wid));
      if (res.ok) cl.op = { kind: "write", wid, key, node: n.id, inc: n.inc, invokedAt: this.now };
      else cl.leaderHint = res.leaderId;
    } else {
      const ctx = `c${cl.id}-${cl.seq++}`;
      const minIndex = this.checker.ackedIndex(key);
      const res = core.readIndex(ctx);
      if (res.ok) cl.op = { kind: "read", ctx, key, node: n.id, inc: n.inc, invokedAt: this.now, minIndex };
      else cl.leaderHint = res.leaderId;
    }
    this.pump(n);
  }

  /** Membership scenario: add the joiner as a learner, promote it, then (sometimes) remove a voter. */
  private onOperator(): void {
    this.schedule(100, { k: "operator" });
    const l = this.leader();
    if (!l) return;
    const core = l.core!;
    const conf = core.conf();
    const settled = core.commit >= core.log.lastConfIndex();
    if (this.operatorStage === 0) {
      if (conf.learners.includes(this.joiner) || conf.voters.includes(this.joiner)) {
        if (settled) {
          this.operatorStage = 1;
          this.stats.learnersAdded++;
        }
      } else core.proposeConfChange({ type: "addLearner", node: this.joiner });
    } else if (this.operatorStage === 1) {
      if (conf.voters.includes(this.joiner)) {
        if (settled) {
          this.operatorStage = 2;
          this.stats.learnersPromoted++;
        }
      } else core.proposeConfChange({ type: "promote", node: this.joiner });
    } else if (this.operatorStage === 2) {
      if (!this.removeTarget) {
        if (!this.opRng.chance(0.5)) {
          this.operatorStage = 3;
          return;
        }
        this.removeTarget = this.opRng.pick(this.cfg.voters);
      }
      if (!conf.voters.includes(this.removeTarget)) {
        if (settled) {
          this.operatorStage = 3;
          this.stats.votersRemoved++;
        }
      } else if (this.removeTarget !== l.id)
        core.proposeConfChange({ type: "remove", node: this.removeTarget });
      else core.transferLeadership(this.opRng.pick(conf.voters.filter((v) => v !== l.id)));
    }
    this.pump(l);
  }

  private onTransfer(): void {
    this.schedule(this.opRng.int(300, 1200), { k: "transfer" });
    const l = this.leader();
    if (!l) return;
    const others = l.core!.conf().voters.filter((v) => v !== l.id);
    if (others.length === 0) return;
    if (l.core!.transferLeadership(this.opRng.pick(others)).ok) this.stats.transfers++;
    this.pump(l);
  }
}

export function runSeed(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
