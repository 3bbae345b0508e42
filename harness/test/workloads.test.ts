import { describe, expect, test } from "vitest";
import { classifyKafkajsSendError } from "../workloads/client-kafkajs.ts";
import { MessagePlan, makeValue, parseValue, RateLimiter } from "../workloads/plan.ts";
import { defaultProgressReporter, formatProgress, type RunProgress } from "../workloads/progress.ts";
import { WorkloadRunner } from "../workloads/runner.ts";
import { validateDrainSpec, validateSpec, type WorkloadSpec, WorkloadSpecError } from "../workloads/types.ts";
import { DrainProgress, sendBoundMs } from "../workloads/worker-common.ts";

const valid: WorkloadSpec = {
  client: "kafkajs",
  role: "producer",
  bootstrap: "127.0.0.1:9092,127.0.0.1:9093",
  topic: "gauntlet.test",
  ratePerSec: 100,
  maxInFlight: 4,
  acks: -1,
  idempotent: true,
  keys: "random",
  maxMessages: 10,
  requestTimeoutMs: 5000,
  retries: 3,
  seed: 42,
};

function specError(patch: Record<string, unknown>): string {
  try {
    validateSpec({ ...valid, ...patch });
  } catch (err) {
    expect(err).toBeInstanceOf(WorkloadSpecError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(patch)} to be rejected`);
}

describe("validateSpec", () => {
  test("accepts a complete spec and returns it", () => {
    expect(validateSpec(valid)).toEqual(valid);
    expect(validateSpec({ ...valid, role: "consumer", client: "rdkafka", partitions: [0, 2] })).toBeTruthy();
    expect(validateSpec({ ...valid, role: "consumer", groupId: "g", durationMs: 1000 })).toBeTruthy();
  });

  test.each([
    [{ client: "franz" }, 'spec.client must be one of "kafkajs", "rdkafka", not "franz".'],
    [{ role: "admin" }, 'spec.role must be one of "producer", "consumer", not "admin".'],
    [{ bootstrap: "localhost" }, 'spec.bootstrap must be a comma-separated host:port list, not "localhost".'],
    [{ topic: "bad topic" }, "spec.topic must be a Kafka topic name"],
    [{ partitions: [0, 0] }, "spec.partitions must be a non-empty list of distinct partition numbers"],
    [{ partitions: [] }, "spec.partitions must be a non-empty list"],
    [{ ratePerSec: 0 }, "spec.ratePerSec must be a positive finite number, not 0."],
    [{ maxInFlight: 1.5 }, "spec.maxInFlight must be a whole number from 1 to 1000, not 1.5."],
    [{ acks: 2 }, "spec.acks must be one of 0, 1, -1, not 2."],
    [{ idempotent: "yes" }, 'spec.idempotent must be true or false, not "yes".'],
    [{ keys: "hash" }, 'spec.keys must be one of "none", "random", "sequential", not "hash".'],
    [{ maxMessages: undefined }, "spec needs durationMs or maxMessages (or both)"],
    [{ requestTimeoutMs: -1 }, "spec.requestTimeoutMs must be a positive whole number of ms, not -1."],
    [{ retries: -1 }, "spec.retries must be a whole number >= 0, not -1."],
    [{ seed: -3 }, "spec.seed must be a whole number from 0 to"],
    [{ acks: 1 }, "spec sets idempotent: true with acks 1; an idempotent producer needs acks: -1."],
    [{ retries: 0 }, "spec sets idempotent: true with retries 0; an idempotent producer needs retries >= 1."],
    [{ valuePrefix: "" }, "spec.valuePrefix must be a non-empty string"],
    [{ ackz: 1 }, 'spec has an unknown field "ackz" (a typo?).'],
    [{ role: "consumer" }, "spec is a consumer without groupId or partitions"],
    [{ role: "consumer", partitions: [0] }, 'kafkajs cannot do: set groupId or use client "rdkafka".'],
  ])("rejects %j with one clear sentence", (patch, message) => {
    const text = specError(patch);
    expect(text).toContain(message);
    // One sentence: no line breaks, ends with a full stop.
    expect(text).not.toContain("\n");
    expect(text.endsWith(".")).toBe(true);
  });

  test("rejects non-objects", () => {
    expect(() => validateSpec(null)).toThrow("spec must be an object, not null.");
    expect(() => validateSpec([])).toThrow(WorkloadSpecError);
  });

  test("drain specs", () => {
    expect(validateDrainSpec({ client: "rdkafka", bootstrap: "h:1", topic: "t" })).toBeTruthy();
    expect(() =>
      validateDrainSpec({ client: "rdkafka", bootstrap: "h:1", topic: "t", deadlineMs: 0 }),
    ).toThrow("drain.deadlineMs must be a positive whole number of ms, not 0.");
    expect(() => validateDrainSpec({ client: "x", bootstrap: "h:1", topic: "t" })).toThrow(
      'drain.client must be "kafkajs" or "rdkafka", not "x".',
    );
  });
});

describe("MessagePlan", () => {
  test("values are prefix-seq and unique across workers", () => {
    const seen = new Set<string>();
    for (const [id, prefix] of [
      ["producer-0", undefined],
      ["producer-1", undefined],
      ["producer-1-2", undefined],
      ["x", "producer-0-1"],
    ] as const) {
      const plan = new MessagePlan({ ...valid, valuePrefix: prefix }, id);
      for (let i = 0; i < 500; i++) {
        const m = plan.next();
        expect(m.value).toBe(makeValue(prefix ?? id, i));
        expect(parseValue(m.value)).toEqual({ prefix: prefix ?? id, seq: i });
        expect(seen.has(m.value)).toBe(false);
        seen.add(m.value);
      }
    }
    expect(seen.size).toBe(2000);
    expect(parseValue("no-number-x")).toBeUndefined();
  });

  test("keys and partitions are determined by the seed and the worker id", () => {
    const spec = { ...valid, partitions: [0, 1, 2, 5] };
    const run = (seed: number, id: string) => {
      const plan = new MessagePlan({ ...spec, seed }, id);
      return Array.from({ length: 200 }, () => plan.next());
    };
    const a = run(7, "producer-0");
    expect(run(7, "producer-0")).toEqual(a);
    expect(run(8, "producer-0").map((m) => m.key)).not.toEqual(a.map((m) => m.key));
    expect(run(7, "producer-1").map((m) => m.key)).not.toEqual(a.map((m) => m.key));
    for (const m of a) {
      expect(m.key).toMatch(/^key-\d+$/);
      expect(spec.partitions).toContain(m.partition);
    }
    expect(new Set(a.map((m) => m.partition)).size).toBe(4);
  });

  test("key modes", () => {
    const none = new MessagePlan({ ...valid, keys: "none" }, "p").next();
    expect(none.key).toBeNull();
    expect(none.partition).toBeUndefined();
    const seq = new MessagePlan({ ...valid, keys: "sequential" }, "p");
    expect([seq.next().key, seq.next().key]).toEqual(["key-0", "key-1"]);
    const small = new MessagePlan({ ...valid, keys: "random", keySpace: 3 }, "p");
    const keys = new Set(Array.from({ length: 100 }, () => small.next().key));
    expect([...keys].sort()).toEqual(["key-0", "key-1", "key-2"]);
  });
});

test("RateLimiter paces operations at the rate", () => {
  let now = 1000;
  const limiter = new RateLimiter(100, () => now);
  expect(limiter.reserve()).toBe(0);
  expect(limiter.reserve()).toBe(10);
  expect(limiter.reserve()).toBe(20);
  now += 100;
  // Behind schedule: due now, no waiting, but no credit beyond the schedule either.
  expect(limiter.reserve()).toBe(0);
});

test("sendBoundMs covers every attempt timing out", () => {
  expect(sendBoundMs({ ...valid, requestTimeoutMs: 1000, retries: 2 })).toBeGreaterThan(3000);
});

test("DrainProgress: done when every partition reached its high watermark", () => {
  const p = new DrainProgress("t", [
    { partition: 0, low: 0, high: 3 },
    { partition: 1, low: 0, high: 0 },
    { partition: 2, low: 5, high: 5 },
  ]);
  expect(p.done).toBe(false);
  expect(p.endOffsets()).toEqual([
    { topic: "t", partition: 1, offset: 0 },
    { topic: "t", partition: 2, offset: 5 },
  ]);
  p.advance(0, 2);
  expect(p.done).toBe(false);
  p.advance(0, 3);
  p.advance(7, 100); // not drained: ignored
  expect(p.done).toBe(true);
  expect(p.endOffsets()[0]).toEqual({ topic: "t", partition: 0, offset: 3 });
  expect(p.wants(7)).toBe(false);
});

test("kafkajs send errors: definite only for deterministic rejections", () => {
  const protocol = (type: string) => Object.assign(new Error(type), { name: "KafkaJSProtocolError", type });
  expect(classifyKafkajsSendError(protocol("MESSAGE_TOO_LARGE"))).toEqual({
    type: "fail",
    error: "MESSAGE_TOO_LARGE",
  });
  expect(classifyKafkajsSendError(protocol("NOT_LEADER_FOR_PARTITION")).type).toBe("info");
  const timeout = Object.assign(new Error("Request timed out"), { name: "KafkaJSRequestTimeoutError" });
  const exhausted = Object.assign(new Error("retries"), {
    name: "KafkaJSNumberOfRetriesExceeded",
    originalError: timeout,
  });
  expect(classifyKafkajsSendError(exhausted)).toEqual({ type: "info", error: "KafkaJSRequestTimeoutError" });
});

describe("progress", () => {
  const progress: RunProgress = {
    phase: "fault",
    elapsedMs: 12_000,
    workers: { running: 2, started: 3, killed: 1 },
    sends: { invoked: 10, ok: 8, fail: 1, info: 1 },
    polls: { invoked: 4, ok: 4, fail: 0, info: 0, records: 9 },
    drains: { invoked: 0, ok: 0, fail: 0, info: 0, records: 0 },
    final: false,
  };

  test("formats one line", () => {
    expect(formatProgress(progress)).toBe(
      "[fault 12.0s] workers 2/3 (1 killed) · sends 10 ok 8 fail 1 info 1 · polls 4 (9 records)",
    );
  });

  test("the default reporter is quiet in CI and off a terminal, and writes on a TTY", () => {
    const written: string[] = [];
    const tty = {
      isTTY: true,
      columns: 200,
      write: (s: string) => written.push(s),
    } as unknown as NodeJS.WriteStream;
    expect(defaultProgressReporter({ stream: tty, env: { CI: "true" } })).toBeUndefined();
    const pipe = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
    expect(defaultProgressReporter({ stream: pipe, env: {} })).toBeUndefined();
    const report = defaultProgressReporter({ stream: tty, env: { CI: "false" } });
    expect(report).toBeDefined();
    report!(progress);
    report!({ ...progress, final: true });
    expect(written[0]).toContain("[fault 12.0s]");
    expect(written[1].endsWith("\n")).toBe(true);
  });
});

describe("WorkloadRunner checks before starting anything", () => {
  test("duplicate worker ids and value prefixes are rejected", async () => {
    const runner = new WorkloadRunner({ onProgress: null });
    await expect(
      runner.start([
        { spec: valid, id: "p" },
        { spec: valid, id: "p" },
      ]),
    ).rejects.toThrow('Worker id "p" is used twice in this run.');
    await expect(
      runner.start([
        { spec: { ...valid, valuePrefix: "v" }, id: "a" },
        { spec: { ...valid, valuePrefix: "v" }, id: "b" },
      ]),
    ).rejects.toThrow('Value prefix "v" is used by two producers in this run; values would not be unique.');
    await expect(runner.start([{ spec: { ...valid, acks: 3 } as unknown as WorkloadSpec }])).rejects.toThrow(
      "workers[0].spec.acks must be one of 0, 1, -1, not 3.",
    );
    expect(runner.livePids()).toEqual([]);
    await runner.close();
  });
});
