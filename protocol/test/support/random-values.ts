/**
 * Seeded random values for codec tests, driven by the generated MessageSchema descriptors, plus an
 * independent implementation of Kafka's default rules used to normalise expected values.
 */
import type { FieldSchema, MessageSchema } from "../../wire/schema.ts";
import type { TaggedField } from "../../wire/values.ts";

/** mulberry32: a tiny, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seed for a run: CODEC_SEED from the environment, else a fixed default so CI is reproducible. */
export function baseSeed(): number {
  const env = process.env.CODEC_SEED;
  return env ? Number(env) >>> 0 : 0x6a09e667;
}

/** Derives a per-case seed from the base seed and a label (FNV-1a). */
export function deriveSeed(base: number, label: string): number {
  let h = 0x811c9dc5 ^ base;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Random {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
  bigint64(): bigint {
    if (this.chance(0.2)) return this.pick([0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 1n]);
    return BigInt.asIntN(64, (BigInt(this.int(0, 0xffffffff)) << 32n) | BigInt(this.int(0, 0xffffffff)));
  }
}

// ---- version ranges --------------------------------------------------------------------------

export function inVersions(spec: string | undefined, v: number): boolean {
  if (spec === undefined || spec === "none") return false;
  if (spec.endsWith("+")) return v >= Number(spec.slice(0, -1));
  const dash = spec.indexOf("-");
  if (dash > 0) return v >= Number(spec.slice(0, dash)) && v <= Number(spec.slice(dash + 1));
  return v === Number(spec);
}

export function versionList(spec: string): number[] {
  const dash = spec.indexOf("-");
  const min = Number(dash > 0 ? spec.slice(0, dash) : spec);
  const max = dash > 0 ? Number(spec.slice(dash + 1)) : min;
  return Array.from({ length: max - min + 1 }, (_, i) => min + i);
}

// ---- schema walking --------------------------------------------------------------------------

const UNICODE_SAMPLES = [
  "topic",
  "",
  "é",
  "日本語",
  "emoji 🎉",
  "Ωmega",
  "a-b_c.d",
  "x".repeat(40),
  "\u0000nul",
];

export class SchemaWalker {
  private readonly structs = new Map<string, FieldSchema[]>();

  constructor(readonly schema: MessageSchema) {
    const visit = (fields: FieldSchema[]) => {
      for (const f of fields) {
        if (f.fields) {
          this.structs.set(f.type.replace(/^\[\]/, ""), f.fields);
          visit(f.fields);
        }
      }
    };
    for (const c of schema.commonStructs) {
      this.structs.set(c.name, c.fields);
      visit(c.fields);
    }
    visit(schema.fields);
  }

  fieldsOf(structType: string): FieldSchema[] {
    const f = this.structs.get(structType);
    if (!f) throw new Error(`${this.schema.name}: unknown struct ${structType}`);
    return f;
  }

  isFlexible(v: number, f?: FieldSchema): boolean {
    return inVersions(f?.flexibleVersions ?? this.schema.flexibleVersions, v);
  }

  // ---- defaults (Kafka's rules, implemented independently of the generator) -----------------

  defaultOf(f: FieldSchema): unknown {
    const d = f.default;
    const t = f.type;
    if (d === "null") return null;
    if (t.startsWith("[]")) return [];
    switch (t) {
      case "bool":
        return d !== undefined && String(d).toLowerCase() === "true";
      case "int8":
      case "int16":
      case "int32":
      case "uint16":
      case "uint32":
      case "float64":
        return d === undefined || d === "" ? 0 : Number(d);
      case "int64":
        return d === undefined || d === "" ? 0n : BigInt(d);
      case "string":
        return d === undefined ? "" : String(d);
      case "uuid":
        return "00000000-0000-0000-0000-000000000000";
      case "bytes":
        return Buffer.alloc(0);
      case "records":
        return null;
      default:
        return this.defaultStruct(t);
    }
  }

  defaultStruct(structType: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of this.fieldsOf(structType)) out[f.prop] = this.defaultOf(f);
    return out;
  }

  /**
   * What a decoder at version `v` must return for `value`: fields absent in `v` (or left undefined)
   * hold their defaults, recursively.
   */
  normalise(fields: FieldSchema[], value: Record<string, unknown>, v: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      const x = value[f.prop];
      if (!inVersions(f.versions, v) || x === undefined) {
        out[f.prop] = this.defaultOf(f);
        continue;
      }
      out[f.prop] = this.normaliseValue(f.type, x, v);
    }
    const unknown = value.unknownTaggedFields as TaggedField[] | undefined;
    if (unknown && unknown.length > 0 && this.isFlexible(v)) out.unknownTaggedFields = unknown;
    return out;
  }

  private normaliseValue(type: string, x: unknown, v: number): unknown {
    if (x === null) return null;
    if (type.startsWith("[]")) return (x as unknown[]).map((e) => this.normaliseValue(type.slice(2), e, v));
    if (this.structs.has(type)) return this.normalise(this.fieldsOf(type), x as Record<string, unknown>, v);
    return x;
  }

  // ---- random values ------------------------------------------------------------------------

  randomMessage(rnd: Random, v: number): Record<string, unknown> {
    return this.randomStruct(this.schema.fields, rnd, v, 0);
  }

  randomStruct(fields: FieldSchema[], rnd: Random, v: number, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      if (!inVersions(f.versions, v)) continue; // absent in this version: leave undefined
      if (inVersions(f.taggedVersions, v) && rnd.chance(0.35)) continue; // tagged and not sent
      if (inVersions(f.nullableVersions, v) && rnd.chance(0.2)) {
        out[f.prop] = null;
        continue;
      }
      out[f.prop] = this.randomValue(f, f.type, rnd, v, depth);
    }
    if (this.isFlexible(v) && rnd.chance(0.2)) out.unknownTaggedFields = this.randomUnknownTags(rnd);
    return out;
  }

  private randomUnknownTags(rnd: Random): TaggedField[] {
    // Known tags in the specs are small; 100+ never collides.
    const tags = new Set<number>();
    const n = rnd.int(1, 3);
    while (tags.size < n) tags.add(rnd.int(100, 100_000));
    return [...tags].sort((a, b) => a - b).map((tag) => ({ tag, data: rnd.bytes(rnd.int(0, 12)) }));
  }

  private randomValue(f: FieldSchema, type: string, rnd: Random, v: number, depth: number): unknown {
    if (type.startsWith("[]")) {
      const element = type.slice(2);
      const isStruct = this.structs.has(element);
      const roll = rnd.next();
      let n: number;
      if (roll < 0.2) n = 0;
      else if (roll < 0.9) n = rnd.int(1, 3);
      else n = isStruct ? (depth === 0 ? rnd.int(8, 24) : rnd.int(2, 5)) : rnd.int(100, 600);
      if (depth >= 3) n = Math.min(n, 2);
      return Array.from({ length: n }, () => this.randomValue(f, element, rnd, v, depth + 1));
    }
    switch (type) {
      case "bool":
        return rnd.chance(0.5);
      case "int8":
        return rnd.int(-128, 127);
      case "int16":
        return rnd.int(-32768, 32767);
      case "uint16":
        return rnd.int(0, 65535);
      case "int32":
        return rnd.chance(0.1)
          ? rnd.pick([-2147483648, 2147483647, -1, 0])
          : rnd.int(-2147483648, 2147483647);
      case "uint32":
        return rnd.int(0, 0xffffffff);
      case "int64":
        return rnd.bigint64();
      case "float64":
        return rnd.pick([0, -1.5, Math.PI, 1e300, -Number.MIN_VALUE, rnd.next() * 1e6]);
      case "string": {
        if (rnd.chance(0.05)) return "s".repeat(rnd.int(200, 2000));
        const parts = rnd.int(1, 3);
        let s = "";
        for (let i = 0; i < parts; i++) s += rnd.pick(UNICODE_SAMPLES);
        return s;
      }
      case "uuid":
        return rnd.chance(0.1) ? "00000000-0000-0000-0000-000000000000" : formatUuid(rnd.bytes(16));
      case "bytes":
        return rnd.bytes(rnd.chance(0.1) ? rnd.int(500, 3000) : rnd.int(0, 40));
      case "records":
        return rnd.bytes(rnd.chance(0.1) ? rnd.int(1000, 5000) : rnd.int(0, 100));
      default:
        return this.randomStruct(this.fieldsOf(type), rnd, v, depth + 1);
    }
  }
}

export function formatUuid(b: Buffer): string {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
