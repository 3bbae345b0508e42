import { describe, expect, it } from "vitest";
import {
  type AnomalyCounts,
  type CheckerReport,
  checkHistory,
  findLostWrites,
  findReorderedSends,
  HistoryModel,
} from "../checker/index.ts";
import { HistoryRecorder, manualClock } from "../history/recorder.ts";
import type { HistoryEvent, ObservedRecord } from "../history/types.ts";
import { LOG_FAULTS, type LogFault, simulateHistory } from "./support/simulated-history.ts";
import { syntheticHistory } from "./support/synthetic-history.ts";

const TOPIC = "t";

/** [partition, offset, value] */
type Rec = [number, number, string];
const records = (recs: Rec[]): ObservedRecord[] =>
  recs.map(([partition, offset, value]) => ({ topic: TOPIC, partition, offset, key: null, value }));

/** A small DSL over the real recorder for hand-made histories; every event takes 1 ms. */
class Script {
  readonly clock = manualClock();
  readonly recorder = new HistoryRecorder({ clock: this.clock });

  tick(ms = 1): this {
    this.clock.advance(ms);
    return this;
  }

  invokeSend(process: string, partition: number, value: string, producerId?: number): HistoryEvent {
    this.tick();
    return this.recorder.invoke(process, "send", { topic: TOPIC, partition, value, key: null, producerId });
  }

  complete(invoke: HistoryEvent, outcome: number | "fail" | "info"): this {
    this.tick();
    if (outcome === "fail") this.recorder.fail(invoke, "NOT_ENOUGH_REPLICAS");
    else if (outcome === "info") this.recorder.info(invoke, "REQUEST_TIMED_OUT");
    else this.recorder.ok(invoke, { offset: outcome });
    return this;
  }

  /** A send that completes at once: an offset for ok, or "fail"/"info". */
  send(process: string, partition: number, value: string, outcome: number | "fail" | "info"): this {
    return this.complete(this.invokeSend(process, partition, value), outcome);
  }

  poll(process: string, recs: Rec[]): this {
    const inv = this.recorder.invoke(process, "poll");
    this.tick();
    this.recorder.ok(inv, { values: records(recs) });
    return this;
  }

  pollTimeout(process: string): this {
    const inv = this.recorder.invoke(process, "poll");
    this.tick();
    this.recorder.info(inv, "REQUEST_TIMED_OUT");
    return this;
  }

  seek(process: string, partition: number, offset: number): this {
    const inv = this.recorder.invoke(process, "seek", { topic: TOPIC, partition, offset });
    this.recorder.ok(inv);
    return this;
  }

  /** The final read; endOffsets default to one past the last record per partition. */
  drain(recs: Rec[], endOffsets?: Record<number, number>): this {
    const inv = this.recorder.invoke("drainer", "drain");
    this.tick();
    const ends = endOffsets ?? {};
    if (!endOffsets) for (const [p, o] of recs) ends[p] = Math.max(ends[p] ?? 0, o + 1);
    this.recorder.ok(inv, {
      values: records(recs),
      endOffsets: Object.entries(ends).map(([p, offset]) => ({ topic: TOPIC, partition: Number(p), offset })),
    });
    return this;
  }

  get events(): HistoryEvent[] {
    return [...this.recorder.events];
  }
}

const ANOMALY_COUNTS = [
  "lost",
  "unseen",
  "duplicated",
  "inconsistentOffsets",
  "nonmonotonic",
  "skips",
  "reordered",
  "phantoms",
  "malformed",
] as const;

/** Asserts exactly these anomaly counts are non-zero (and equal the given numbers). */
function expectOnly(report: CheckerReport, expected: Partial<AnomalyCounts>): void {
  const actual = Object.fromEntries(ANOMALY_COUNTS.map((k) => [k, report.counts[k]]));
  const wanted = Object.fromEntries(ANOMALY_COUNTS.map((k) => [k, expected[k] ?? 0]));
  expect(actual).toEqual(wanted);
}

describe("checker: a clean history", () => {
  it("passes with every anomaly count 0", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p1", 1, "b", 0)
      .send("p0", 0, "c", 1)
      .poll("c0", [
        [0, 0, "a"],
        [1, 0, "b"],
      ])
      .poll("c0", [[0, 1, "c"]])
      .poll("c0", [])
      .drain([
        [0, 0, "a"],
        [0, 1, "c"],
        [1, 0, "b"],
      ]);
    const report = checkHistory(s.events);
    expect(report.valid).toBe(true);
    expect(report.failures).toEqual([]);
    expectOnly(report, {});
    expect(report.counts).toMatchObject({ sends: 3, acknowledged: 3, failedSends: 0, indeterminateSends: 0 });
  });

  it("passes an empty history", () => {
    const report = checkHistory([]);
    expect(report.valid).toBe(true);
    expect(report.availability.longestStallMs).toBe(0);
    expect(report.latency.overall.count).toBe(0);
  });
});

describe("checker: one anomaly class per history", () => {
  it("lost: acked, absent from the drain that read past it", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p0", 0, "b", 1)
      .send("p0", 0, "c", 2)
      .drain(
        [
          [0, 0, "a"],
          [0, 1, "b"],
        ],
        { 0: 3 },
      );
    const report = checkHistory(s.events);
    expect(report.valid).toBe(false);
    expect(report.failures).toEqual(["lost"]);
    expectOnly(report, { lost: 1 });
    const [lost] = report.anomalies.lost.items;
    expect(lost).toMatchObject({ value: "c", offset: 2, drainEndOffset: 3, seenByPollIndex: null });
    expect(s.events[lost.okIndex]).toMatchObject({ type: "ok", value: "c" });
    expect(s.events[lost.drainIndex].f).toBe("drain");
  });

  it("lost: also when a poll saw the value before the drain passed it by", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p0", 0, "b", 1)
      .poll("c0", [
        [0, 0, "a"],
        [0, 1, "b"],
      ])
      .drain([[0, 0, "a"]], { 0: 2 });
    const report = checkHistory(s.events);
    expectOnly(report, { lost: 1 });
    expect(report.anomalies.lost.items[0].seenByPollIndex).toBe(
      s.events.find((e) => e.f === "poll" && e.type === "ok")!.index,
    );
  });

  it("unseen: acked, never read, and the drain stopped short of it (not lost)", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p0", 0, "b", 1)
      .drain([[0, 0, "a"]], { 0: 1 });
    const report = checkHistory(s.events);
    expect(report.failures).toEqual(["unseen"]);
    expectOnly(report, { unseen: 1 });
    expect(report.anomalies.unseen.items[0]).toMatchObject({ value: "b", offset: 1, drainEndOffset: 1 });
  });

  it("unseen: acked in a partition no drain covered", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p0", 1, "b", 0)
      .drain([[0, 0, "a"]]);
    const report = checkHistory(s.events);
    expectOnly(report, { unseen: 1 });
    expect(report.anomalies.unseen.items[0]).toMatchObject({
      value: "b",
      partition: 1,
      drainEndOffset: null,
    });
  });

  it("duplicated: one value at two offsets", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p0", 0, "b", 1)
      .drain([
        [0, 0, "a"],
        [0, 1, "b"],
        [0, 2, "a"],
      ]);
    const report = checkHistory(s.events);
    expect(report.failures).toEqual(["duplicated"]);
    expectOnly(report, { duplicated: 1 });
    expect(report.anomalies.duplicated.items[0].value).toBe("a");
    expect(report.anomalies.duplicated.items[0].positions.map((p) => p.offset)).toEqual([0, 2]);
  });

  it("duplicated: allowed by expectations (non-idempotent producer) keeps the history valid", () => {
    const s = new Script().send("p0", 0, "a", 0).drain([
      [0, 0, "a"],
      [0, 1, "a"],
    ]);
    const report = checkHistory(s.events, { expectations: { allowDuplicates: true } });
    expect(report.valid).toBe(true);
    expect(report.counts.duplicated).toBe(1);
  });

  it("inconsistent offsets: two reads disagree about one offset", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p1", 0, "b", "info")
      .poll("c0", [[0, 0, "a"]])
      .poll("c1", [[0, 0, "b"]])
      .drain([[0, 0, "a"]]);
    const report = checkHistory(s.events);
    expect(report.failures).toEqual(["inconsistentOffsets"]);
    expectOnly(report, { inconsistentOffsets: 1 });
    const [item] = report.anomalies.inconsistentOffsets.items;
    expect(item.offset).toBe(0);
    expect(item.claims.map((c) => c.value).sort()).toEqual(["a", "b"]);
    expect(item.claims.find((c) => c.value === "a")!.ackIndices).toHaveLength(1);
  });

  it("inconsistent offsets: two sends acknowledged with the same offset", () => {
    const s = new Script().send("p0", 0, "a", 0).send("p1", 0, "b", 0);
    const report = checkHistory(s.events, { expectations: { allowUnseen: true } });
    expectOnly(report, { inconsistentOffsets: 1, unseen: 2 });
    expect(report.failures).toEqual(["inconsistentOffsets"]);
  });

  it("nonmonotonic: a consumer sees an offset again", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p0", 0, "b", 1)
      .poll("c0", [
        [0, 0, "a"],
        [0, 1, "b"],
      ])
      .poll("c0", [[0, 1, "b"]])
      .drain([
        [0, 0, "a"],
        [0, 1, "b"],
      ]);
    const report = checkHistory(s.events);
    expect(report.failures).toEqual(["nonmonotonic"]);
    expectOnly(report, { nonmonotonic: 1 });
    expect(report.anomalies.nonmonotonic.items[0]).toMatchObject({
      process: "c0",
      kind: "repeat",
      previousOffset: 1,
      offset: 1,
    });
  });

  it("nonmonotonic: a consumer goes backwards (but not after a seek)", () => {
    const base = () =>
      new Script()
        .send("p0", 0, "a", 0)
        .send("p0", 0, "b", 1)
        .poll("c0", [[0, 1, "b"]]);
    const bad = base()
      .poll("c0", [[0, 0, "a"]])
      .drain([
        [0, 0, "a"],
        [0, 1, "b"],
      ]);
    const report = checkHistory(bad.events);
    expectOnly(report, { nonmonotonic: 1 });
    expect(report.anomalies.nonmonotonic.items[0]).toMatchObject({
      kind: "backward",
      previousOffset: 1,
      offset: 0,
    });

    const sought = base()
      .seek("c0", 0, 0)
      .poll("c0", [[0, 0, "a"]])
      .drain([
        [0, 0, "a"],
        [0, 1, "b"],
      ]);
    expectOnly(checkHistory(sought.events), {});
  });

  it("skips: a consumer jumps over an offset that holds a record", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p0", 0, "b", 1)
      .send("p0", 0, "c", 2)
      .poll("c0", [[0, 0, "a"]])
      .poll("c0", [[0, 2, "c"]])
      .drain([
        [0, 0, "a"],
        [0, 1, "b"],
        [0, 2, "c"],
      ]);
    const report = checkHistory(s.events);
    expect(report.failures).toEqual(["skips"]);
    expectOnly(report, { skips: 1 });
    expect(report.anomalies.skips.items[0]).toMatchObject({
      process: "c0",
      fromOffset: 0,
      toOffset: 2,
      skippedOffsets: [1],
      skippedCount: 1,
    });
  });

  it("skips: not after a seek, an indeterminate poll, or over offsets nobody knows to exist", () => {
    const setup = () =>
      new Script()
        .send("p0", 0, "a", 0)
        .send("p0", 0, "b", 1)
        .send("p0", 0, "c", 3) // offset 2 is e.g. a transaction marker: no record
        .poll("c0", [[0, 0, "a"]]);
    const drainAll: Rec[] = [
      [0, 0, "a"],
      [0, 1, "b"],
      [0, 3, "c"],
    ];
    expectOnly(
      checkHistory(
        setup()
          .seek("c0", 0, 3)
          .poll("c0", [[0, 3, "c"]])
          .drain(drainAll).events,
      ),
      {},
    );
    expectOnly(
      checkHistory(
        setup()
          .pollTimeout("c0")
          .poll("c0", [[0, 3, "c"]])
          .drain(drainAll).events,
      ),
      {},
    );
    expectOnly(
      checkHistory(
        setup()
          .poll("c0", [[0, 1, "b"]])
          .poll("c0", [[0, 3, "c"]])
          .drain(drainAll).events,
      ),
      {},
    );
  });

  it("reordered: a send invoked after another was acked lands at a lower offset", () => {
    const s = new Script()
      .send("p0", 0, "a", 1)
      .send("p0", 0, "b", 0)
      .drain([
        [0, 0, "b"],
        [0, 1, "a"],
      ]);
    const report = checkHistory(s.events);
    expect(report.failures).toEqual(["reordered"]);
    expectOnly(report, { reordered: 1 });
    expect(report.anomalies.reordered.items[0]).toMatchObject({
      producer: "p0",
      earlier: { value: "a", offset: 1 },
      later: { value: "b", offset: 0 },
    });
  });

  it("reordered: concurrent sends may land in any order; producerId groups processes; scope partition", () => {
    // Different processes, overlapping in time: no order promised.
    const concurrent = new Script();
    const a = concurrent.invokeSend("p0", 0, "a");
    const b = concurrent.invokeSend("p1", 0, "b");
    concurrent.complete(b, 0).complete(a, 1);
    expect(findReorderedSends(concurrent.events).count).toBe(0);
    expect(findReorderedSends(concurrent.events, { reorderScope: "partition" }).count).toBe(0);

    // Sequential in real time across two processes: only a violation if they are one producer, or in
    // partition scope.
    const sequential = (pid?: number) => {
      const s = new Script();
      s.complete(s.invokeSend("p0", 0, "a", pid), 5);
      s.complete(s.invokeSend("p1", 0, "b", pid), 3);
      return s.events;
    };
    expect(findReorderedSends(sequential()).count).toBe(0);
    expect(findReorderedSends(sequential(7)).count).toBe(1);
    expect(findReorderedSends(sequential(7)).items[0].producer).toBe("pid:7");
    expect(findReorderedSends(sequential(), { reorderScope: "partition" }).count).toBe(1);
  });

  it("phantoms: a value no send carried, and a value whose send failed", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .send("p0", 0, "b", "fail")
      .drain([
        [0, 0, "a"],
        [0, 1, "b"],
        [0, 2, "ghost"],
      ]);
    const report = checkHistory(s.events);
    expect(report.failures).toEqual(["phantoms"]);
    expectOnly(report, { phantoms: 2 });
    expect(report.anomalies.phantoms.items.map((p) => [p.value, p.reason])).toEqual([
      ["b", "failed-send"],
      ["ghost", "never-sent"],
    ]);
  });

  it("malformed: completions without invokes, mismatched operations", () => {
    const events: HistoryEvent[] = [
      {
        index: 0,
        type: "ok",
        process: "p0",
        f: "send",
        wallTime: 0,
        monoTime: 0,
        topic: TOPIC,
        partition: 0,
        offset: 0,
      },
      {
        index: 1,
        type: "invoke",
        process: "p1",
        f: "send",
        wallTime: 0,
        monoTime: 1,
        topic: TOPIC,
        value: "a",
      },
      { index: 2, type: "ok", process: "p1", f: "poll", wallTime: 0, monoTime: 2, values: [] },
    ];
    const report = checkHistory(events);
    expect(report.failures).toEqual(["malformed"]);
    expectOnly(report, { malformed: 2 });
    expect(report.anomalies.malformed.items.map((m) => m.eventIndex)).toEqual([0, 2]);
    expect(report.anomalies.malformed.items[1].problem).toMatch(/completes a send invoke/);
  });
});

describe("checker: indeterminate sends", () => {
  it("an indeterminate send that later appears is fine", () => {
    const s = new Script()
      .send("p0", 0, "a", "info")
      .poll("c0", [[0, 0, "a"]])
      .drain([[0, 0, "a"]]);
    const report = checkHistory(s.events);
    expect(report.valid).toBe(true);
    expect(report.counts).toMatchObject({ acknowledged: 0, indeterminateSends: 1 });
  });

  it("an indeterminate send never seen is neither lost nor unseen", () => {
    const s = new Script()
      .send("p0", 0, "a", "info")
      .send("p0", 0, "b", 0)
      .drain([[0, 0, "b"]]);
    const report = checkHistory(s.events);
    expect(report.valid).toBe(true);
    expectOnly(report, {});
  });

  it("an invoke with no completion counts as indeterminate", () => {
    const s = new Script();
    s.invokeSend("p0", 0, "a");
    const report = checkHistory(s.events);
    expect(report.valid).toBe(true);
    expect(report.counts.indeterminateSends).toBe(1);
  });

  it("a failed send never seen is fine and counted", () => {
    const s = new Script().send("p0", 0, "a", "fail").drain([]);
    const report = checkHistory(s.events);
    expect(report.valid).toBe(true);
    expect(report.counts.failedSends).toBe(1);
  });
});

describe("checker: evidence, options, timing", () => {
  it("caps evidence lists but keeps exact counts", () => {
    const s = new Script();
    for (let i = 0; i < 5; i++) s.send("p0", 0, `v${i}`, i);
    s.drain([], { 0: 5 });
    const lost = findLostWrites(s.events, { maxEvidence: 2 });
    expect(lost.count).toBe(5);
    expect(lost.items.map((l) => l.value)).toEqual(["v0", "v1"]);
  });

  it("a model can be shared between checks", () => {
    const s = new Script().send("p0", 0, "a", 0).drain([], { 0: 1 });
    const model = new HistoryModel(s.events);
    expect(findLostWrites(model).count).toBe(1);
    expect(checkHistory(model).counts.lost).toBe(1);
  });

  it("availability: longest stall without an acknowledged send, overall and per phase", () => {
    const s = new Script();
    s.recorder.phase("before");
    s.send("p0", 0, "a", 0); // ok at t=2
    s.tick(100).send("p0", 0, "b", 1); // ok at t=104
    s.recorder.phase("fault"); // t=104
    s.tick(10).send("p0", 0, "c", "info"); // t=116
    s.tick(1000).send("p0", 0, "d", 2); // ok at t=1118
    s.recorder.phase("after");
    s.send("p0", 0, "e", 3); // ok at t=1120
    const report = checkHistory(s.events, { expectations: { allowUnseen: true } });
    expect(report.availability).toMatchObject({ longestStallMs: 1014, okSends: 4, indeterminateSends: 1 });
    expect(report.availability.from!.monoTime).toBe(104);
    expect(report.availability.to!.monoTime).toBe(1118);
    expect(
      report.availability.phases.map((p) => [p.phase, p.longestStallMs, p.okSends, p.indeterminateSends]),
    ).toEqual([
      ["before", 102, 2, 0],
      ["fault", 1014, 1, 1],
      ["after", 2, 1, 0],
    ]);
    expect(report.valid).toBe(true);
    const gated = checkHistory(s.events, { expectations: { allowUnseen: true, maxStallMs: 500 } });
    expect(gated.valid).toBe(false);
    expect(gated.failures).toEqual(["availability"]);
  });

  it("availability: an outage at the end of the run counts", () => {
    const s = new Script().send("p0", 0, "a", 0).tick(5000).send("p0", 0, "b", "info");
    const report = checkHistory(s.events, { expectations: { allowUnseen: true } });
    expect(report.availability.longestStallMs).toBe(5002);
  });

  it("latency: percentiles overall, in time buckets and per phase", () => {
    const s = new Script();
    s.recorder.phase("all");
    // 1000 sends with latencies 1..1000 ms, completing over ~1 s buckets.
    for (let i = 1; i <= 1000; i++) {
      const inv = s.invokeSend("p0", 0, `v${i}`);
      s.tick(i - 1).complete(inv, i - 1);
    }
    const report = checkHistory(s.events, { latencyBucketMs: 100_000, expectations: { allowUnseen: true } });
    expect(report.latency.overall).toMatchObject({ count: 1000, p50: 500, p99: 990, p999: 999, max: 1000 });
    expect(report.latency.overall.mean).toBeCloseTo(500.5);
    expect(report.latency.phases).toEqual([expect.objectContaining({ phase: "all", count: 1000, p50: 500 })]);
    const buckets = report.latency.buckets;
    expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(1000);
    expect(buckets.map((b) => b.startMs)).toEqual(buckets.map((_, i) => i * 100_000));
    // Later sends are slower, so bucket p50s rise.
    expect(buckets[buckets.length - 1].p50).toBeGreaterThan(buckets[0].p50);
  });

  it("latency buckets are contiguous and count failures and indeterminate sends", () => {
    const s = new Script()
      .send("p0", 0, "a", 0)
      .tick(3000)
      .send("p0", 0, "b", "fail")
      .send("p0", 0, "c", "info");
    const { buckets } = checkHistory(s.events, { expectations: { allowUnseen: true } }).latency;
    expect(buckets.map((b) => [b.count, b.failed, b.indeterminate])).toEqual([
      [1, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
      [0, 1, 1],
    ]);
  });
});

describe("checker: simulated histories (mutation test)", () => {
  it("clean simulated histories always pass", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const { events } = simulateHistory({ seed, steps: 1500 });
      const report = checkHistory(events);
      if (!report.valid)
        throw new Error(`seed ${seed}: ${JSON.stringify(report.anomalies, null, 1).slice(0, 2000)}`);
      expect(report.counts.acknowledged).toBeGreaterThan(100);
      expect(report.counts.indeterminateSends).toBeGreaterThan(0);
      expect(report.counts.failedSends).toBeGreaterThan(0);
    }
  });

  const expectedClass: Record<LogFault, keyof AnomalyCounts> = {
    drop: "lost",
    duplicate: "duplicated",
    swap: "inconsistentOffsets",
    rewrite: "inconsistentOffsets",
  };
  for (const fault of LOG_FAULTS) {
    it(`an injected "${fault}" fault is caught as ${expectedClass[fault]}`, () => {
      for (let seed = 1; seed <= 15; seed++) {
        const { events, injected } = simulateHistory({ seed, steps: 1500, fault });
        expect(injected?.fault).toBe(fault);
        const report = checkHistory(events);
        expect(report.valid, `seed ${seed}`).toBe(false);
        expect(report.counts[expectedClass[fault]], `seed ${seed}`).toBeGreaterThan(0);
        const involved = injected!.values;
        if (fault === "drop") expect(report.anomalies.lost.items.map((l) => l.value)).toEqual(involved);
        if (fault === "duplicate")
          expect(report.anomalies.duplicated.items.map((d) => d.value)).toEqual(involved);
        if (fault === "rewrite") {
          expect(report.anomalies.lost.items.map((l) => l.value)).toEqual(involved);
          expect(report.anomalies.phantoms.items[0].value).toBe(`rewritten-${involved[0]}`);
        }
        if (fault === "swap") {
          const offsets = report.anomalies.inconsistentOffsets.items
            .map((i) => i.offset)
            .sort((a, b) => a - b);
          expect(offsets).toEqual([...injected!.offsets].sort((a, b) => a - b));
        }
      }
    });
  }

  it("the simulation is deterministic per seed", () => {
    expect(simulateHistory({ seed: 9, steps: 500 }).events).toEqual(
      simulateHistory({ seed: 9, steps: 500 }).events,
    );
    expect(simulateHistory({ seed: 9, steps: 500 }).events).not.toEqual(
      simulateHistory({ seed: 10, steps: 500 }).events,
    );
  });
});

// Speed is measured outside the tests (timings are noise on a shared machine); this only proves a
// large regular history is handled and judged clean.
describe("checker: large histories", () => {
  it("judges a 200k-event clean history valid", () => {
    const events = syntheticHistory(200_000);
    const report = checkHistory(events);
    expect(report.valid).toBe(true);
    expect(report.counts.acknowledged).toBeGreaterThan(50_000);
    expect(report.counts.lost).toBe(0);
  });
});
