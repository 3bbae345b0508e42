import { afterEach, describe, expect, it } from "vitest";
import type { LogConfig } from "../storage/config.ts";
import type { FsyncKind } from "../storage/files.ts";
import { type AppendOptions, PartitionLog } from "../storage/partition-log.ts";
import { simpleBatch, tempDirs, walkBatches } from "./storage-helpers.ts";

const temp = tempDirs();
const logs: PartitionLog[] = [];
afterEach(async () => {
  await Promise.allSettled(logs.splice(0).map((l) => l.close()));
  await temp.cleanup();
});

const leader: AppendOptions = { leaderEpoch: 0, timestampType: "CreateTime", now: 0 };

async function openCounting(config: Partial<LogConfig>) {
  const fsyncs: Record<FsyncKind, number> = { log: 0, index: 0, checkpoint: 0, dir: 0 };
  const latencies: number[] = [];
  const log = await PartitionLog.open({
    dir: await temp.make(),
    config,
    fsyncObserver: ({ kind, seconds }) => {
      fsyncs[kind]++;
      latencies.push(seconds);
    },
  });
  logs.push(log);
  // Opening writes checkpoints; count only what the appends cause.
  for (const k of Object.keys(fsyncs) as FsyncKind[]) fsyncs[k] = 0;
  return { log, fsyncs, latencies };
}

describe("flush policies", () => {
  it("every-batch: one append, one fsync before it resolves", async () => {
    const { log, fsyncs, latencies } = await openCounting({ flushPolicy: "every-batch" });
    await log.append(simpleBatch(1), leader);
    expect(fsyncs.log).toBe(1);
    expect(log.recoveryPoint).toBe(1);
    expect(latencies.every((s) => s >= 0 && s < 10)).toBe(true);
  });

  it("group commit: concurrent appends share fsyncs and still get contiguous offsets", async () => {
    const { log, fsyncs } = await openCounting({ flushPolicy: "every-batch" });
    const n = 64;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => log.append(simpleBatch(1 + (i % 3)), leader)),
    );
    expect(fsyncs.log).toBeGreaterThan(0);
    expect(fsyncs.log).toBeLessThan(n);
    // Appends issued in the same tick are written together and covered by a single fsync.
    expect(fsyncs.log).toBe(1);
    let next = 0;
    for (const r of results) {
      expect(r.baseOffset).toBe(next);
      next = r.lastOffset + 1;
    }
    expect(log.recoveryPoint).toBe(next);
    const walked = walkBatches((await log.read(0, 1 << 20)).records);
    expect(walked.length).toBe(n);
  });

  it("group commit: appends arriving while an fsync is in flight ride the next one", async () => {
    const { log, fsyncs } = await openCounting({ flushPolicy: "every-batch" });
    const pending: Promise<unknown>[] = [];
    for (let wave = 0; wave < 10; wave++) {
      for (let i = 0; i < 10; i++) pending.push(log.append(simpleBatch(1), leader));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(pending);
    expect(log.logEndOffset).toBe(100);
    expect(fsyncs.log).toBeLessThan(100);
  });

  it("interval: appends resolve without fsync; the timer flushes later", async () => {
    const { log, fsyncs } = await openCounting({ flushPolicy: "interval", flushIntervalMs: 20 });
    await log.append(simpleBatch(2), leader);
    expect(fsyncs.log).toBe(0);
    expect(log.recoveryPoint).toBe(0);
    const deadline = Date.now() + 3000;
    while (log.recoveryPoint < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(fsyncs.log).toBeGreaterThanOrEqual(1);
    expect(log.recoveryPoint).toBe(2);
  });

  it("none: no fsync on the append path; flush() makes it durable; policy changes at runtime", async () => {
    const { log, fsyncs } = await openCounting({ flushPolicy: "none" });
    for (let i = 0; i < 5; i++) await log.append(simpleBatch(1), leader);
    expect(fsyncs.log).toBe(0);
    await log.flush();
    expect(fsyncs.log).toBe(1);
    expect(log.recoveryPoint).toBe(5);
    log.updateConfig({ flushPolicy: "every-batch" });
    await log.append(simpleBatch(1), leader);
    expect(fsyncs.log).toBe(2);
  });

  it("rejects appends after close", async () => {
    const { log } = await openCounting({ flushPolicy: "none" });
    const inFlight = log.append(simpleBatch(1), leader);
    const closing = log.close();
    await expect(log.append(simpleBatch(1), leader)).rejects.toMatchObject({
      kafkaError: "KAFKA_STORAGE_ERROR",
    });
    expect((await inFlight).baseOffset).toBe(0);
    await closing;
  });
});
