// A chaos run's summary and history for report tests: a simulated history (seed 42) with one fault
// window over its middle third, so charts and reports have real data without running a cluster.
import { simulateHistory } from "../../harness/test/support/simulated-history.ts";
import type { ChaosSummary } from "../runner.ts";

const { events } = simulateHistory({ seed: 42, steps: 1500 });
const first = events[0].wallTime;
const last = events[events.length - 1].wallTime;
const window = {
  kind: "leader-kill",
  description: "SIGKILL node 2",
  heal: "node 2 restarted",
  start: new Date(first + (last - first) / 3).toISOString(),
  end: new Date(first + (2 * (last - first)) / 3).toISOString(),
};

export function fixtureSummary(overrides: Partial<ChaosSummary> = {}): ChaosSummary {
  return {
    scenario: "leader-kill",
    description: "SIGKILL the leader",
    target: "kafka",
    seed: 42,
    nodes: 3,
    rf: 3,
    minIsr: 2,
    partitions: 3,
    topic: "t",
    workload: {
      producers: 1,
      consumers: 0,
      client: "rdkafka",
      acks: -1,
      idempotence: true,
      rate: 1,
      maxInFlight: 1,
      requestTimeoutMs: 1,
      retries: 1,
    },
    expectations: { maxLost: 0, maxDuplicates: 0 },
    startedAt: new Date(first).toISOString(),
    durationMs: last - first,
    setupMs: 1,
    phases: [
      { name: "steady", start: new Date(first).toISOString(), end: window.start, durationMs: 1 },
      { name: "inject", start: window.start, end: new Date(last).toISOString(), durationMs: 1 },
    ],
    schedule: [{ kind: "leader-kill", delayMs: 1, holdMs: 2, plan: "SIGKILL the leader of partition 0" }],
    faults: [window],
    counts: {},
    longestStallMs: 10,
    recoveryMs: 100,
    latency: { overall: { count: 1, p50: 1, p99: 2 }, inject: { count: 1, p50: 1, p99: 2 } },
    faultLatency: [],
    verdict: "passed",
    reasons: [],
    history: "reports/histories/x.jsonl",
    replay: "npm run chaos -- --scenario leader-kill --seed 42",
    artifacts: { logs: {} },
    ...overrides,
  };
}

export const FIXTURE = { events, first, last, window };
