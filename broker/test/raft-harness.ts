// A tiny synchronous driver for unit tests of the Raft core: persistence is instant, messages are
// delivered in FIFO order on `drain()`, and links can be cut. The deterministic simulator
// (broker/raft/sim) covers asynchronous disks, delays and crashes.
import { bootstrapState, RaftCore, type RaftOptions } from "../raft/core.ts";
import type { Entry, HardState, Message, NodeId, ReadState, Snapshot } from "../raft/types.ts";

export interface TestNode {
  core: RaftCore;
  hs: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  applied: Entry[];
  readStates: ReadState[];
  /** State machine: the bytes of every applied normal entry, concatenated per entry. */
  sm: string[];
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Every message delivered or dropped, in order. */
  readonly sent: Message[] = [];
  private queue: Message[] = [];
  private cut = new Set<string>();

  constructor(
    voters: NodeId[],
    private readonly opts: Partial<RaftOptions> = {},
  ) {
    const boot = bootstrapState(voters);
    for (const id of voters) this.addNode(id, { hardState: boot.hardState, entries: boot.entries });
  }

  addNode(id: NodeId, state: Partial<RaftOptions> = {}): TestNode {
    const core = new RaftCore({
      seed: id * 7919,
      electionTick: 10,
      heartbeatTick: 1,
      ...this.opts,
      ...state,
      id,
    });
    const node: TestNode = {
      core,
      hs: state.hardState ?? { term: 0, vote: 0, commit: 0 },
      entries: [...(state.entries ?? [])],
      snapshot: state.snapshot,
      applied: [],
      readStates: [],
      sm: [],
    };
    this.nodes.set(id, node);
    return node;
  }

  core(id: NodeId): RaftCore {
    return this.nodes.get(id)!.core;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Processes every node's Ready (persist, queue messages, apply, advance). */
  flush(): void {
    for (const [, n] of this.nodes) {
      for (;;) {
        const rd = n.core.ready();
        if (!rd) break;
        if (rd.snapshot) {
          n.snapshot = rd.snapshot;
          n.entries = [];
          n.sm = [`snapshot@${rd.snapshot.meta.index}`];
        }
        if (rd.entries.length > 0) {
          const first = rd.entries[0].index;
          n.entries = n.entries.filter((e) => e.index < first).concat(rd.entries);
        }
        if (rd.hardState) n.hs = rd.hardState;
        this.queue.push(...rd.earlyMessages, ...rd.messages);
        for (const e of rd.committedEntries) {
          n.applied.push(e);
          if (!e.change && e.data.length > 0) n.sm.push(new TextDecoder().decode(e.data));
        }
        n.readStates.push(...rd.readStates);
        if (rd.snapshotRequest) {
          const data = new TextEncoder().encode(JSON.stringify(n.sm));
          n.snapshot = { meta: rd.snapshotRequest, data };
          n.core.compact(rd.snapshotRequest.index, data);
        }
        n.core.advance(rd);
      }
    }
  }

  /** Delivers messages until the cluster is quiescent; `filter` may drop messages (return false). */
  drain(filter: (m: Message) => boolean = () => true, maxSteps = 100_000): void {
    this.flush();
    let steps = 0;
    while (this.queue.length > 0) {
      if (++steps > maxSteps) throw new Error("drain did not converge");
      const m = this.queue.shift()!;
      this.sent.push(m);
      if (this.cut.has(`${m.from}>${m.to}`) || !filter(m)) continue;
      this.nodes.get(m.to)?.core.step(m);
      this.flush();
    }
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.core(id).tick();
      this.drain();
    }
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) n.core.tick();
      this.drain();
    }
  }

  /** Ticks only `id` until it leads (other nodes idle, so only it campaigns). */
  elect(id: NodeId): void {
    for (let i = 0; i < 100 && this.core(id).role !== "leader"; i++) this.tick(id);
    if (this.core(id).role !== "leader") throw new Error(`n${id} did not become leader`);
  }

  propose(id: NodeId, text: string) {
    const res = this.core(id).propose(new TextEncoder().encode(text));
    this.drain();
    return res;
  }

  leaders(): NodeId[] {
    return [...this.nodes].filter(([, n]) => n.core.role === "leader").map(([id]) => id);
  }
}

export const enc = (s: string) => new TextEncoder().encode(s);
