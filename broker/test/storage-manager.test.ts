import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LogManager, parsePartitionDirName } from "../storage/log-manager.ts";
import { simpleBatch, tempDirs, walkBatches } from "./storage-helpers.ts";

const temp = tempDirs();
const managers: LogManager[] = [];
afterEach(async () => {
  await Promise.allSettled(managers.splice(0).map((m) => m.close()));
  await temp.cleanup();
});

async function openManager(dataDir: string): Promise<LogManager> {
  const m = await LogManager.open({
    dataDir,
    defaultConfig: { flushPolicy: "none", segmentBytes: 2000 },
    checkpointIntervalMs: 0,
    retentionCheckIntervalMs: 0,
  });
  managers.push(m);
  return m;
}

const leader = { leaderEpoch: 0, timestampType: "CreateTime" as const, now: 0 };

describe("LogManager", () => {
  it("parses Kafka partition folder names, topics may contain dashes", () => {
    expect(parsePartitionDirName("orders-3")).toEqual({ topic: "orders", partition: 3 });
    expect(parsePartitionDirName("my-topic.v2-10")).toEqual({ topic: "my-topic.v2", partition: 10 });
    expect(parsePartitionDirName("orders-x")).toBeUndefined();
    expect(parsePartitionDirName("orders-1.abc-delete")).toBeUndefined();
  });

  it("creates partitions with partition.metadata and reloads them after restart", async () => {
    const dataDir = await temp.make();
    const m = await openManager(dataDir);
    const a = await m.createLog("my-topic", 0, { topicId: "AAAAAAAAAAAAAAAAAAAAAA" });
    const b = await m.createLog("my-topic", 1, {
      topicId: "AAAAAAAAAAAAAAAAAAAAAA",
      config: { segmentBytes: 500 },
    });
    expect(await m.createLog("my-topic", 0)).toBe(a);
    await a.append(simpleBatch(3), leader);
    for (let i = 0; i < 10; i++) await b.append(simpleBatch(2, 40), leader);
    expect(b.segmentCount).toBeGreaterThan(1);
    expect(await readFile(join(dataDir, "my-topic-0", "partition.metadata"), "utf8")).toBe(
      "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n",
    );
    await expect(m.createLog("my-topic", 0, { topicId: "BBBBBBBBBBBBBBBBBBBBBB" })).rejects.toMatchObject({
      kafkaError: "INCONSISTENT_TOPIC_ID",
    });
    await expect(m.createLog("../evil", 0)).rejects.toMatchObject({ kafkaError: "INVALID_REQUEST" });
    managers.splice(managers.indexOf(m), 1);
    await m.close();
    expect(await readdir(join(dataDir, "my-topic-0"))).toContain(".clean-shutdown");

    const again = await openManager(dataDir);
    expect(
      again
        .all()
        .map((l) => `${l.topic}/${l.partition}/${l.topicId}`)
        .sort(),
    ).toEqual(["my-topic/0/AAAAAAAAAAAAAAAAAAAAAA", "my-topic/1/AAAAAAAAAAAAAAAAAAAAAA"]);
    const a2 = again.getLog("my-topic", 0)!;
    expect(a2.logEndOffset).toBe(3);
    expect(walkBatches((await a2.read(0, 1000)).records)[0].lastOffset).toBe(2);
    expect(again.getLog("my-topic", 1)!.logEndOffset).toBe(20);
  });

  it("deletes a partition by renaming it aside and removing it in the background", async () => {
    const dataDir = await temp.make();
    const m = await openManager(dataDir);
    const log = await m.createLog("t", 0, { topicId: "x" });
    await log.append(simpleBatch(1), leader);
    expect(await m.deleteLog("t", 0)).toBe(true);
    expect(m.getLog("t", 0)).toBeUndefined();
    expect(await m.deleteLog("t", 0)).toBe(false);
    await expect(log.append(simpleBatch(1), leader)).rejects.toMatchObject({
      kafkaError: "KAFKA_STORAGE_ERROR",
    });
    const deadline = Date.now() + 3000;
    while ((await readdir(dataDir)).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(await readdir(dataDir)).toEqual([]);
    // Re-creating the same partition starts empty.
    expect((await m.createLog("t", 0, { topicId: "y" })).logEndOffset).toBe(0);
  });

  it("finishes leftover deletions at startup and runs retention and config updates over all logs", async () => {
    const dataDir = await temp.make();
    await mkdir(join(dataDir, "old-0.0123456789abcdef-delete", "x"), { recursive: true });
    const m = await openManager(dataDir);
    const log = await m.createLog("r", 0);
    for (let i = 0; i < 40; i++) await log.append(simpleBatch(2, 40, 1000), leader);
    log.setHighWatermark(log.logEndOffset);
    m.updateTopicConfig("r", { retentionMs: 1000 });
    expect(await m.runRetention(10_000)).toBeGreaterThan(0);
    expect(log.segmentCount).toBe(1);
    expect(log.logStartOffset).toBe(80);
    await m.checkpointAll();
    expect(await readFile(join(dataDir, "r-0", "offsets-checkpoint"), "utf8")).toContain(
      "log-start-offset 80",
    );
    const deadline = Date.now() + 3000;
    while ((await readdir(dataDir)).includes("old-0.0123456789abcdef-delete") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await readdir(dataDir)).toEqual(["r-0"]);
  });
});
