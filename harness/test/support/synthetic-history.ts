// A large, clean, regular history built directly (no recorder, no randomness), for measuring the
// checker's speed rather than the generator's.
import type { HistoryEvent, ObservedRecord } from "../../history/types.ts";

/**
 * A large clean history built directly (no recorder) so the test measures the checker, not the
 * generator: sequential sends to 8 partitions, polls by 4 consumers, one drain.
 */
export function syntheticHistory(targetEvents: number): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const partitions = 8;
  const TOPIC = "t";
  const logs: string[][] = Array.from({ length: partitions }, () => []);
  const positions = Array.from({ length: 4 }, () => new Array<number>(partitions).fill(0));
  let t = 0;
  const push = (e: Omit<HistoryEvent, "index" | "wallTime" | "monoTime">) =>
    events.push({ index: events.length, wallTime: 1_700_000_000_000 + t, monoTime: t, ...e } as HistoryEvent);
  let n = 0;
  while (events.length < targetEvents) {
    t += 0.5;
    if (n % 5 !== 4) {
      const partition = n % partitions;
      const value = `v${n}`;
      const process = `p${n % 3}`;
      push({ type: "invoke", process, f: "send", topic: TOPIC, partition, value, key: null });
      const offset = logs[partition].push(value) - 1;
      t += 0.5;
      push({
        type: "ok",
        process,
        f: "send",
        topic: TOPIC,
        partition,
        value,
        key: null,
        offset,
        latencyMs: 0.5,
      });
    } else {
      const c = ((n / 5) % 4) | 0;
      const process = `c${c}`;
      push({ type: "invoke", process, f: "poll" });
      const values: ObservedRecord[] = [];
      for (let p = 0; p < partitions; p++) {
        for (let o = positions[c][p]; o < logs[p].length; o++) {
          values.push({ topic: TOPIC, partition: p, offset: o, key: null, value: logs[p][o] });
        }
        positions[c][p] = logs[p].length;
      }
      push({ type: "ok", process, f: "poll", values });
    }
    n++;
  }
  push({ type: "invoke", process: "drainer", f: "drain" });
  const values: ObservedRecord[] = [];
  logs.forEach((log, partition) => {
    log.forEach((value, offset) => {
      values.push({ topic: TOPIC, partition, offset, key: null, value });
    });
  });
  push({
    type: "ok",
    process: "drainer",
    f: "drain",
    values,
    endOffsets: logs.map((log, partition) => ({ topic: TOPIC, partition, offset: log.length })),
  });
  return events;
}
