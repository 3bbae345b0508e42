import { readdir, readFile, stat, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { LogConfig } from "../storage/config.ts";
import { type AppendOptions, PartitionLog } from "../storage/partition-log.ts";
import { makeBatch, seededRandom, simpleBatch, tempDirs, walkBatches } from "./storage-helpers.ts";

const temp = tempDirs();
const open: PartitionLog[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((l) => l.close()));
  await temp.cleanup();
});

const leader = (epoch = 0): AppendOptions => ({ leaderEpoch: epoch, timestampType: "CreateTime", now: 0 });

async function openAt(
  dir: string,
  config: Partial<LogConfig> = {},
  warnings: string[] = [],
): Promise<PartitionLog> {
  const log = await PartitionLog.open({
    dir,
    config: { flushPolicy: "none", ...config },
    onWarning: (m) => warnings.push(m),
  });
  open.push(log);
  return log;
}

/** Simulates a crash: closes the files without the clean-shutdown marker or final checkpoints. */
async function crash(log: PartitionLog): Promise<void> {
  open.splice(open.indexOf(log), 1);
  await log.discard();
}

async function readEverything(log: PartitionLog) {
  const out = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const walked = walkBatches((await log.read(offset, 1 << 20)).records);
    out.push(...walked);
    offset = walked[walked.length - 1].lastOffset + 1;
  }
  return out;
}

async function segmentFiles(dir: string, suffix: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith(suffix)).sort();
}

describe("crash recovery", () => {
  it("truncates a torn tail at random cut points: every whole batch before the cut survives", async () => {
    const rand = seededRandom(2024);
    for (let round = 0; round < 12; round++) {
      const dir = await temp.make();
      const log = await openAt(dir, { segmentBytes: 1 << 20, indexIntervalBytes: 128 });
      const spans: Array<{ end: number; lastOffset: number; epoch: number }> = [];
      let end = 0;
      for (let i = 0; i < 40; i++) {
        const epoch = i < 20 ? 1 : 2;
        const r = await log.append(
          simpleBatch(1 + Math.floor(rand() * 4), 5 + Math.floor(rand() * 80)),
          leader(epoch),
        );
        end = log.size;
        spans.push({ end, lastOffset: r.lastOffset, epoch });
      }
      if (round % 2 === 0) {
        await log.checkpoint();
        await crash(log);
      } else {
        // Clean shutdown, then the disk loses the tail anyway: trusted indexes must not hide it.
        open.splice(open.indexOf(log), 1);
        await log.close();
      }
      const file = join(dir, "00000000000000000000.log");
      const cut = Math.floor(rand() * end);
      await truncate(file, cut);

      const warnings: string[] = [];
      const reopened = await openAt(dir, { indexIntervalBytes: 128 }, warnings);
      const complete = spans.filter((s) => s.end <= cut);
      const expectedEnd = complete.length === 0 ? 0 : complete[complete.length - 1].lastOffset + 1;
      expect(reopened.logEndOffset).toBe(expectedEnd);
      expect(reopened.size).toBe(complete.length === 0 ? 0 : complete[complete.length - 1].end);
      const batches = await readEverything(reopened);
      let next = 0;
      for (const b of batches) {
        expect(b.baseOffset).toBe(next);
        expect(b.crcValid).toBe(true);
        next = b.lastOffset + 1;
      }
      expect(next).toBe(expectedEnd);
      const torn = cut !== (complete[complete.length - 1]?.end ?? 0);
      expect(warnings.some((w) => w.includes("torn"))).toBe(torn);
      // The epoch cache never points past the recovered end.
      for (const e of reopened.epochStartOffsets())
        expect(e.startOffset).toBeLessThan(Math.max(expectedEnd, 1));
      // Appends continue right after the recovered end.
      expect((await reopened.append(simpleBatch(1), leader(3))).baseOffset).toBe(expectedEnd);
    }
  });

  it("truncates from a batch with a bad CRC in the middle", async () => {
    const dir = await temp.make();
    const log = await openAt(dir);
    const ends: number[] = [];
    for (let i = 0; i < 10; i++) {
      await log.append(simpleBatch(2, 30), leader());
      ends.push(log.size);
    }
    await crash(log);
    const file = join(dir, "00000000000000000000.log");
    const bytes = await readFile(file);
    bytes[ends[4] + 70] ^= 0x55; // inside the records of the 6th batch (offsets 10-11)
    await writeFile(file, bytes);

    const reopened = await openAt(dir);
    expect(reopened.logEndOffset).toBe(10);
    expect((await stat(file)).size).toBe(ends[4]);
    expect((await readEverything(reopened)).length).toBe(5);
  });

  it("drops every segment after a corrupt one", async () => {
    const dir = await temp.make();
    const log = await openAt(dir, { segmentBytes: 500 });
    for (let i = 0; i < 30; i++) await log.append(simpleBatch(2, 30), leader());
    expect(log.segmentCount).toBeGreaterThan(3);
    const second = log.segmentInfos()[1];
    await log.checkpoint();
    await crash(log);
    // Pretend nothing was ever flushed so every segment is recovered, and corrupt the second one.
    await writeFile(
      join(dir, "offsets-checkpoint"),
      "0\nlog-start-offset 0\nhigh-watermark 0\nrecovery-point 0\n",
    );
    const file = join(dir, `${String(second.baseOffset).padStart(20, "0")}.log`);
    const bytes = await readFile(file);
    bytes[bytes.length - 20] ^= 0xff;
    await writeFile(file, bytes);

    const reopened = await openAt(dir, { segmentBytes: 500 });
    expect(reopened.segmentCount).toBe(2);
    expect(reopened.logEndOffset).toBeLessThan(second.nextOffset);
    expect(reopened.logEndOffset).toBeGreaterThan(second.baseOffset);
    expect((await segmentFiles(dir, ".log")).length).toBe(2);
    const batches = await readEverything(reopened);
    expect(batches[batches.length - 1].lastOffset + 1).toBe(reopened.logEndOffset);
  });

  it("rebuilds deleted index files identically", async () => {
    const dir = await temp.make();
    const config = { segmentBytes: 3000, indexIntervalBytes: 200 };
    const log = await openAt(dir, config);
    const rand = seededRandom(99);
    let ts = 5000;
    for (let i = 0; i < 80; i++) {
      const records = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => {
        ts += Math.floor(rand() * 40) - 10;
        return { value: Buffer.alloc(10 + Math.floor(rand() * 50), 2), timestamp: ts };
      });
      await log.append(makeBatch(records), leader());
    }
    open.splice(open.indexOf(log), 1);
    await log.close();
    const indexNames = [...(await segmentFiles(dir, ".index")), ...(await segmentFiles(dir, ".timeindex"))];
    expect(indexNames.length).toBeGreaterThan(4);
    const originals = new Map<string, Buffer>();
    for (const n of indexNames) originals.set(n, await readFile(join(dir, n)));
    expect([...originals.values()].some((b) => b.length > 0)).toBe(true);
    for (const n of indexNames) await unlink(join(dir, n));

    const reopened = await openAt(dir, config);
    open.splice(open.indexOf(reopened), 1);
    await reopened.close();
    for (const n of indexNames) expect(await readFile(join(dir, n)), n).toEqual(originals.get(n));
  });

  it("rebuilds a stale index after an unclean shutdown", async () => {
    const dir = await temp.make();
    const log = await openAt(dir, { indexIntervalBytes: 100 });
    for (let i = 0; i < 20; i++) await log.append(simpleBatch(2, 40), leader());
    open.splice(open.indexOf(log), 1);
    await log.close();
    // Garbage index: wrong positions. A clean marker makes the loader trust it; the sanity check must not.
    await writeFile(
      join(dir, "00000000000000000000.index"),
      Buffer.from([0, 0, 0, 5, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 1]),
    );
    const reopened = await openAt(dir, { indexIntervalBytes: 100 });
    expect(reopened.logEndOffset).toBe(40);
    for (let o = 0; o < 40; o += 3) {
      const [b] = walkBatches((await reopened.read(o, 1)).records);
      expect(b.baseOffset).toBe(o - (o % 2));
    }
  });

  it("writes a clean-shutdown marker on close and removes it on open", async () => {
    const dir = await temp.make();
    const log = await openAt(dir);
    await log.append(simpleBatch(1), leader());
    open.splice(open.indexOf(log), 1);
    await log.close();
    expect(await readdir(dir)).toContain(".clean-shutdown");
    const reopened = await openAt(dir);
    expect(await readdir(dir)).not.toContain(".clean-shutdown");
    expect(reopened.logEndOffset).toBe(1);
  });
});

describe("restart persistence", () => {
  it("keeps log start offset, high watermark and epochs across a clean restart", async () => {
    const dir = await temp.make();
    const log = await openAt(dir, { segmentBytes: 400 });
    for (let i = 0; i < 20; i++) await log.append(simpleBatch(2, 20), leader(i < 10 ? 4 : 6));
    log.setHighWatermark(30);
    await log.deleteRecordsBefore(9);
    const epochs = log.epochStartOffsets().map((e) => ({ ...e }));
    open.splice(open.indexOf(log), 1);
    await log.close();

    const reopened = await openAt(dir, { segmentBytes: 400 });
    expect(reopened.logStartOffset).toBe(9);
    expect(reopened.highWatermark).toBe(30);
    expect(reopened.logEndOffset).toBe(40);
    expect(reopened.epochStartOffsets()).toEqual(epochs);
    expect(epochs).toEqual([
      { epoch: 4, startOffset: 9 },
      { epoch: 6, startOffset: 20 },
    ]);
  });

  it("after a crash keeps what was checkpointed and rebuilds the epoch tail from the batches", async () => {
    const dir = await temp.make();
    const log = await openAt(dir);
    await log.append(simpleBatch(3), leader(1));
    log.setHighWatermark(3);
    await log.flush();
    await log.append(simpleBatch(3), leader(2));
    log.setHighWatermark(6); // not checkpointed before the crash
    await crash(log);
    await unlink(join(dir, "leader-epoch-checkpoint"));

    const reopened = await openAt(dir);
    expect(reopened.logEndOffset).toBe(6);
    expect(reopened.highWatermark).toBe(3);
    expect(reopened.epochStartOffsets()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 3 },
    ]);
  });

  it("drops checkpointed epochs beyond a truncated tail", async () => {
    const dir = await temp.make();
    const log = await openAt(dir);
    await log.append(simpleBatch(2), leader(1));
    await log.append(simpleBatch(2), leader(5));
    const sizeBefore = log.size;
    await crash(log);
    await truncate(join(dir, "00000000000000000000.log"), sizeBefore - 5);
    const reopened = await openAt(dir);
    expect(reopened.logEndOffset).toBe(2);
    expect(reopened.epochStartOffsets()).toEqual([{ epoch: 1, startOffset: 0 }]);
  });
});
