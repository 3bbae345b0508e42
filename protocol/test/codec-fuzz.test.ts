/**
 * Fuzzes the request and response decoders with random and mutated frames: only ProtocolError may
 * escape, and no decoder may allocate an array larger than the bytes it was given. Seeded
 * (CODEC_SEED), the seed is printed, and a failure names the iteration and frame.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ApiDefinition, apis } from "../generated/index.ts";
import { decodeRequestFrame, decodeResponseFrame, encodeRequestFrame } from "../messages.ts";
import { ProtocolError } from "../wire/errors.ts";
import { Reader } from "../wire/reader.ts";
import { Writer } from "../wire/writer.ts";
import { baseSeed, deriveSeed, Random, SchemaWalker } from "./support/random-values.ts";

const ITERATIONS = 100_000;
const MAX_FRAME = 4096;
const BASE_SEED = baseSeed();
console.log(`codec-fuzz: base seed ${BASE_SEED} (set CODEC_SEED to change)`);

interface Sample {
  kind: "request" | "response";
  api: ApiDefinition;
  version: number;
  /** Request: whole frame without size prefix. Response: header + body without size prefix. */
  frame: Buffer;
}

/** Valid frames for every API and version, each at most MAX_FRAME bytes. */
function buildCorpus(rnd: Random): Sample[] {
  const corpus: Sample[] = [];
  for (const api of Object.values(apis) as ApiDefinition[]) {
    const req = new SchemaWalker(api.requestSchema);
    const res = new SchemaWalker(api.responseSchema);
    for (let version = api.minVersion; version <= api.maxVersion; version++) {
      for (let attempt = 0; attempt < 20; attempt++) {
        const frame = encodeRequestFrame(
          { apiKey: api.apiKey, apiVersion: version, correlationId: rnd.int(0, 1000), clientId: "fuzz" },
          req.randomMessage(rnd, version),
        ).subarray(4);
        if (frame.length <= MAX_FRAME) {
          corpus.push({ kind: "request", api, version, frame: Buffer.from(frame) });
          break;
        }
      }
      for (let attempt = 0; attempt < 20; attempt++) {
        const w = new Writer();
        // Response header v0 is just the correlation id; v1 adds an empty tagged-field section.
        w.int32(rnd.int(0, 1000));
        if (api.responseHeaderVersion(version) >= 1) w.uvarint(0);
        api.encodeResponse(w, res.randomMessage(rnd, version), version);
        if (w.length <= MAX_FRAME) {
          corpus.push({ kind: "response", api, version, frame: Buffer.from(w.finish()) });
          break;
        }
      }
    }
  }
  return corpus;
}

const HOSTILE_INT32 = [0x7fffffff, -1, -2, 0x80000000 | 0, 0x10000, 0x00ffffff];

function mutate(rnd: Random, input: Buffer): Buffer {
  const b = Buffer.from(input);
  const op = rnd.int(0, 6);
  switch (op) {
    case 0: {
      // bit flips
      const flips = rnd.int(1, 8);
      for (let i = 0; i < flips && b.length > 0; i++) b[rnd.int(0, b.length - 1)]! ^= 1 << rnd.int(0, 7);
      return b;
    }
    case 1:
      return b.subarray(0, rnd.int(0, b.length)); // truncation
    case 2: {
      // a length or count field (anywhere) set to a huge or negative INT32
      if (b.length < 4) return b;
      b.writeInt32BE(rnd.pick(HOSTILE_INT32), rnd.int(0, b.length - 4));
      return b;
    }
    case 3: {
      // an INT16 length set to a huge or negative value
      if (b.length < 2) return b;
      b.writeInt16BE(rnd.pick([0x7fff, -1, -2, -32768]), rnd.int(0, b.length - 2));
      return b;
    }
    case 4: {
      // an oversized or overlong unsigned varint spliced in
      const at = rnd.int(0, b.length);
      const v = rnd.pick([
        [0xff, 0xff, 0xff, 0xff, 0x07],
        [0xff, 0xff, 0xff, 0xff, 0x0f],
        [0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        [0x80, 0x80, 0x80, 0x80, 0x80],
      ]);
      return Buffer.concat([
        b.subarray(0, at),
        Buffer.from(v),
        b.subarray(Math.min(b.length, at + v.length)),
      ]);
    }
    case 5: {
      // a run of random bytes
      if (b.length === 0) return b;
      const at = rnd.int(0, b.length - 1);
      rnd.bytes(Math.min(rnd.int(1, 16), b.length - at)).copy(b, at);
      return b;
    }
    default:
      return rnd.bytes(rnd.int(0, 256)); // pure noise
  }
}

// Instrument Reader.array (the only place decoders size an allocation from wire data) to prove that
// no array larger than the remaining input is ever created.
let largestArrayToRemaining = 0;
const originalArray = Reader.prototype.array;
beforeAll(() => {
  Reader.prototype.array = function <T>(this: Reader, count: number, read: (r: Reader) => T): T[] {
    if (count > this.remaining())
      throw new Error(`array of ${count} allocated with ${this.remaining()} bytes left`);
    if (count > 0) largestArrayToRemaining = Math.max(largestArrayToRemaining, count / this.remaining());
    return originalArray.call(this, count, read) as T[];
  };
});
afterAll(() => {
  Reader.prototype.array = originalArray;
});

describe("fuzz", () => {
  test(`${ITERATIONS} random and mutated frames: only ProtocolError escapes, allocations bounded`, () => {
    const rnd = new Random(deriveSeed(BASE_SEED, "fuzz"));
    const corpus = buildCorpus(rnd);
    expect(corpus.length).toBeGreaterThan(600);
    const codes = new Map<string, number>();
    let decodedOk = 0;
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < ITERATIONS; i++) {
      const sample = corpus[rnd.int(0, corpus.length - 1)]!;
      const frame = mutate(rnd, sample.frame);
      expect(frame.length).toBeLessThanOrEqual(MAX_FRAME + 8);
      try {
        if (sample.kind === "request") decodeRequestFrame(frame);
        else decodeResponseFrame(sample.api.apiKey, sample.version, frame);
        decodedOk++;
      } catch (e) {
        if (!(e instanceof ProtocolError)) {
          throw new Error(
            `iteration ${i} (seed ${BASE_SEED}): ${sample.kind} ${sample.api.name} v${sample.version} ` +
              `threw ${String(e)} for frame ${frame.toString("hex")}`,
          );
        }
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
    const growth = process.memoryUsage().arrayBuffers - arrayBuffersBefore;
    console.log(
      `codec-fuzz: ${ITERATIONS} frames, ${decodedOk} decoded, errors ${JSON.stringify(Object.fromEntries(codes))}, ` +
        `arrayBuffers growth ${(growth / 1024 / 1024).toFixed(1)} MiB, largest array/remaining ${largestArrayToRemaining.toFixed(2)}`,
    );
    expect(largestArrayToRemaining).toBeLessThanOrEqual(1);
    // Decoders return subarrays of the input and never copy: external memory stays flat.
    expect(growth).toBeLessThan(32 * 1024 * 1024);
    expect(codes.size).toBeGreaterThan(3);
  }, 60_000);
});

describe("bounds are checked before allocating", () => {
  const int32 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeInt32BE(v, 0);
    return b;
  };

  test("an INT32 array count of 2^31-1 with 4 bytes left throws ARRAY_TOO_LARGE", () => {
    expect(() => new Reader(int32(0x7fffffff)).arrayLength(1)).toThrow(
      expect.objectContaining({ code: "ARRAY_TOO_LARGE" }),
    );
  });

  test("a compact array count of 2^32-2 throws ARRAY_TOO_LARGE", () => {
    const r = new Reader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0]));
    expect(() => r.compactArrayLength(1)).toThrow(expect.objectContaining({ code: "ARRAY_TOO_LARGE" }));
  });

  test("element size is taken into account: 2 int64s do not fit in 12 bytes", () => {
    const b = Buffer.alloc(16);
    b.writeInt32BE(2, 0);
    expect(() => new Reader(b).arrayLength(8)).toThrow(expect.objectContaining({ code: "ARRAY_TOO_LARGE" }));
    b.writeInt32BE(1, 0);
    expect(new Reader(b).arrayLength(8)).toBe(1);
  });

  test("a Metadata request claiming 2^31-1 topics fails fast", () => {
    const w = new Writer();
    w.int32(0x7fffffff);
    expect(() => apis.Metadata.decodeRequest(new Reader(w.finish()), 4)).toThrow(
      expect.objectContaining({ code: "ARRAY_TOO_LARGE" }),
    );
  });

  test("string and bytes lengths beyond the input throw LENGTH_TOO_LARGE, negatives NEGATIVE_LENGTH", () => {
    const s = Buffer.from([0x7f, 0xff, 0x61]);
    expect(() => new Reader(s).string()).toThrow(expect.objectContaining({ code: "LENGTH_TOO_LARGE" }));
    expect(() => new Reader(int32(0x7fffffff)).bytesField()).toThrow(
      expect.objectContaining({ code: "LENGTH_TOO_LARGE" }),
    );
    expect(() => new Reader(int32(-5)).nullableBytes()).toThrow(
      expect.objectContaining({ code: "NEGATIVE_LENGTH" }),
    );
    expect(new Reader(int32(-1)).nullableBytes()).toBeNull();
    expect(() => new Reader(Buffer.from([0xff, 0xff])).string()).toThrow(
      expect.objectContaining({ code: "INVALID_VALUE" }),
    );
  });

  test("overlong varints throw VARINT_TOO_LONG, cut-off ones TRUNCATED", () => {
    expect(() => new Reader(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).uvarint()).toThrow(
      expect.objectContaining({ code: "VARINT_TOO_LONG" }),
    );
    expect(() => new Reader(Buffer.from([0x80, 0x80])).uvarint()).toThrow(
      expect.objectContaining({ code: "TRUNCATED" }),
    );
    expect(() => new Reader(Buffer.alloc(11, 0xff)).varlong()).toThrow(
      expect.objectContaining({ code: "VARINT_TOO_LONG" }),
    );
  });

  test("errors name the field and byte offset", () => {
    const w = new Writer();
    w.int32(1); // one topic
    w.int16(50); // name claims 50 bytes
    w.raw(Buffer.from("short"));
    try {
      apis.Metadata.decodeRequest(new Reader(w.finish()), 1);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).message).toMatch(/MetadataRequest\.MetadataRequestTopic\.name/);
      expect((e as ProtocolError).offset).toBe(6);
    }
  });
});

describe("varints and primitives", () => {
  test("zigzag varint and varlong round trip at the edges", () => {
    const ints = [0, 1, -1, 63, -64, 64, 300, -300, 2 ** 31 - 1, -(2 ** 31)];
    const longs = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 1234567890123n];
    const w = new Writer(4);
    for (const v of ints) w.varint(v);
    for (const v of longs) w.varlong(v);
    w.uvarint(0xffffffff).uuid("0123abcd-4567-89ef-0123-456789abcdef").float64(-0.5);
    const r = new Reader(w.finish());
    for (const v of ints) expect(r.varint()).toBe(v);
    for (const v of longs) expect(r.varlong()).toBe(v);
    expect(r.uvarint()).toBe(0xffffffff);
    expect(r.uuid()).toBe("0123abcd-4567-89ef-0123-456789abcdef");
    expect(r.float64()).toBe(-0.5);
    expect(r.remaining()).toBe(0);
  });

  test("varint encodings match Kafka's (zigzag: -1 → 0x01, 300 → 0xd8 0x04)", () => {
    expect(new Writer().varint(-1).finish()).toEqual(Buffer.from([0x01]));
    expect(new Writer().varint(300).finish()).toEqual(Buffer.from([0xd8, 0x04]));
    expect(new Writer().uvarint(300).finish()).toEqual(Buffer.from([0xac, 0x02]));
  });

  test("writer rejects out-of-range values with INVALID_VALUE", () => {
    expect(() => new Writer().int16(40000)).toThrow(expect.objectContaining({ code: "INVALID_VALUE" }));
    expect(() => new Writer().uuid("not-a-uuid")).toThrow(expect.objectContaining({ code: "INVALID_VALUE" }));
    expect(() => new Writer().string("x".repeat(40000))).toThrow(
      expect.objectContaining({ code: "INVALID_VALUE" }),
    );
  });
});
