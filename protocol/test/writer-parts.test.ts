// Writer's sharing mode (zero-copy Fetch): large byte strings are referenced, not copied; the parts
// concatenate to exactly what a plain writer produces, and reserved int32s are patched wherever they
// ended up (also after the internal buffer grew past a shared part).
import { randomBytes } from "node:crypto";
import { expect, test } from "vitest";
import { Writer } from "../wire/writer.ts";

function encode(w: Writer, blobs: Buffer[]): void {
  const size = w.reserveInt32();
  w.int32(42);
  for (const blob of blobs) {
    const inner = w.reserveInt32();
    w.compactBytes(blob);
    w.compactString("after");
    w.setInt32At(inner, blob.length);
    // enough small writes to grow the internal buffer between shared parts
    for (let i = 0; i < 300; i++) w.int64(BigInt(i));
  }
  w.setInt32At(size, w.length - 4);
}

test("parts equal the plain encoding, and shared strings are the caller's buffers", () => {
  const blobs = [randomBytes(10_000), randomBytes(10), randomBytes(5000), randomBytes(4096)];
  const plain = new Writer(16);
  encode(plain, blobs);
  const shared = new Writer(16, { shareBytesFrom: 4096 });
  encode(shared, blobs);
  const parts = shared.finishParts();
  expect(Buffer.concat(parts).equals(plain.finish())).toBe(true);
  expect(shared.finish().equals(plain.finish())).toBe(true);
  expect(shared.length).toBe(plain.length);
  // the three large blobs travel uncopied (same memory), the small one was copied
  for (const blob of [blobs[0], blobs[2], blobs[3]]) expect(parts).toContain(blob);
  expect(parts).not.toContain(blobs[1]);
  expect(Buffer.concat(parts).readInt32BE(0)).toBe(plain.length - 4);
});

test("a writer without sharing returns one part", () => {
  const w = new Writer();
  w.compactBytes(randomBytes(100_000));
  expect(w.finishParts()).toHaveLength(1);
});
