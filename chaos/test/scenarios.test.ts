// Every registered scenario's fault schedule is a pure function of the seed (same seed, same schedule;
// different seeds differ), the registry lists each once with a one-line description, applicability
// says why not, and the network shapes cut what they claim.
import { describe, expect, test } from "vitest";
import { SeededRandom } from "../../harness/seed.ts";
import { plannedSchedule } from "../runner.ts";
import type { PlanContext, Scenario } from "../scenario.ts";
import { majoritiesRingCuts } from "../scenarios/common.ts";
import { findScenario, SCENARIOS } from "../scenarios/index.ts";

const plan: PlanContext = {
  target: "kafka",
  nodes: [1, 2, 3],
  durationMs: 60_000,
  topic: "t",
  partitions: 3,
};

const scheduleOf = (s: Scenario, seed: number, ctx: PlanContext = plan) =>
  plannedSchedule(s.schedule(ctx, new SeededRandom(seed).fork("schedule")));

const runnable = SCENARIOS;

describe("the registry", () => {
  test("names are unique, dash-separated, found by name, with a one-line description", () => {
    const names = SCENARIOS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const s of SCENARIOS) {
      expect(s.name).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(findScenario(s.name)).toBe(s);
      expect(s.description).not.toMatch(/\n/);
      expect(s.description.length).toBeGreaterThan(20);
    }
    for (const name of [
      "leader-kill",
      "follower-kill",
      "controller-kill",
      "sigterm-leadership-transfer",
      "partition-leader-isolated",
      "partition-minority",
      "partition-majority",
      "latency",
      "pause",
      "rolling-restart",
      "random",
      "snapshot-bootstrap",
      "multi-dc",
    ]) {
      expect(findScenario(name), name).toBeDefined();
    }
  });

  test("multi-dc places nodes in three DCs, reads rack-aware, starts with the latency, then cuts each DC in turn", () => {
    const s = findScenario("multi-dc")!;
    expect([1, 2, 3, 4].map((n) => s.defaults.racks!(n))).toEqual(["dc1", "dc2", "dc3", "dc1"]);
    expect(s.defaults.linkProxies).toBe(true);
    expect(s.defaults.brokerConfig?.["replica.selector.class"]).toMatch(/RackAwareReplicaSelector$/);
    expect(s.workload.consumerRacks).toEqual(["dc1", "dc2", "dc3"]);
    const planned = scheduleOf(s, 7, { ...plan, rounds: 3 });
    expect(planned.map((f) => f.kind)).toEqual([
      "multi-dc:latency",
      "multi-dc:dc-cut",
      "multi-dc:dc-cut",
      "multi-dc:dc-cut",
    ]);
    const cut = planned.slice(1).map((f) => f.plan.match(/cut (dc\d)/)![1]);
    expect(new Set(cut).size).toBe(3);
  });

  test("snapshot-bootstrap joins a node, reassigns to it, then kills original nodes only", () => {
    const s = findScenario("snapshot-bootstrap")!;
    const planned = scheduleOf(s, 7, { ...plan, rounds: 4 });
    expect(planned.map((f) => f.kind).slice(0, 2)).toEqual([
      "snapshot-bootstrap:join",
      "snapshot-bootstrap:reassign",
    ]);
    const kills = planned.slice(2);
    expect(kills).toHaveLength(4);
    for (const k of kills) expect(k.plan).toMatch(/SIGKILL the node [123],/);
    expect(s.appliesTo({ name: "reference", nodes: 3 }).applicable).toBe(true);
  });

  test("every runnable scenario applies to 3 Kafka nodes, not to 1 reference node or external", () => {
    for (const s of runnable) {
      expect(s.appliesTo({ name: "kafka", nodes: 3 }), s.name).toEqual({ applicable: true });
      expect(s.appliesTo({ name: "reference", nodes: 1 }).applicable, s.name).toBe(false);
      expect(s.appliesTo({ name: "external", nodes: 3 }).applicable, s.name).toBe(false);
      expect(s.expectations.maxLost, s.name).toBe(0);
      expect(s.expectations.maxDuplicates, s.name).toBe(0);
    }
  });

  test("network scenarios route node-to-node traffic through link proxies", () => {
    for (const name of [
      "partition-leader-isolated",
      "partition-minority",
      "partition-majority",
      "latency",
      "random",
    ]) {
      expect(findScenario(name)!.defaults.linkProxies, name).toBe(true);
    }
  });
});

describe.each(runnable.map((s) => [s.name, s] as const))("%s schedule", (_name, s) => {
  test("same seed, same schedule", () => {
    const a = scheduleOf(s, 42);
    expect(a.length).toBeGreaterThan(0);
    expect(scheduleOf(s, 42)).toEqual(a);
    for (const f of a) {
      expect(f.delayMs).toBeGreaterThanOrEqual(0);
      expect(f.holdMs).toBeGreaterThanOrEqual(0);
      expect(f.plan.length).toBeGreaterThan(0);
    }
  });

  test("different seeds give different schedules", () => {
    const seeds = [1, 2, 3, 4, 5];
    const distinct = new Set(seeds.map((seed) => JSON.stringify(scheduleOf(s, seed))));
    if (s.name === "rolling-restart") {
      // Only the starting node is drawn: 3 possible orders over 3 nodes.
      expect(distinct.size).toBeGreaterThan(1);
    } else {
      expect(distinct.size).toBe(seeds.length);
    }
  });

  test("--rounds gives exactly that many actions", () => {
    expect(scheduleOf(s, 7, { ...plan, rounds: 2 })).toHaveLength(2 + (s.setupSteps ?? 0));
  });
});

describe("specific schedules", () => {
  test("rolling-restart SIGTERMs every node once, in turn", () => {
    const s = scheduleOf(findScenario("rolling-restart")!, 9);
    expect(s).toHaveLength(3);
    const nodes = s.map((f) => Number(/node (\d)/.exec(f.plan)![1]));
    expect([...nodes].sort()).toEqual([1, 2, 3]);
    expect(s.every((f) => f.plan.includes("SIGTERM"))).toBe(true);
  });

  test("random mixes several fault kinds and fills the duration", () => {
    const s = scheduleOf(findScenario("random")!, 123, { ...plan, durationMs: 120_000 });
    expect(new Set(s.map((f) => f.kind)).size).toBeGreaterThan(3);
    expect(s.every((f) => f.kind.startsWith("random:"))).toBe(true);
  });

  test("pause and partitions hold past the broker session timeout (6 s)", () => {
    for (const name of ["pause", "partition-leader-isolated", "partition-minority", "partition-majority"]) {
      for (const f of scheduleOf(findScenario(name)!, 5)) expect(f.holdMs, name).toBeGreaterThan(6000);
    }
  });

  test("controller-kill targets the active controller; sigterm terminates leaders", () => {
    expect(scheduleOf(findScenario("controller-kill")!, 1)[0].plan).toMatch(/SIGKILL the active controller/);
    expect(scheduleOf(findScenario("sigterm-leadership-transfer")!, 1)[0].plan).toMatch(/SIGTERM the leader/);
    expect(scheduleOf(findScenario("follower-kill")!, 1)[0].plan).toMatch(/SIGKILL the follower/);
  });
});

describe("majorities ring", () => {
  test("3 nodes: one link cut (a bridge); each node still reaches a majority", () => {
    expect(majoritiesRingCuts([2, 3, 1])).toEqual([[2, 3]]);
  });

  test("5 nodes: each node keeps exactly its two ring neighbours (3 of 5 with itself)", () => {
    const ring = [1, 2, 3, 4, 5];
    const cuts = majoritiesRingCuts(ring);
    expect(cuts).toHaveLength(5);
    for (const n of ring) {
      const cut = cuts.filter(([a, b]) => a === n || b === n).length;
      expect(1 + (ring.length - 1 - cut)).toBe(3);
    }
  });
});
