import { appendFile, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DiskStorage, StorageCorruptionError, StorageIdentityError } from "../raft/runtime/disk-storage.ts";
import type { Entry, Snapshot } from "../raft/types.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const e = (index: number, term: number, text = `e${index}-t${term}`): Entry => ({
  index,
  term,
  data: enc(text),
});
const conf = { voters: [1, 2, 3], learners: [] };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raft-disk-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = (extra: { segmentBytes?: number; clusterId?: string; nodeId?: number } = {}) =>
  DiskStorage.open({ dir, clusterId: extra.clusterId ?? "c1", nodeId: extra.nodeId ?? 1, ...extra });

async function segFiles(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(".seg")).sort();
}

describe("raft disk storage", () => {
  it("persists hard state and entries, and reloads them", async () => {
    const s = await open();
    expect(s.isEmpty()).toBe(true);
    const boot: Entry = {
      index: 1,
      term: 1,
      data: new Uint8Array(0),
      change: { type: "bootstrap", voters: [1, 2, 3] },
    };
    await s.persist({
      hardState: { term: 1, vote: 0, commit: 1 },
      truncateFrom: 1,
      entries: [boot],
      snapshot: null,
    });
    await s.persist({
      hardState: { term: 2, vote: 1, commit: 3 },
      truncateFrom: 2,
      entries: [e(2, 2), e(3, 2)],
      snapshot: null,
    });
    await s.close();

    const r = await open();
    expect(r.isEmpty()).toBe(false);
    const st = r.takeInitialState();
    expect(st.hardState).toEqual({ term: 2, vote: 1, commit: 3 });
    expect(st.snapshot).toBeUndefined();
    expect(st.entries.map((x) => [x.index, x.term])).toEqual([
      [1, 1],
      [2, 2],
      [3, 2],
    ]);
    expect(st.entries[0].change).toEqual({ type: "bootstrap", voters: [1, 2, 3] });
    expect(dec(st.entries[2].data)).toBe("e3-t2");
    expect(r.stats()).toMatchObject({ firstIndex: 1, lastIndex: 3, entries: 3, snapshotIndex: 0 });
    await r.close();
  });

  it("cuts a torn tail off the last segment on open and keeps appending after it", async () => {
    const s = await open();
    await s.persist({
      hardState: { term: 1, vote: 0, commit: 0 },
      truncateFrom: 1,
      entries: [e(1, 1), e(2, 1), e(3, 1)],
      snapshot: null,
    });
    await s.close();
    const [seg] = await segFiles();
    const size = (await stat(join(dir, seg))).size;
    // A crash mid-append: half of entry 3 made it to disk, plus some garbage after a valid header.
    await truncate(join(dir, seg), size - 5);
    const r = await open();
    const st = r.takeInitialState();
    expect(st.entries.map((x) => x.index)).toEqual([1, 2]);
    expect(r.stats().tornBytesRecovered).toBeGreaterThan(0);
    await r.persist({ hardState: null, truncateFrom: 3, entries: [e(3, 2)], snapshot: null });
    await r.close();
    const again = await open();
    expect(again.takeInitialState().entries.map((x) => [x.index, x.term])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
    ]);
    await again.close();
  });

  it("treats a frame with a bad checksum at the tail as torn, but refuses corruption in the middle", async () => {
    const s = await open({ segmentBytes: 1 });
    await s.persist({ hardState: null, truncateFrom: 1, entries: [e(1, 1)], snapshot: null });
    await s.persist({ hardState: null, truncateFrom: 2, entries: [e(2, 1)], snapshot: null });
    await s.persist({ hardState: null, truncateFrom: 3, entries: [e(3, 1)], snapshot: null });
    await s.close();
    const segs = await segFiles();
    expect(segs.length).toBe(3);
    // Flip a payload byte of the last segment's only entry: a torn tail.
    const last = join(dir, segs[2]);
    const b = await readFile(last);
    b[b.length - 1] ^= 0xff;
    await writeFile(last, b);
    const r = await open({ segmentBytes: 1 });
    expect(r.takeInitialState().entries.map((x) => x.index)).toEqual([1, 2]);
    await r.close();
    // Now damage the first segment: not a tail, so opening must fail.
    const first = join(dir, segs[0]);
    const f = await readFile(first);
    f[f.length - 1] ^= 0xff;
    await writeFile(first, f);
    await expect(open({ segmentBytes: 1 })).rejects.toBeInstanceOf(StorageCorruptionError);
  });

  it("truncates a conflicting suffix, across segments", async () => {
    const s = await open({ segmentBytes: 1 });
    for (let i = 1; i <= 5; i++)
      await s.persist({ hardState: null, truncateFrom: i, entries: [e(i, 1)], snapshot: null });
    expect((await segFiles()).length).toBe(5);
    // A new leader overwrites 3.. with its own term-2 entries.
    await s.persist({
      hardState: { term: 2, vote: 2, commit: 2 },
      truncateFrom: 3,
      entries: [e(3, 2), e(4, 2)],
      snapshot: null,
    });
    expect(s.stats().lastIndex).toBe(4);
    await s.close();
    const r = await open({ segmentBytes: 1 });
    const st = r.takeInitialState();
    expect(st.entries.map((x) => [x.index, x.term])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
    ]);
    expect(dec(st.entries[2].data)).toBe("e3-t2");
    await r.close();
  });

  it("truncates inside a single segment", async () => {
    const s = await open();
    await s.persist({
      hardState: null,
      truncateFrom: 1,
      entries: [e(1, 1), e(2, 1), e(3, 1), e(4, 1)],
      snapshot: null,
    });
    await s.persist({ hardState: null, truncateFrom: 2, entries: [e(2, 3)], snapshot: null });
    await s.persist({ hardState: null, truncateFrom: 3, entries: [e(3, 3)], snapshot: null });
    await s.close();
    const r = await open();
    expect(r.takeInitialState().entries.map((x) => [x.index, x.term])).toEqual([
      [1, 1],
      [2, 3],
      [3, 3],
    ]);
    await r.close();
  });

  it("stores a snapshot and compacts whole segments before it", async () => {
    const s = await open({ segmentBytes: 60 });
    for (let i = 1; i <= 10; i++)
      await s.persist({
        hardState: { term: 1, vote: 1, commit: i },
        truncateFrom: i,
        entries: [e(i, 1)],
        snapshot: null,
      });
    const before = (await segFiles()).length;
    const snap: Snapshot = { meta: { index: 7, term: 1, conf }, data: enc("state@7") };
    await s.saveSnapshot(snap);
    const after = (await segFiles()).length;
    expect(after).toBeLessThan(before);
    expect(s.stats()).toMatchObject({ snapshotIndex: 7, firstIndex: 8, lastIndex: 10, entries: 3 });
    await s.persist({ hardState: null, truncateFrom: 11, entries: [e(11, 1)], snapshot: null });
    await s.close();

    const r = await open({ segmentBytes: 60 });
    const st = r.takeInitialState();
    expect(st.snapshot?.meta).toEqual({ index: 7, term: 1, conf });
    expect(dec(st.snapshot!.data)).toBe("state@7");
    expect(st.entries.map((x) => x.index)).toEqual([8, 9, 10, 11]);
    // A newer snapshot replaces the old data file.
    await r.saveSnapshot({ meta: { index: 10, term: 1, conf }, data: enc("state@10") });
    await r.close();
    const dataFiles = (await readdir(dir)).filter((n) => n.endsWith(".data"));
    expect(dataFiles).toEqual(["snapshot-10-1.data"]);
    const r2 = await open({ segmentBytes: 60 });
    expect(r2.takeInitialState().entries.map((x) => x.index)).toEqual([11]);
    await r2.close();
  });

  it("installs a leader's snapshot, replacing the whole log", async () => {
    const s = await open();
    await s.persist({
      hardState: { term: 1, vote: 0, commit: 2 },
      truncateFrom: 1,
      entries: [e(1, 1), e(2, 1), e(3, 1)],
      snapshot: null,
    });
    const snap: Snapshot = { meta: { index: 50, term: 4, conf }, data: enc("leader-state") };
    await s.persist({
      hardState: { term: 4, vote: 0, commit: 50 },
      truncateFrom: 51,
      entries: [e(51, 4)],
      snapshot: snap,
    });
    await s.close();
    const r = await open();
    const st = r.takeInitialState();
    expect(st.snapshot?.meta.index).toBe(50);
    expect(st.hardState).toEqual({ term: 4, vote: 0, commit: 50 });
    expect(st.entries.map((x) => [x.index, x.term])).toEqual([[51, 4]]);
    await r.close();
  });

  it("ignores the old log if a crash hit between a snapshot install and the log's deletion", async () => {
    const s = await open();
    await s.persist({ hardState: null, truncateFrom: 1, entries: [e(1, 1), e(2, 1)], snapshot: null });
    await s.close();
    const oldSegs = await segFiles();
    const saved = await Promise.all(oldSegs.map((n) => readFile(join(dir, n))));
    const s2 = await open();
    s2.takeInitialState();
    await s2.persist({
      hardState: null,
      truncateFrom: null,
      entries: [],
      snapshot: { meta: { index: 9, term: 3, conf }, data: enc("x") },
    });
    await s2.close();
    // Resurrect the old generation's segment as if its unlink never reached the disk.
    for (let i = 0; i < oldSegs.length; i++) await writeFile(join(dir, oldSegs[i]), saved[i]);
    const r = await open();
    const st = r.takeInitialState();
    expect(st.snapshot?.meta.index).toBe(9);
    expect(st.entries).toEqual([]);
    expect(await segFiles()).not.toContain(oldSegs[0]);
    await r.close();
  });

  it("refuses a data dir that belongs to another cluster or node", async () => {
    const s = await open();
    await s.persist({
      hardState: { term: 1, vote: 0, commit: 0 },
      truncateFrom: null,
      entries: [],
      snapshot: null,
    });
    await s.close();
    const err = await open({ clusterId: "other" }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(StorageIdentityError);
    expect((err as Error).message).toMatch(/belongs to cluster c1, not other/);
    await expect(open({ nodeId: 2 })).rejects.toThrow(/belongs to node 1, not 2/);
    // Raft state without identity files is refused too.
    await rm(join(dir, "cluster.id"));
    await expect(open()).rejects.toBeInstanceOf(StorageIdentityError);
  });

  it("removes leftover temp files and clamps a commit index beyond the log", async () => {
    const s = await open();
    await s.persist({
      hardState: { term: 1, vote: 0, commit: 1 },
      truncateFrom: 1,
      entries: [e(1, 1)],
      snapshot: null,
    });
    await s.close();
    await writeFile(join(dir, "hardstate.tmp"), "garbage");
    await writeFile(join(dir, "hardstate"), JSON.stringify({ term: 1, vote: 0, commit: 5 }));
    await appendFile(join(dir, "node.id"), "\n");
    const r = await open();
    expect(r.takeInitialState().hardState).toEqual({ term: 1, vote: 0, commit: 1 });
    expect((await readdir(dir)).some((n) => n.endsWith(".tmp"))).toBe(false);
    await r.close();
  });
});
