// Seeded randomness for the harness. Every random choice in a run derives from one printed seed, so a
// failing run can be replayed exactly with `--seed N`.
//
// The generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator: 128-bit state, passes
// PractRand, cheap in 32-bit JS arithmetic). Its state is filled from the seed through a splitmix32-style
// mixer, so nearby seeds (1, 2, 3...) give unrelated streams.
import { randomBytes } from "node:crypto";

/** Largest accepted seed: seeds are non-negative safe integers (53 bits), so they print and parse exactly. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_53 = 2 ** 53;

/** Murmur3's 32-bit finaliser: a bijection on 32-bit words with good avalanche. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A splitmix32-style stream: a Weyl sequence passed through mix32. */
function splitmix32(state: number): () => number {
  return () => {
    state = (state + 0x9e3779b9) | 0;
    return mix32(state);
  };
}

/** FNV-1a over UTF-16 code units with a caller-chosen basis, for hashing fork labels. */
function fnv1a(text: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

function assertSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`Invalid seed ${seed}: expected a whole number from 0 to ${MAX_SEED}.`);
  }
}

/** Derives a child seed from a parent seed and a label; depends on nothing else. */
export function deriveSeed(seed: number, label: string): number {
  assertSeed(seed);
  const lo = (seed % TWO_POW_32) >>> 0;
  const hi = Math.floor(seed / TWO_POW_32) >>> 0;
  const a = mix32(lo ^ fnv1a(label, 0x811c9dc5));
  const b = mix32(hi ^ mix32(a) ^ fnv1a(label, 0x050c5d1f));
  return (b & 0x1f_ffff) * TWO_POW_32 + a;
}

export class SeededRandom {
  /** The seed this stream was built from; `new SeededRandom(r.seed)` replays it from the start. */
  readonly seed: number;
  /** Human-readable derivation path, e.g. `42/workload/producer-1`, for logs. */
  readonly path: string;
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, path: string = String(seed)) {
    assertSeed(seed);
    this.seed = seed;
    this.path = path;
    const lo = (seed % TWO_POW_32) >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    // Two independent mixers, one per half of the seed: the first outputs are bijections of lo and hi,
    // so distinct seeds never collide on the initial state.
    const fromLo = splitmix32(lo);
    const fromHi = splitmix32(hi ^ 0x6a09e667);
    this.a = fromLo();
    this.b = fromHi();
    this.c = fromLo() ^ fromHi();
    this.d = fromLo() ^ fromHi();
    // Warm-up rounds recommended for sfc32 so the first outputs are well mixed.
    for (let i = 0; i < 15; i++) this.nextUint32();
  }

  /** One raw 32-bit output of sfc32. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1) with the full 53 bits of precision (two 32-bit draws). */
  next(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67_108_864 + low) / TWO_POW_53;
  }

  /** An integer in [lo, hi], both ends inclusive. */
  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi) {
      throw new RangeError(`int(${lo}, ${hi}): expected safe integers with lo <= hi.`);
    }
    const span = hi - lo + 1;
    if (!Number.isSafeInteger(span)) throw new RangeError(`int(${lo}, ${hi}): range is wider than 2^53.`);
    return lo + Math.floor(this.next() * span);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick() needs a non-empty array.");
    return items[this.int(0, items.length - 1)];
  }

  /** A shuffled copy (Fisher-Yates); the input is not modified. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = out[i];
      out[i] = out[j];
      out[j] = tmp;
    }
    return out;
  }

  /**
   * A child stream derived from this stream's seed and `label` only, not from how much of this stream
   * has been consumed. Adding a random draw in one component therefore never shifts another
   * component's choices. The same label always gives the same child.
   */
  fork(label: string): SeededRandom {
    return new SeededRandom(deriveSeed(this.seed, label), `${this.path}/${label}`);
  }
}

/** Parses a seed given on a command line or in an environment variable (decimal or 0x-hex). */
export function parseSeed(text: string): number {
  const trimmed = text.trim();
  const valid = /^[0-9]+$/.test(trimmed) || /^0x[0-9a-f]+$/i.test(trimmed);
  const value = valid ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Invalid seed "${text}": expected a whole number from 0 to ${MAX_SEED} (decimal, or hex starting with 0x).`,
    );
  }
  return value;
}

/** A fresh seed from the operating system's CSPRNG, for runs where no seed was given. */
export function newSeed(): number {
  const bytes = randomBytes(8);
  return (bytes.readUInt32BE(0) & 0x1f_ffff) * TWO_POW_32 + bytes.readUInt32BE(4);
}
