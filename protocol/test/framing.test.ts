import { describe, expect, it, vi } from "vitest";
import { encodeFrame, FrameReader } from "../framing/frame-reader.ts";
import { ProtocolError } from "../wire/errors.ts";

function payload(n: number, seed = n): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

/** mulberry32: a tiny seeded PRNG so property failures are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function catchProtocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return e as ProtocolError;
  }
  throw new Error("expected a ProtocolError");
}

describe("FrameReader", () => {
  it("returns a whole frame fed in one chunk without copying it", () => {
    const r = new FrameReader();
    const chunk = encodeFrame(payload(100));
    const [frame, ...rest] = r.feed(chunk);
    expect(rest).toEqual([]);
    expect(frame).toEqual(payload(100));
    expect(frame!.buffer).toBe(chunk.buffer); // a view into the chunk
    expect(frame!.byteOffset).toBe(chunk.byteOffset + 4);
    expect(r.bufferedBytes).toBe(0);
  });

  it("assembles a frame split across chunks, including a split size prefix", () => {
    const r = new FrameReader();
    const bytes = encodeFrame(payload(50));
    expect(r.feed(bytes.subarray(0, 2))).toEqual([]);
    expect(r.pendingFrameSize).toBe(-1);
    expect(r.feed(bytes.subarray(2, 20))).toEqual([]);
    expect(r.pendingFrameSize).toBe(50);
    expect(r.bufferedBytes).toBe(16);
    expect(r.feed(bytes.subarray(20))).toEqual([payload(50)]);
    expect(r.bufferedBytes).toBe(0);
  });

  it("splits coalesced frames, including empty ones", () => {
    const r = new FrameReader();
    const frames = [payload(3), Buffer.alloc(0), payload(1000), payload(1)];
    const stream = Buffer.concat(frames.map(encodeFrame));
    expect(r.feed(stream)).toEqual(frames);
  });

  it("handles byte-by-byte feeding", () => {
    const r = new FrameReader();
    const frames = [payload(10), payload(0), payload(300), payload(5000)];
    const stream = Buffer.concat(frames.map(encodeFrame));
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...r.feed(stream.subarray(i, i + 1)));
    expect(out).toEqual(frames);
    expect(r.bufferedBytes).toBe(0);
  });

  it("supports one-frame-at-a-time consumption with push/nextFrame", () => {
    const r = new FrameReader();
    r.push(
      Buffer.concat([
        encodeFrame(payload(4)),
        encodeFrame(payload(6)),
        encodeFrame(payload(8)).subarray(0, 5),
      ]),
    );
    expect(r.nextFrame()).toEqual(payload(4));
    expect(r.nextFrame()).toEqual(payload(6));
    expect(r.nextFrame()).toBeNull();
    r.push(encodeFrame(payload(8)).subarray(5));
    expect(r.nextFrame()).toEqual(payload(8));
    expect(r.nextFrame()).toBeNull();
  });

  it("rejects an oversized frame from its size prefix alone, before buffering the payload", () => {
    const r = new FrameReader({ maxFrameSize: 1024 });
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(1025, 0);
    // Only the prefix (plus a few payload bytes) has arrived: the reader must already refuse.
    const err = catchProtocolError(() => r.feed(Buffer.concat([prefix, Buffer.alloc(10)])));
    expect(err.code).toBe("FRAME_TOO_LARGE");
    expect(err.message).toContain("1025");
    expect(err.message).toContain("1024");
    expect(r.bufferedBytes).toBe(0);
    // The reader stays failed: the stream cannot be resynchronised.
    expect(catchProtocolError(() => r.feed(encodeFrame(payload(1)))).code).toBe("FRAME_TOO_LARGE");
  });

  it("rejects an oversized prefix that arrives one byte at a time", () => {
    const r = new FrameReader({ maxFrameSize: 100 });
    const prefix = Buffer.from([0x7f, 0xff, 0xff, 0xff]);
    for (let i = 0; i < 3; i++) expect(r.feed(prefix.subarray(i, i + 1))).toEqual([]);
    expect(catchProtocolError(() => r.feed(prefix.subarray(3))).code).toBe("FRAME_TOO_LARGE");
  });

  it("rejects the oversized second frame of a coalesced chunk via push", () => {
    const r = new FrameReader({ maxFrameSize: 10 });
    r.push(Buffer.concat([encodeFrame(payload(5)), Buffer.from([0, 0, 0, 11])]));
    expect(r.nextFrame()).toEqual(payload(5));
    expect(catchProtocolError(() => r.nextFrame()).code).toBe("FRAME_TOO_LARGE");
  });

  it("accepts a frame of exactly the maximum size", () => {
    const r = new FrameReader({ maxFrameSize: 64 });
    expect(r.feed(encodeFrame(payload(64)))).toEqual([payload(64)]);
  });

  it("rejects negative sizes", () => {
    const r = new FrameReader();
    const err = catchProtocolError(() => r.feed(Buffer.from([0xff, 0xff, 0xff, 0xfe])));
    expect(err.code).toBe("NEGATIVE_LENGTH");
    expect(err.message).toContain("-2");
  });

  it("ignores empty chunks", () => {
    const r = new FrameReader();
    expect(r.feed(Buffer.alloc(0))).toEqual([]);
    expect(r.feed(encodeFrame(payload(2)))).toEqual([payload(2)]);
  });

  it("stays linear when a large frame arrives in many tiny chunks", () => {
    const r = new FrameReader();
    const big = payload(200_000);
    const bytes = encodeFrame(big);
    // Count bytes copied instead of timing (timings are noise on a shared machine): a linear reader
    // copies each payload byte about once; a quadratic one re-copies the growing buffer per chunk.
    const copy = vi.spyOn(Buffer.prototype, "copy");
    let out: Buffer[] = [];
    try {
      for (let i = 0; i < bytes.length; i += 3) out = out.concat(r.feed(bytes.subarray(i, i + 3)));
    } finally {
      copy.mockRestore();
    }
    expect(out).toHaveLength(1);
    expect(out[0]!.equals(big)).toBe(true);
    const copied = copy.mock.results.reduce(
      (n, res) => n + (res.type === "return" ? Number(res.value) : 0),
      0,
    );
    expect(copied).toBeLessThanOrEqual(3 * big.length);
  });

  it("property: any chunking of a frame stream yields the same frames (seeded)", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = prng(seed);
      const frames = Array.from({ length: 1 + Math.floor(rand() * 12) }, (_, i) =>
        payload(Math.floor(rand() ** 3 * 3000), seed * 31 + i),
      );
      const stream = Buffer.concat(frames.map(encodeFrame));
      const r = new FrameReader({ maxFrameSize: 3000 });
      const out: Buffer[] = [];
      let pos = 0;
      while (pos < stream.length) {
        // Mix tiny, medium and huge chunks, including chunks spanning several frames.
        const kind = rand();
        const size = kind < 0.3 ? 1 + Math.floor(rand() * 4) : kind < 0.8 ? Math.floor(rand() * 700) : 5000;
        out.push(...r.feed(stream.subarray(pos, pos + size)));
        pos += size;
      }
      expect(out.length, `seed ${seed}`).toBe(frames.length);
      out.forEach((f, i) => {
        expect(f.equals(frames[i]!), `seed ${seed} frame ${i}`).toBe(true);
      });
      expect(r.bufferedBytes).toBe(0);
    }
  });
});
