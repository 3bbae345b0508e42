// Invariants checked while the simulation runs. Cheap ones run after every event (election safety,
// commit agreement, leader completeness at each new leader) or on every append/apply/read; the pairwise
// log-matching comparison runs every LOG_MATCH_EVERY events and at the end.
import type { Entry, Snapshot } from "../types.ts";
import { entryIdentity } from "./kv.ts";
import type { SimNode, Simulation } from "./world.ts";

const LOG_MATCH_EVERY = 64;

export interface Checker {
  afterEvent(): void;
  atEnd(): void;
  onAppend(n: SimNode, entries: Entry[]): void;
  onApply(n: SimNode, e: Entry): void;
  onSnapshotRestored(n: SimNode, snap: Snapshot): void;
  onWriteAcked(key: number, e: Entry): void;
  /** Highest log index of a write to `key` acknowledged so far. */
  ackedIndex(key: number): number;
  onRead(key: number, minIndex: number, observedIndex: number, n: SimNode, readIndex: number): void;
}

export function createChecker(sim: Simulation): Checker {
  /** term -> the node that was leader in it. */
  const leaders = new Map<number, number>();
  /** index -> identity of the entry some node considered committed there. */
  const committed: number[] = [];
  let maxCommitted = 0;
  /** (index, term) -> identity: two entries with the same index and term must be identical. */
  const byIndexTerm = new Map<number, number>();
  /** index -> state-machine hash chain after applying it. */
  const chains: number[] = [];
  const acked: { index: number; identity: number }[] = [];
  const ackedMax: number[] = [];
  let events = 0;

  const fail = (invariant: string, message: string) => sim.fail(invariant, message);

  function recordCommits(n: SimNode): void {
    const core = n.core!;
    const log = core.log;
    for (let i = Math.max(n.commitSeen + 1, log.snap.index + 1); i <= core.commit; i++) {
      const id = entryIdentity(log.entry(i));
      const prev = committed[i];
      if (prev === undefined) committed[i] = id;
      else if (prev !== id) {
        fail(
          "commit-agreement",
          `n${n.id} committed ${describe(id)} at index ${i}, but ${describe(prev)} was committed there before`,
        );
      }
      if (i > maxCommitted) maxCommitted = i;
    }
    n.commitSeen = core.commit;
  }

  function checkLeaderCompleteness(n: SimNode): void {
    const log = n.core!.log;
    for (let i = log.snap.index + 1; i <= maxCommitted; i++) {
      const want = committed[i];
      if (want === undefined) continue;
      if (i > log.lastIndex()) {
        fail(
          "leader-completeness",
          `n${n.id} leads term ${n.core!.term} with last index ${log.lastIndex()}, missing committed ${i}`,
        );
      }
      const got = entryIdentity(log.entry(i));
      if (got !== want) {
        fail(
          "leader-completeness",
          `n${n.id} leads term ${n.core!.term} with ${describe(got)} at ${i}; committed was ${describe(want)}`,
        );
      }
    }
  }

  function checkLogMatching(): void {
    const up = sim.upNodes();
    for (let a = 0; a < up.length; a++) {
      for (let b = a + 1; b < up.length; b++) {
        const la = up[a].core!.log;
        const lb = up[b].core!.log;
        const lo = Math.max(la.snap.index, lb.snap.index) + 1;
        let j = Math.min(la.lastIndex(), lb.lastIndex());
        while (j >= lo && la.term(j) !== lb.term(j)) j--;
        for (let i = lo; i <= j; i++) {
          if (entryIdentity(la.entry(i)) !== entryIdentity(lb.entry(i))) {
            fail(
              "log-matching",
              `n${up[a].id} and n${up[b].id} agree on (index ${j}, term ${la.term(j)}) but differ at ${i}: ` +
                `${describe(entryIdentity(la.entry(i)))} vs ${describe(entryIdentity(lb.entry(i)))}`,
            );
          }
        }
      }
    }
  }

  return {
    afterEvent() {
      for (const n of sim.nodes) {
        if (!n.up) continue;
        const core = n.core!;
        if (core.commit > n.commitSeen) recordCommits(n);
        if (core.role === "leader") {
          const l = leaders.get(core.term);
          if (l === undefined) {
            leaders.set(core.term, n.id);
            sim.stats.elections++;
            checkLeaderCompleteness(n);
          } else if (l !== n.id) {
            fail("election-safety", `n${l} and n${n.id} both became leader in term ${core.term}`);
          }
        }
      }
      if (++events % LOG_MATCH_EVERY === 0) checkLogMatching();
    },

    atEnd() {
      checkLogMatching();
      const l = sim.leader();
      if (!l) return;
      const log = l.core!.log;
      for (const a of acked) {
        if (a.index <= log.snap.index) continue;
        if (a.index > log.lastIndex() || entryIdentity(log.entry(a.index)) !== a.identity) {
          fail(
            "durability",
            `acknowledged ${describe(a.identity)} at ${a.index} is not in the final leader n${l.id}'s log`,
          );
        }
      }
    },

    onAppend(n, entries) {
      for (const e of entries) {
        const key = e.index * 65536 + e.term;
        const id = entryIdentity(e);
        const prev = byIndexTerm.get(key);
        if (prev === undefined) byIndexTerm.set(key, id);
        else if (prev !== id) {
          fail(
            "log-matching",
            `n${n.id} appended ${describe(id)} at ${e.index}, but ${describe(prev)} has the same index and term`,
          );
        }
      }
    },

    onApply(n, e) {
      const prev = chains[e.index];
      if (prev === undefined) chains[e.index] = n.kv.chain;
      else if (prev !== n.kv.chain) {
        fail(
          "state-machine-safety",
          `n${n.id} applied ${describe(entryIdentity(e))} at ${e.index}, diverging from an earlier replica`,
        );
      }
    },

    onSnapshotRestored(n, snap) {
      if (n.kv.applied !== snap.meta.index)
        fail("snapshot", `n${n.id} snapshot at ${snap.meta.index} restores applied ${n.kv.applied}`);
      const prev = chains[snap.meta.index];
      if (prev !== undefined && prev !== n.kv.chain) {
        fail(
          "state-machine-safety",
          `n${n.id} installed a snapshot at ${snap.meta.index} that differs from the applied history`,
        );
      }
    },

    onWriteAcked(key, e) {
      acked.push({ index: e.index, identity: entryIdentity(e) });
      if ((ackedMax[key] ?? 0) < e.index) ackedMax[key] = e.index;
    },

    ackedIndex(key) {
      return ackedMax[key] ?? 0;
    },

    onRead(key, minIndex, observedIndex, n, readIndex) {
      if (observedIndex < minIndex) {
        fail(
          "linearizable-read",
          `read of key ${key} on n${n.id} (read index ${readIndex}) saw the write at ${observedIndex}, ` +
            `but the write at ${minIndex} was acknowledged before the read began`,
        );
      }
    },
  };
}

function describe(identity: number): string {
  const term = Math.floor(identity / 0x1_0000_0000);
  const payload = identity % 0x1_0000_0000;
  if (payload === 0) return `no-op(t${term})`;
  if (payload >= 0xffff_fff0) return `conf(t${term})`;
  return `write#${payload}(t${term})`;
}
