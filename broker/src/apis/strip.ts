/**
 * Removes response fields that do not exist in the negotiated version, using the generated message
 * schemas, so a handler may build one shape for all versions and the encoder never sees a
 * non-default value it cannot write (it would reject it, as Kafka's generated code does).
 */
import * as generated from "../../../protocol/generated/index.ts";
import type { FieldSchema, MessageSchema } from "../../../protocol/wire/schema.ts";

function inRange(spec: string | undefined, version: number): boolean {
  if (spec === undefined || spec === "none") return false;
  if (spec.endsWith("+")) return version >= Number(spec.slice(0, -1));
  const dash = spec.indexOf("-");
  if (dash < 0) return version === Number(spec);
  return version >= Number(spec.slice(0, dash)) && version <= Number(spec.slice(dash + 1));
}

type StructIndex = Map<string, FieldSchema[]>;

function stripStruct(
  fields: FieldSchema[],
  obj: Record<string, unknown>,
  version: number,
  structs: StructIndex,
): void {
  for (const f of fields) {
    const value = obj[f.prop];
    if (value === undefined) continue;
    if (!inRange(f.versions, version)) {
      delete obj[f.prop];
      continue;
    }
    if (value === null || typeof value !== "object" || Buffer.isBuffer(value)) continue;
    const elemType = f.type.startsWith("[]") ? f.type.slice(2) : f.type;
    const sub = f.fields ?? structs.get(elemType);
    if (!sub) continue;
    if (Array.isArray(value)) {
      for (const e of value)
        if (e !== null && typeof e === "object")
          stripStruct(sub, e as Record<string, unknown>, version, structs);
    } else {
      stripStruct(sub, value as Record<string, unknown>, version, structs);
    }
  }
}

const schemasByName = new Map<string, MessageSchema>();
for (const value of Object.values(generated)) {
  const v = value as Partial<MessageSchema> | undefined;
  if (
    v &&
    typeof v === "object" &&
    typeof v.name === "string" &&
    Array.isArray(v.fields) &&
    typeof v.validVersions === "string"
  ) {
    schemasByName.set(v.name, v as MessageSchema);
  }
}
const structIndexes = new Map<string, StructIndex>();

/** Strips, in place, the fields of `body` (a `${apiName}Response`) absent in `version`. */
export function stripResponse(apiName: string, body: unknown, version: number): void {
  const schema = schemasByName.get(`${apiName}Response`);
  if (!schema || body === null || typeof body !== "object") return;
  let structs = structIndexes.get(schema.name);
  if (!structs) {
    structs = new Map(schema.commonStructs.map((s) => [s.name, s.fields]));
    structIndexes.set(schema.name, structs);
  }
  stripStruct(schema.fields, body as Record<string, unknown>, version, structs);
}
