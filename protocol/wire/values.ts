/** Shared value helpers for generated codecs. */

/** The all-zero UUID, Kafka's default for uuid fields (Uuid.ZERO_UUID). */
export const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

/** Shared zero-length buffer for `bytes` defaults (a zero-length buffer cannot be mutated). */
export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

/** A tagged field the codec does not know, kept verbatim so decode→encode round trips hold. */
export interface TaggedField {
  tag: number;
  data: Buffer;
}

/**
 * Structural equality over codec values: primitives, bigint, Buffer, arrays and plain objects.
 * Used to decide whether a struct equals its default (tagged fields equal to their default are not
 * written; non-ignorable fields absent in a version must hold their default). Keys whose value is
 * `undefined` count as absent.
 */
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) {
    return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!valuesEqual(a[i], b[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const k of keys) {
    const av = ao[k];
    const bv = bo[k];
    if (k === "unknownTaggedFields") {
      if (
        (av === undefined || (av as unknown[]).length === 0) &&
        (bv === undefined || (bv as unknown[]).length === 0)
      )
        continue;
    }
    if (av === undefined || bv === undefined) {
      if (av !== bv) return false;
      continue;
    }
    if (!valuesEqual(av, bv)) return false;
  }
  return true;
}
