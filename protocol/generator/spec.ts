/**
 * Loads Apache Kafka message specs (JSON with comments) into a typed model the emitter walks.
 * Pure apart from `loadSpecDir`, which reads the directory.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FieldSchema, MessageSchema } from "../wire/schema.ts";

export const PRIMITIVES = [
  "bool",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint16",
  "uint32",
  "float64",
  "string",
  "bytes",
  "records",
  "uuid",
] as const;
export type Primitive = (typeof PRIMITIVES)[number];

export function isPrimitive(t: string): t is Primitive {
  return (PRIMITIVES as readonly string[]).includes(t);
}

/** An inclusive version range; `max` is Infinity for open ranges such as "3+". */
export interface Range {
  min: number;
  max: number;
}

/** Parses "none", "3", "3+", "3-5". Returns null for "none". */
export function parseVersions(s: string | undefined): Range | null {
  if (s === undefined || s === "none" || s === "") return null;
  const open = /^(\d+)\+$/.exec(s);
  if (open) return { min: Number(open[1]), max: Number.POSITIVE_INFINITY };
  const closed = /^(\d+)-(\d+)$/.exec(s);
  if (closed) return { min: Number(closed[1]), max: Number(closed[2]) };
  if (/^\d+$/.test(s)) return { min: Number(s), max: Number(s) };
  throw new Error(`unparseable version range "${s}"`);
}

export function intersect(a: Range | null, b: Range | null): Range | null {
  if (!a || !b) return null;
  const min = Math.max(a.min, b.min);
  const max = Math.min(a.max, b.max);
  return min <= max ? { min, max } : null;
}

/** Smallest range holding both (used for the versions in which a shared struct is reachable). */
export function hull(a: Range | null, b: Range | null): Range | null {
  if (!a) return b;
  if (!b) return a;
  return { min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) };
}

export function covers(outer: Range | null, inner: Range | null): boolean {
  if (!inner) return true;
  if (!outer) return false;
  return outer.min <= inner.min && outer.max >= inner.max;
}

export type TypeModel =
  | { kind: "primitive"; name: Primitive }
  | { kind: "array"; element: TypeModel }
  | { kind: "struct"; name: string };

export interface FieldModel {
  specName: string;
  prop: string;
  typeText: string;
  type: TypeModel;
  versions: Range | null;
  nullable: Range | null;
  tagged: Range | null;
  tag: number | null;
  ignorable: boolean;
  mapKey: boolean;
  /** Field-level flexible override; undefined means "use the message's". */
  flexibleOverride: Range | null | undefined;
  defaultRaw: string | number | boolean | undefined;
  schema: FieldSchema;
}

export interface StructModel {
  name: string;
  fields: FieldModel[];
  /** Versions in which this struct can appear (hull over its uses). */
  reachable: Range | null;
}

export interface MessageModel {
  name: string;
  type: MessageSchema["type"];
  apiKey: number | null;
  valid: Range;
  flexible: Range | null;
  latestVersionUnstable: boolean;
  /** The message's own top-level struct is `structs.get(name)`. */
  structs: Map<string, StructModel>;
  schema: MessageSchema;
  fileBase: string;
}

interface RawField {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number | string;
  ignorable?: boolean;
  mapKey?: boolean;
  flexibleVersions?: string;
  default?: string | number | boolean;
  fields?: RawField[];
}

interface RawSpec {
  apiKey?: number;
  type: MessageSchema["type"];
  name: string;
  validVersions: string;
  flexibleVersions: string;
  latestVersionUnstable?: boolean;
  fields: RawField[];
  commonStructs?: { name: string; versions: string; fields: RawField[] }[];
}

/** Removes `//` and `/* *\/` comments outside string literals (the specs use Jackson's comment mode). */
export function stripJsonComments(text: string): string {
  let out = "";
  let i = 0;
  let inString = false;
  while (i < text.length) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === "\\") {
        out += text[i + 1] ?? "";
        i += 2;
        continue;
      }
      if (c === '"') inString = false;
      i++;
    } else if (c === '"') {
      inString = true;
      out += c;
      i++;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** `TopicData` → `topicData`, `timeoutMs` stays. */
export function camelCase(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** `ProduceRequest` → `produce-request`, `KRaftVersionRecord` → `k-raft-version-record`. */
export function kebabCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1-$2")
    .toLowerCase();
}

function parseType(text: string): TypeModel {
  if (text.startsWith("[]")) return { kind: "array", element: parseType(text.slice(2)) };
  if (isPrimitive(text)) return { kind: "primitive", name: text };
  return { kind: "struct", name: text };
}

export function structNameOf(t: TypeModel): string | null {
  if (t.kind === "struct") return t.name;
  if (t.kind === "array") return structNameOf(t.element);
  return null;
}

function toFieldSchema(f: RawField): FieldSchema {
  const s: FieldSchema = { name: f.name, prop: camelCase(f.name), type: f.type, versions: f.versions };
  if (f.nullableVersions !== undefined) s.nullableVersions = f.nullableVersions;
  if (f.taggedVersions !== undefined) s.taggedVersions = f.taggedVersions;
  if (f.tag !== undefined) s.tag = Number(f.tag);
  if (f.ignorable) s.ignorable = true;
  if (f.mapKey) s.mapKey = true;
  if (f.flexibleVersions !== undefined) s.flexibleVersions = f.flexibleVersions;
  if (f.default !== undefined) s.default = f.default;
  if (f.fields) s.fields = f.fields.map(toFieldSchema);
  return s;
}

function toFieldModel(f: RawField, schema: FieldSchema): FieldModel {
  return {
    specName: f.name,
    prop: camelCase(f.name),
    typeText: f.type,
    type: parseType(f.type),
    versions: parseVersions(f.versions),
    nullable: parseVersions(f.nullableVersions),
    tagged: parseVersions(f.taggedVersions),
    tag: f.tag === undefined ? null : Number(f.tag),
    ignorable: f.ignorable === true,
    mapKey: f.mapKey === true,
    flexibleOverride: f.flexibleVersions === undefined ? undefined : parseVersions(f.flexibleVersions),
    defaultRaw: f.default,
    schema,
  };
}

export function buildModel(raw: RawSpec, fileBase: string): MessageModel {
  const valid = parseVersions(raw.validVersions);
  if (!valid) throw new Error(`${raw.name}: no valid versions`);
  const schema: MessageSchema = {
    name: raw.name,
    type: raw.type,
    validVersions: raw.validVersions,
    flexibleVersions: raw.flexibleVersions,
    fields: raw.fields.map(toFieldSchema),
    commonStructs: (raw.commonStructs ?? []).map((c) => ({
      name: c.name,
      versions: c.versions,
      fields: c.fields.map(toFieldSchema),
    })),
  };
  if (raw.apiKey !== undefined) schema.apiKey = raw.apiKey;

  // Collect every struct definition: the message itself, inline structs, common structs.
  const definitions = new Map<string, { raw: RawField[]; schema: FieldSchema[] }>();
  const define = (name: string, fields: RawField[], fieldSchemas: FieldSchema[]) => {
    if (definitions.has(name)) throw new Error(`${raw.name}: struct ${name} defined twice`);
    definitions.set(name, { raw: fields, schema: fieldSchemas });
    fields.forEach((f, i) => {
      if (f.fields) {
        const sn = structNameOf(parseType(f.type));
        if (!sn) throw new Error(`${raw.name}.${f.name}: fields on a non-struct type`);
        define(sn, f.fields, fieldSchemas[i]!.fields!);
      }
    });
  };
  define(raw.name, raw.fields, schema.fields);
  (raw.commonStructs ?? []).forEach((c, i) => {
    define(c.name, c.fields, schema.commonStructs[i]!.fields);
  });

  const structs = new Map<string, StructModel>();
  for (const [name, def] of definitions) {
    structs.set(name, {
      name,
      fields: def.raw.map((f, i) => toFieldModel(f, def.schema[i]!)),
      reachable: null,
    });
  }

  // Reachable versions: walk from the top-level struct, a struct is reachable where its field is.
  const visit = (structName: string, within: Range | null) => {
    const s = structs.get(structName);
    if (!s) throw new Error(`${raw.name}: unknown struct type ${structName}`);
    const before = s.reachable;
    s.reachable = hull(s.reachable, within);
    if (before && s.reachable && before.min === s.reachable.min && before.max === s.reachable.max) return;
    for (const f of s.fields) {
      const child = structNameOf(f.type);
      const r = intersect(f.versions, within);
      if (child && r) visit(child, r);
    }
  };
  visit(raw.name, valid);

  return {
    name: raw.name,
    type: raw.type,
    apiKey: raw.apiKey ?? null,
    valid,
    flexible: parseVersions(raw.flexibleVersions),
    latestVersionUnstable: raw.latestVersionUnstable === true,
    structs,
    schema,
    fileBase,
  };
}

export function parseSpec(text: string, fileBase: string): MessageModel {
  return buildModel(JSON.parse(stripJsonComments(text)) as RawSpec, fileBase);
}

/** Loads every `*.json` spec in `dir`, sorted by file name. */
export function loadSpecDir(dir: string): MessageModel[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => parseSpec(readFileSync(join(dir, f), "utf8"), kebabCase(f.replace(/\.json$/, ""))));
}
