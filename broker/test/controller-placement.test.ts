import { describe, expect, it } from "vitest";
import { placeReplicas, rackAlternatingRing } from "../controller/placement.ts";
import { rng, TestCluster } from "./controller-helpers.ts";

describe("controller: rack-aware replica placement", () => {
  it("alternates racks in the broker ring", () => {
    const ring = rackAlternatingRing([
      { id: 1, rack: "a" },
      { id: 2, rack: "a" },
      { id: 3, rack: "b" },
      { id: 4, rack: "b" },
      { id: 5, rack: "c" },
    ]);
    expect(ring.map((b) => b.id)).toEqual([1, 3, 5, 2, 4]);
  });

  it("is deterministic for the same inputs and seed", () => {
    const brokers = [1, 2, 3, 4, 5].map((id) => ({ id, rack: `r${id % 2}` }));
    expect(placeReplicas(brokers, 0, 20, 3, 7)).toEqual(placeReplicas(brokers, 0, 20, 3, 7));
  });

  it("seeded property: distinct brokers, distinct racks when racks >= RF, leaders balanced within 1", () => {
    const random = rng(20261122);
    const failures: string[] = [];
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(random() * 12);
      const rackCount = 1 + Math.floor(random() * n);
      const withRacks = random() < 0.8;
      const ids = [...new Set(Array.from({ length: n }, () => 1 + Math.floor(random() * 1000)))];
      const brokers = ids.map((id) => ({
        id,
        rack: withRacks ? `rack-${Math.floor(random() * rackCount)}` : null,
      }));
      const rf = 1 + Math.floor(random() * brokers.length);
      const partitions = 1 + Math.floor(random() * 60);
      const seed = Math.floor(random() * 1e9);
      const placement = placeReplicas(brokers, 0, partitions, rf, seed);
      const racks = new Map(brokers.map((b) => [b.id, b.rack ?? `own-${b.id}`]));
      const distinctRacks = new Set(racks.values()).size;
      const leaders = new Map(brokers.map((b) => [b.id, 0]));
      const bad = (why: string) =>
        failures.push(`${why}: ${JSON.stringify({ trial, brokers, rf, partitions, seed })}`);
      if (placement.length !== partitions) bad("partition count");
      for (const replicas of placement) {
        if (replicas.length !== rf) bad("replication factor");
        if (new Set(replicas).size !== replicas.length) bad("replicas not distinct");
        if (replicas.some((r) => !racks.has(r))) bad("unknown broker");
        const used = new Set(replicas.map((r) => racks.get(r)));
        if (used.size !== Math.min(rf, distinctRacks)) bad("racks not spread");
        leaders.set(replicas[0], leaders.get(replicas[0])! + 1);
      }
      const counts = [...leaders.values()];
      if (Math.max(...counts) - Math.min(...counts) > 1) bad("leaders unbalanced");
    }
    expect(failures).toEqual([]);
  });

  it("refuses a replication factor above the broker count", () => {
    expect(() => placeReplicas([{ id: 1, rack: null }], 0, 1, 2)).toThrow(/only 1 broker/);
  });

  it("the controller places new topics over live brokers only, spread across racks", () => {
    const c = new TestCluster();
    c.startBrokers([1, 2, 3, 4, 5, 6], ["a", "a", "b", "b", "c", "c"]);
    c.register(7, "c"); // fenced: never chosen
    c.createTopic("spread", 12, 3);
    const leaders = new Map<number, number>();
    for (let i = 0; i < 12; i++) {
      const p = c.partition("spread", i);
      expect(p.replicas).not.toContain(7);
      const racks = new Set(p.replicas.map((r) => c.image.brokers.get(r)!.rack));
      expect(racks.size).toBe(3);
      leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1);
    }
    expect([...leaders.values()]).toEqual([2, 2, 2, 2, 2, 2]);
  });
});
