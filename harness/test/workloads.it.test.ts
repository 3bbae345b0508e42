// Workloads against a real 1-node Apache Kafka cluster: worker processes on both clients record a
// history the checker accepts; a mutated history is rejected; killed workers leave a well-formed
// history and no processes behind.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { checkHistory } from "../checker/index.ts";
import { createCluster } from "../cluster/index.ts";
import { isProcessAlive } from "../cluster/process-supervisor.ts";
import type { Cluster } from "../cluster/types.ts";
import { type HistoryEvent, readHistory } from "../history/index.ts";
import { missingTools } from "../tools.ts";
import { WORKER_MAIN, WorkloadRunner } from "../workloads/runner.ts";
import type { WorkloadSpec } from "../workloads/types.ts";

const missing = missingTools("java", "kafka");
const N = 200;
const PARTITIONS = 3;

let cluster: Cluster;
let bootstrap = "";
let dir = "";

async function createTopic(topic: string): Promise<void> {
  const admin = new kafkajs.Kafka({
    brokers: bootstrap.split(","),
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

function producer(
  client: "kafkajs" | "rdkafka",
  topic: string,
  patch: Partial<WorkloadSpec> = {},
): WorkloadSpec {
  return {
    client,
    role: "producer",
    bootstrap,
    topic,
    ratePerSec: 400,
    maxInFlight: 4,
    acks: -1,
    idempotent: true,
    keys: "random",
    maxMessages: N,
    requestTimeoutMs: 5000,
    retries: 5,
    seed: 20_251_122,
    ...patch,
  };
}

/** Worker processes still around: our pids, plus any worker-main.ts process whose parent is us. */
function leftoverWorkers(pids: number[]): number[] {
  const alive = pids.filter(isProcessAlive);
  for (const entry of readdirProc()) {
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (cmdline.includes(WORKER_MAIN) && ppid === process.pid && isProcessAlive(Number(entry))) {
        alive.push(Number(entry));
      }
    } catch {
      // Gone while we looked.
    }
  }
  return [...new Set(alive)];
}

function readdirProc(): string[] {
  try {
    return readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(missing)("workloads against Apache Kafka (1 node)", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gauntlet-workloads-"));
    cluster = createCluster({ target: "kafka", nodes: 1 });
    await cluster.start();
    bootstrap = cluster.bootstrapServers();
  });

  afterAll(async () => {
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("kafkajs and rdkafka producers, both consumers, drain: the checker accepts; a lost write is caught", async () => {
    const topic = "workloads-clean";
    await createTopic(topic);
    const historyPath = join(dir, "clean.jsonl");
    const runner = new WorkloadRunner({ historyPath, onProgress: null });
    const t0 = Date.now();
    await runner.start([
      { spec: producer("kafkajs", topic) },
      { spec: producer("rdkafka", topic, { keys: "sequential", partitions: [0, 1, 2] }) },
      {
        spec: {
          ...producer("kafkajs", topic),
          role: "consumer",
          groupId: "wl-kafkajs",
          maxMessages: 2 * N,
          durationMs: 60_000,
        },
      },
      {
        spec: {
          ...producer("rdkafka", topic),
          role: "consumer",
          partitions: [0, 1, 2],
          maxMessages: 2 * N,
          durationMs: 60_000,
        },
      },
    ]);
    expect(await runner.wait(60_000)).toBe(true);
    const results = await runner.stop();
    expect(results.map((r) => [r.workerId, r.end, r.unfinished])).toEqual([
      ["producer-0", "done", 0],
      ["producer-1", "done", 0],
      ["consumer-0", "done", 0],
      ["consumer-1", "done", 0],
    ]);
    const drained = await runner.drain({ client: "kafkajs", bootstrap, topic });
    expect(drained.type).toBe("ok");
    expect(drained.values).toHaveLength(2 * N);
    const events = await runner.close();
    console.log(`clean run: ${events.length} events in ${Date.now() - t0} ms`);

    // The file is the history: the same events, parseable, in order.
    const fromFile = await readHistory(historyPath);
    expect(fromFile).toEqual(events);

    const report = checkHistory(fromFile);
    expect(report.failures).toEqual([]);
    expect(report.valid).toBe(true);
    expect(report.counts.acknowledged).toBe(2 * N);
    expect(report.counts.lost).toBe(0);
    expect(report.counts.duplicated).toBe(0);
    expect(report.counts.unseen).toBe(0);

    // Each consumer saw every value.
    for (const consumer of ["consumer-0", "consumer-1"]) {
      const seen = new Set(
        fromFile
          .filter((e) => e.process === consumer && e.f === "poll" && e.type === "ok")
          .flatMap((e) => e.values!.map((v) => v.value)),
      );
      expect(seen.size).toBe(2 * N);
    }
    // The group consumer's joins and commits were recorded.
    expect(
      fromFile.some((e) => e.process === "consumer-0" && e.f === "rebalance" && e.partitions?.length),
    ).toBe(true);
    expect(fromFile.some((e) => e.process === "consumer-0" && e.f === "commit" && e.type === "ok")).toBe(
      true,
    );
    // Several sends in flight are several processes sharing a producerId.
    const slots = new Set(fromFile.filter((e) => e.f === "send" && e.producerId === 1).map((e) => e.process));
    expect(slots.size).toBeGreaterThan(1);

    // Mutation: one acknowledged value vanishes from the drain.
    const ack = fromFile.find((e) => e.f === "send" && e.type === "ok")!;
    const mutated: HistoryEvent[] = fromFile.map((e) =>
      e.f === "drain" && e.type === "ok"
        ? { ...e, values: e.values!.filter((v) => v.value !== ack.value) }
        : e,
    );
    const bad = checkHistory(mutated);
    expect(bad.valid).toBe(false);
    expect(bad.failures).toContain("lost");
    expect(bad.anomalies.lost.items[0].value).toBe(ack.value);
    expect(leftoverWorkers(results.map((r) => r.pid))).toEqual([]);
  });

  test("rdkafka drain reads what kafkajs wrote", async () => {
    const topic = "workloads-drain";
    await createTopic(topic);
    const runner = new WorkloadRunner({ onProgress: null });
    await runner.start([
      { spec: producer("kafkajs", topic, { maxMessages: 50, idempotent: false, acks: 1 }) },
    ]);
    await runner.wait(30_000);
    const drained = await runner.drain({ client: "rdkafka", bootstrap, topic });
    const events = await runner.close();
    expect(drained.values).toHaveLength(50);
    expect(drained.endOffsets?.reduce((n, e) => n + e.offset, 0)).toBe(50);
    expect(checkHistory(events).valid).toBe(true);
  });

  test("killed and unstoppable workers leave a well-formed history and no processes", async () => {
    const topic = "workloads-kill";
    await createTopic(topic);
    const historyPath = join(dir, "kill.jsonl");
    const runner = new WorkloadRunner({ historyPath, onProgress: null, stopGraceMs: 1000 });
    await runner.start([
      { spec: producer("kafkajs", topic, { maxMessages: undefined, durationMs: 120_000, ratePerSec: 100 }) },
      { spec: producer("rdkafka", topic, { maxMessages: undefined, durationMs: 120_000, ratePerSec: 100 }) },
    ]);
    const pids = runner.livePids();
    expect(pids).toHaveLength(2);
    await waitUntil("acknowledged sends", () => runner.snapshot().sends.ok > 50);
    // Freeze the broker so sends hang in flight, then kill one worker and stop the other: it cannot
    // finish its sends within the grace period and is SIGKILLed too.
    const node = cluster.nodes()[0].nodeId;
    await cluster.pause(node);
    try {
      // Each worker must have sends of its own in flight, not just the two together.
      await waitUntil(
        "sends in flight in both workers",
        () => runner.outstanding("producer-0") > 0 && runner.outstanding("producer-1") > 0,
      );
      const killed = await runner.kill("producer-0");
      expect(killed.end).toBe("killed");
      expect(killed.unfinished).toBeGreaterThan(0);
      const [stopped] = await runner.stop(1000, ["producer-1"]);
      expect(stopped.end).toBe("killed");
      expect(stopped.unfinished).toBeGreaterThan(0);
    } finally {
      await cluster.resume(node);
    }
    await runner.close();
    const history = await readHistory(historyPath);
    const killedOps = history.filter((e) => e.type === "info" && e.error === "WORKER_KILLED");
    expect(killedOps.length).toBeGreaterThan(0);
    const report = checkHistory(history, { expectations: { allowUnseen: true } });
    expect(report.counts.malformed).toBe(0);
    expect(report.valid).toBe(true);
    expect(report.counts.indeterminateSends).toBeGreaterThanOrEqual(killedOps.length);
    expect(leftoverWorkers(pids)).toEqual([]);
  });

  test("workers die with a SIGKILLed runner", async () => {
    const topic = "workloads-orphans";
    await createTopic(topic);
    const spec = producer("rdkafka", topic, { maxMessages: undefined, durationMs: 120_000, ratePerSec: 50 });
    const script = `
      import { WorkloadRunner } from ${JSON.stringify(join(import.meta.dirname, "../workloads/runner.ts"))};
      const runner = new WorkloadRunner({ onProgress: null });
      await runner.start([{ spec: ${JSON.stringify(spec)} }, { spec: { ...${JSON.stringify(spec)}, client: "kafkajs" } }]);
      console.log(JSON.stringify(runner.livePids()));
      setInterval(() => {}, 1 << 30);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
      cwd: join(import.meta.dirname, "../.."),
    });
    try {
      const pids = await new Promise<number[]>((resolve, reject) => {
        let out = "";
        child.stdout!.on("data", (d) => {
          out += d;
          if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]));
        });
        child.on("exit", (code) => reject(new Error(`runner script exited early (${code})`)));
      });
      expect(pids).toHaveLength(2);
      expect(pids.every(isProcessAlive)).toBe(true);
      child.kill("SIGKILL");
      await waitUntil("orphaned workers to exit", () => !pids.some(isProcessAlive), 5000);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
