// Three (then four) RaftNodes in this one process, talking real gRPC on 127.0.0.1, each with its own data
// dir and a trivial key-value state machine.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotLeaderError, RaftNode, type StateMachine } from "../raft/runtime/raft-node.ts";
import { GrpcTransport } from "../raft/runtime/transport.ts";
import type { Entry, NodeId } from "../raft/types.ts";

class KvMachine implements StateMachine {
  map = new Map<string, string>();
  restores = 0;
  apply(entries: Entry[]): void {
    for (const e of entries) {
      if (e.change || e.data.length === 0) continue;
      const { k, v } = JSON.parse(Buffer.from(e.data).toString("utf8")) as { k: string; v: string };
      this.map.set(k, v);
    }
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify([...this.map]));
  }
  restore(data: Uint8Array): void {
    this.restores++;
    this.map = new Map(JSON.parse(Buffer.from(data).toString("utf8")) as [string, string][]);
  }
}

const put = (k: string, v: string) => Buffer.from(JSON.stringify({ k, v }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLUSTER = "it-cluster";

const logLines: string[] = [];
const logger = pino(
  { level: "info" },
  new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  }),
);
const registry = new Registry();

interface Handle {
  id: NodeId;
  dir: string;
  address: string;
  sm: KvMachine;
  node: RaftNode | null;
}

let root: string;
const handles = new Map<NodeId, Handle>();
const measured: Record<string, number | number[] | string> = {};

async function startNode(id: NodeId, opts: { bootstrap?: NodeId[]; listen?: string } = {}): Promise<Handle> {
  let h = handles.get(id);
  if (!h) {
    h = { id, dir: join(root, `n${id}`), address: "", sm: new KvMachine(), node: null };
    handles.set(id, h);
  }
  h.sm = new KvMachine();
  const peers = new Map<NodeId, string>();
  for (const o of handles.values()) if (o.id !== id && o.address) peers.set(o.id, o.address);
  h.node = await RaftNode.start({
    id,
    clusterId: CLUSTER,
    dataDir: h.dir,
    listen: opts.listen ?? (h.address || "127.0.0.1:0"),
    peers,
    stateMachine: h.sm,
    bootstrap: opts.bootstrap,
    tickMs: 50,
    electionTick: 10,
    snapshotThreshold: 50,
    snapshotChunkSize: 1024,
    transportDeadlineMs: 1000,
    requestTimeoutMs: 15_000,
    registry,
    logger,
  });
  h.address = h.node.address;
  for (const o of handles.values()) if (o.id !== id && o.node) o.node.setPeer(id, h.address);
  return h;
}

function running(): RaftNode[] {
  return [...handles.values()].flatMap((h) => (h.node ? [h.node] : []));
}

async function waitFor<T>(
  what: string,
  f: () => T | undefined | null | false,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A leader every running node agrees on. */
function agreedLeader(): RaftNode | undefined {
  const nodes = running();
  const leaders = nodes.filter((n) => n.status().role === "leader");
  if (leaders.length !== 1) return undefined;
  const l = leaders[0];
  const voters = l.status().conf.voters;
  const term = l.status().term;
  for (const n of nodes) {
    if (voters.includes(n.id) && (n.status().leaderId !== l.id || n.status().term !== term)) return undefined;
  }
  return l;
}

async function proposeRetry(k: string, v: string): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const l = running().find((n) => n.status().role === "leader");
    try {
      if (!l) throw new NotLeaderError(0);
      return (await l.propose(put(k, v))).index;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(50);
    }
  }
}

async function allApplied(index: number, ids = [...handles.keys()]): Promise<void> {
  await Promise.all(ids.map((id) => handles.get(id)!.node!.waitApplied(index)));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "raft-rt-"));
});

afterAll(async () => {
  for (const n of running()) await n.stop();
  await rm(root, { recursive: true, force: true });
  console.log(`raft runtime timings: ${JSON.stringify(measured)}`);
});

describe("raft runtime over gRPC", () => {
  it("elects a leader and commits proposals on all three nodes", async () => {
    const t0 = performance.now();
    // Bind all three first (port 0), then tell each the others' addresses.
    for (const id of [1, 2, 3]) await startNode(id, { bootstrap: [1, 2, 3], listen: "127.0.0.1:0" });
    const leader = await waitFor("first leader", agreedLeader);
    measured.firstLeaderMs = Math.round(performance.now() - t0);
    expect([1, 2, 3]).toContain(leader.id);

    let last = 0;
    for (let i = 0; i < 20; i++) last = (await leader.propose(put(`k${i}`, `v${i}`))).index;
    await allApplied(last);
    for (const h of handles.values()) {
      expect(h.sm.map.size).toBe(20);
      expect(h.sm.map.get("k19")).toBe("v19");
    }
    // A follower rejects proposals with the leader's id, and serves a linearizable read.
    const follower = running().find((n) => n !== leader)!;
    const err = await follower.propose(put("x", "y")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotLeaderError);
    expect((err as NotLeaderError).leaderId).toBe(leader.id);
    await follower.readIndex();
    expect(handles.get(follower.id)!.sm.map.get("k19")).toBe("v19");
    expect(leader.status()).toMatchObject({ role: "leader", leaderId: leader.id });
  });

  it("elects a new leader when the leader stops, and the old one catches up after a restart", async () => {
    const old = await waitFor("leader", agreedLeader);
    const t0 = performance.now();
    await old.stop();
    handles.get(old.id)!.node = null;
    const next = await waitFor("new leader", agreedLeader);
    measured.newLeaderAfterStopMs = Math.round(performance.now() - t0);
    expect(next.id).not.toBe(old.id);

    let last = 0;
    for (let i = 0; i < 80; i++) last = await proposeRetry(`a${i}`, `w${i}`);
    const up = running().map((n) => n.id);
    await allApplied(last, up);

    const h = await startNode(old.id); // same data dir, same address
    await h.node!.waitApplied(last);
    expect(h.sm.map.get("a79")).toBe("w79");
    expect(h.sm.map.get("k0")).toBe("v0");
    // With snapshotThreshold 50, everyone has compacted by now.
    expect(running().every((n) => n.status().snapshotIndex > 0)).toBe(true);
  });

  it("adds a learner that catches up through a snapshot, then promotes it", async () => {
    let leader = await waitFor("leader", agreedLeader);
    const snapIndex = leader.status().snapshotIndex;
    expect(snapIndex).toBeGreaterThan(1);
    const h4 = await startNode(4); // empty data dir, no bootstrap: it waits to be added
    expect(h4.node!.status().conf.voters).toEqual([]);
    const added = await leader.addLearner(4, h4.address);
    await h4.node!.waitApplied(added.index);
    expect(h4.sm.restores).toBeGreaterThanOrEqual(1); // installed from a snapshot, not by replaying
    expect(h4.sm.map.get("a79")).toBe("w79");
    expect(h4.node!.status().conf.learners).toEqual([4]);

    leader = await waitFor("leader", agreedLeader);
    const promoted = await leader.promote(4);
    await allApplied(promoted.index);
    for (const n of running()) expect(n.status().conf.voters).toEqual([1, 2, 3, 4]);
    const last = await proposeRetry("after-promote", "ok");
    await allApplied(last);
    expect(h4.sm.map.get("after-promote")).toBe("ok");
  });

  it("transfers leadership", async () => {
    const leader = await waitFor("leader", agreedLeader);
    const target = running().find((n) => n !== leader)!;
    await leader.transferLeadership(target.id);
    const now = await waitFor("transferred leader", agreedLeader);
    expect(now.id).toBe(target.id);
  });

  it("refuses a peer speaking an incompatible protocol version", async () => {
    const leader = await waitFor("leader", agreedLeader);
    const before = logLines.length;
    const alien = await GrpcTransport.start({
      id: 9,
      clusterId: CLUSTER,
      listen: "127.0.0.1:0",
      peers: { [leader.id]: handles.get(leader.id)!.address },
      protocolVersion: 99,
      onMessage: () => undefined,
      logger,
    });
    alien.send({ type: "heartbeat", from: 9, to: leader.id, term: 1000, commit: 0, ctx: null });
    await waitFor("refusal", () => alien.stats.refused > 0, 5000);
    await alien.stop();
    const lines = logLines.slice(before).join("");
    expect(lines).toMatch(/incompatible raft protocol version 99 from node 9/);
    expect(lines).toMatch(/refused our messages/);
    // The leader was not disturbed by the alien's high term.
    expect(leader.status().role).toBe("leader");
    expect(leader.status().term).toBeLessThan(1000);
  });

  it("exports metrics", async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/gauntlet_raft_term\{node="1"\} \d+/);
    expect(text).toMatch(/gauntlet_raft_role\{node="\d",role="leader"\} 1/);
    expect(text).toMatch(/gauntlet_raft_commit_latency_seconds_count\{node="\d"\} [1-9]/);
    expect(text).toMatch(/gauntlet_raft_elections_total/);
  });

  it("measures time to a new leader after stopping the leader (median of repeated runs)", async () => {
    const runs = Number(process.env.RAFT_FAILOVER_RUNS ?? 10);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const old = await waitFor("leader", agreedLeader);
      const t0 = performance.now();
      await old.stop();
      handles.get(old.id)!.node = null;
      await waitFor("new leader", agreedLeader);
      times.push(Math.round(performance.now() - t0));
      const last = await proposeRetry(`f${i}`, "x");
      await startNode(old.id);
      await allApplied(last);
    }
    measured.newLeaderAfterStopRunsMs = times;
    measured.newLeaderAfterStopMedianMs = median(times);
    expect(times.length).toBe(runs);
  });
});
