// A seeded simulation of producers and consumers against a correct in-memory log, recorded through the
// real HistoryRecorder. Clean runs must always pass the checker; runs with an injected log fault must
// not. This is the checker's mutation test.
import { HistoryRecorder, manualClock } from "../../history/recorder.ts";
import type { HistoryEvent, ObservedRecord } from "../../history/types.ts";
import { SeededRandom } from "../../seed.ts";

export type LogFault = "drop" | "duplicate" | "swap" | "rewrite";
export const LOG_FAULTS: readonly LogFault[] = ["drop", "duplicate", "swap", "rewrite"];

export interface SimulationOptions {
  seed: number;
  steps?: number;
  partitions?: number;
  producers?: number;
  consumers?: number;
  topic?: string;
  /** Corrupt the log once, part-way through the run. */
  fault?: LogFault;
}

export interface Simulation {
  events: HistoryEvent[];
  /** What the fault did, once it happened. */
  injected?: { fault: LogFault; partition: number; offsets: number[]; values: string[] };
}

interface Entry {
  key: string | null;
  value: string | null;
}

interface InflightSend {
  invoke: HistoryEvent;
  partition: number;
  outcome: "ok" | "info" | "fail";
  appendedAt: number | undefined;
}

interface Consumer {
  name: string;
  assigned: number[];
  positions: Map<number, number>;
}

export function simulateHistory(options: SimulationOptions): Simulation {
  const random = new SeededRandom(options.seed);
  const choose = random.fork("choices");
  const timing = random.fork("timing");
  const topic = options.topic ?? "gauntlet";
  const steps = options.steps ?? 2000;
  const partitions = options.partitions ?? 3;
  const clock = manualClock();
  const recorder = new HistoryRecorder({ clock });
  // Holes (null) appear only when a fault drops a record; a correct log has none.
  const log: (Entry | null)[][] = Array.from({ length: partitions }, () => []);
  const acked: { partition: number; offset: number; value: string }[] = [];
  const producers = Array.from({ length: options.producers ?? 3 }, (_, i) => ({
    name: `producer-${i}`,
    inflight: undefined as InflightSend | undefined,
  }));
  const consumers: Consumer[] = Array.from({ length: options.consumers ?? 2 }, (_, i) => ({
    name: `consumer-${i}`,
    assigned: [],
    positions: new Map(),
  }));
  const simulation: Simulation = { events: [] };
  const faultStep = options.fault ? choose.int(Math.floor(steps / 3), Math.floor((2 * steps) / 3)) : -1;
  let faultPending = options.fault !== undefined;
  let nextValue = 0;

  const append = (partition: number, entry: Entry) => log[partition].push(entry) - 1;

  const assign = (c: Consumer) => {
    const chosen = choose.shuffle([...Array(partitions).keys()]).slice(0, choose.int(1, partitions));
    const inv = recorder.invoke(c.name, "assign");
    c.assigned = chosen.sort((a, b) => a - b);
    c.positions = new Map(chosen.map((p) => [p, choose.int(0, log[p].length)]));
    recorder.ok(inv, { partitions: c.assigned.map((partition) => ({ topic, partition })) });
  };

  const readFrom = (c: Consumer, maxPerPartition: number): ObservedRecord[] => {
    const records: ObservedRecord[] = [];
    for (const p of c.assigned) {
      let position = c.positions.get(p)!;
      let taken = 0;
      while (position < log[p].length && taken < maxPerPartition) {
        const entry = log[p][position];
        if (entry) {
          records.push({ topic, partition: p, offset: position, key: entry.key, value: entry.value });
          taken++;
        }
        position++;
      }
      c.positions.set(p, position);
    }
    return records;
  };

  const stepProducer = (producer: (typeof producers)[number]) => {
    const send = producer.inflight;
    if (!send) {
      const n = nextValue++;
      const partition = choose.int(0, partitions - 1);
      const roll = choose.next();
      producer.inflight = {
        invoke: recorder.invoke(producer.name, "send", { topic, partition, key: `k${n}`, value: `v${n}` }),
        partition,
        outcome: roll < 0.85 ? "ok" : roll < 0.95 ? "info" : "fail",
        appendedAt: undefined,
      };
      return;
    }
    const entry = { key: send.invoke.key ?? null, value: send.invoke.value ?? null };
    // Appending and acknowledging are separate steps so other appends interleave, as on a real broker.
    if (send.outcome === "ok" && send.appendedAt === undefined && choose.chance(0.5)) {
      send.appendedAt = append(send.partition, entry);
      return;
    }
    producer.inflight = undefined;
    if (send.outcome === "ok") {
      const offset = send.appendedAt ?? append(send.partition, entry);
      acked.push({ partition: send.partition, offset, value: entry.value! });
      recorder.ok(send.invoke, { offset });
    } else if (send.outcome === "info") {
      if (choose.chance(0.5)) append(send.partition, entry);
      recorder.info(send.invoke, "REQUEST_TIMED_OUT");
    } else {
      recorder.fail(send.invoke, "NOT_ENOUGH_REPLICAS");
    }
  };

  const stepConsumer = (c: Consumer) => {
    const roll = choose.next();
    if (c.assigned.length === 0 || roll < 0.02) return assign(c);
    if (roll < 0.05) {
      const partition = choose.pick(c.assigned);
      const offset = choose.int(0, log[partition].length);
      const inv = recorder.invoke(c.name, "seek", { topic, partition, offset });
      c.positions.set(partition, offset);
      recorder.ok(inv);
      return;
    }
    const inv = recorder.invoke(c.name, "poll");
    if (roll < 0.08) {
      // A poll that timed out after the client had already fetched: records consumed, never recorded.
      readFrom(c, choose.int(0, 3));
      recorder.info(inv, "REQUEST_TIMED_OUT");
      return;
    }
    recorder.ok(inv, { values: readFrom(c, choose.int(0, 5)) });
  };

  const injectFault = (fault: LogFault): boolean => {
    const target = acked.length > 0 ? choose.pick(acked) : undefined;
    if (!target) return false;
    const { partition, offset, value } = target;
    const entry = log[partition][offset];
    if (!entry) return false;
    if (fault === "drop") log[partition][offset] = null;
    else if (fault === "duplicate") {
      const copy = append(partition, { ...entry });
      simulation.injected = { fault, partition, offsets: [offset, copy], values: [value] };
      return true;
    } else if (fault === "rewrite") log[partition][offset] = { key: entry.key, value: `rewritten-${value}` };
    else {
      const other = acked.find(
        (a) => a.partition === partition && a.offset !== offset && log[partition][a.offset],
      );
      if (!other) return false;
      log[partition][offset] = log[partition][other.offset];
      log[partition][other.offset] = entry;
      simulation.injected = {
        fault,
        partition,
        offsets: [offset, other.offset],
        values: [value, other.value],
      };
      return true;
    }
    simulation.injected = { fault, partition, offsets: [offset], values: [value] };
    return true;
  };

  const phaseAt = new Map([
    [0, "warm-up"],
    [Math.floor(steps / 3), "fault"],
    [Math.floor((2 * steps) / 3), "recovery"],
  ]);
  for (let step = 0; step < steps; step++) {
    const phase = phaseAt.get(step);
    if (phase) recorder.phase(phase);
    clock.advance(timing.int(0, 20));
    if (faultPending && step >= faultStep && injectFault(options.fault!)) {
      faultPending = false;
      recorder.nemesis("start", `log fault: ${options.fault}`);
    }
    if (choose.chance(0.005)) {
      recorder.nemesis("start", "pause broker");
      clock.advance(timing.int(500, 3000));
      recorder.nemesis("stop", "resume broker");
    }
    const actor = choose.int(0, producers.length + consumers.length - 1);
    if (actor < producers.length) stepProducer(producers[actor]);
    else stepConsumer(consumers[actor - producers.length]);
  }
  // Finish every send (acknowledging appends that already happened), then read everything once.
  for (const producer of producers) {
    while (producer.inflight) stepProducer(producer);
  }
  if (faultPending) injectFault(options.fault!);
  const drain = recorder.invoke("drainer", "drain");
  const values: ObservedRecord[] = [];
  for (let p = 0; p < partitions; p++) {
    log[p].forEach((entry, offset) => {
      if (entry) values.push({ topic, partition: p, offset, key: entry.key, value: entry.value });
    });
  }
  recorder.ok(drain, {
    values,
    endOffsets: log.map((entries, partition) => ({ topic, partition, offset: entries.length })),
  });
  simulation.events = [...recorder.events];
  return simulation;
}
