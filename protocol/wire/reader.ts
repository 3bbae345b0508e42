import { ProtocolError, type ProtocolErrorCode } from "./errors.ts";
import type { TaggedField } from "./values.ts";

/** Bytes of a UUID on the wire. */
const UUID_SIZE = 16;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A bounds-checked cursor over a Buffer, reading Kafka's primitive types (big-endian integers,
 * zigzag and unsigned varints, length-prefixed and compact strings/bytes, UUIDs).
 *
 * Safety contract: every length or element count is checked against the bytes that remain BEFORE
 * anything is allocated, so a hostile frame can never make the decoder allocate more than the frame
 * itself. Byte strings are returned as subarrays of the input (no copy).
 *
 * `field` is a dotted path the generated decoders set before each field; it only decorates errors.
 */
export class Reader {
  readonly buf: Buffer;
  offset: number;
  readonly end: number;
  field = "";

  constructor(buf: Buffer, offset = 0, end: number = buf.length) {
    if (offset < 0 || end > buf.length || offset > end) {
      throw new RangeError(`Reader bounds [${offset}, ${end}) outside buffer of ${buf.length} bytes`);
    }
    this.buf = buf;
    this.offset = offset;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.offset;
  }

  /** Throws a ProtocolError carrying the current field path and offset. */
  fail(code: ProtocolErrorCode, detail: string, offset: number = this.offset): never {
    throw new ProtocolError(code, detail, { offset, field: this.field || undefined });
  }

  /** Ensures `n` more bytes are available. */
  need(n: number): void {
    if (n > this.end - this.offset) {
      this.fail("TRUNCATED", `need ${n} bytes but only ${this.end - this.offset} remain`);
    }
  }

  // ---- fixed-width integers ------------------------------------------------------------------

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.offset++);
  }

  uint8(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  float64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.offset);
    this.offset += 8;
    return v;
  }

  /** Kafka treats any non-zero byte as true. */
  bool(): boolean {
    return this.uint8() !== 0;
  }

  // ---- varints -------------------------------------------------------------------------------

  /** Unsigned LEB128 varint of at most 5 bytes (a Java int; values above 2^31-1 are kept unsigned). */
  uvarint(): number {
    const start = this.offset;
    let result = 0;
    for (let i = 0; i < 5; i++) {
      if (this.offset >= this.end) this.fail("TRUNCATED", "varint runs past the end of the buffer", start);
      const b = this.buf[this.offset++]!;
      if (i === 4 && b > 0x0f) this.fail("VARINT_TOO_LONG", "unsigned varint exceeds 32 bits", start);
      result += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return result;
    }
    return this.fail("VARINT_TOO_LONG", "varint longer than 5 bytes", start);
  }

  /** Zigzag-encoded signed 32-bit varint. */
  varint(): number {
    const u = this.uvarint();
    // Zigzag decode on the unsigned 32-bit value: (u >>> 1) ^ -(u & 1).
    return ((u >>> 1) ^ -(u & 1)) | 0;
  }

  /** Unsigned LEB128 varint of at most 10 bytes, as a bigint. */
  uvarlong(): bigint {
    const start = this.offset;
    // Accumulate in two 35-bit-safe number halves to avoid bigint work per byte.
    let low = 0;
    let high = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.offset >= this.end) this.fail("TRUNCATED", "varlong runs past the end of the buffer", start);
      const b = this.buf[this.offset++]!;
      if (i === 9 && b > 0x01) this.fail("VARINT_TOO_LONG", "unsigned varlong exceeds 64 bits", start);
      if (i < 7) low += (b & 0x7f) * 2 ** (7 * i);
      else high |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return BigInt(low) | high;
    }
    return this.fail("VARINT_TOO_LONG", "varlong longer than 10 bytes", start);
  }

  /** Zigzag-encoded signed 64-bit varint. */
  varlong(): bigint {
    const u = this.uvarlong();
    return BigInt.asIntN(64, (u >> 1n) ^ -(u & 1n));
  }

  // ---- byte strings --------------------------------------------------------------------------

  /** `n` raw bytes as a subarray of the input (no copy). */
  bytes(n: number): Buffer {
    if (n < 0) this.fail("NEGATIVE_LENGTH", `negative length ${n}`);
    if (n > this.end - this.offset) {
      this.fail("LENGTH_TOO_LARGE", `length ${n} exceeds the ${this.end - this.offset} bytes remaining`);
    }
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Everything up to `end`, as a subarray. */
  rest(): Buffer {
    return this.bytes(this.end - this.offset);
  }

  uuid(): string {
    this.need(UUID_SIZE);
    const b = this.buf;
    const o = this.offset;
    this.offset += UUID_SIZE;
    let s = "";
    for (let i = 0; i < UUID_SIZE; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
      s += HEX[b[o + i]!];
    }
    return s;
  }

  /** Reads a length that may be -1 (null); other negatives are errors. */
  private nullableLength(n: number): number {
    if (n < -1) this.fail("NEGATIVE_LENGTH", `invalid length ${n}`);
    return n;
  }

  private nonNullLength(n: number, what: string): number {
    if (n === -1) this.fail("INVALID_VALUE", `non-nullable ${what} was null`);
    if (n < 0) this.fail("NEGATIVE_LENGTH", `invalid length ${n}`);
    return n;
  }

  private utf8(n: number): string {
    return this.bytes(n).toString("utf8");
  }

  /** INT16 length + UTF-8; null (-1) is rejected. */
  string(): string {
    return this.utf8(this.nonNullLength(this.int16(), "string"));
  }

  nullableString(): string | null {
    const n = this.nullableLength(this.int16());
    return n === -1 ? null : this.utf8(n);
  }

  /** Unsigned varint (length + 1) + UTF-8; null (0) is rejected. */
  compactString(): string {
    return this.utf8(this.nonNullLength(this.uvarint() - 1, "compact string"));
  }

  compactNullableString(): string | null {
    const n = this.uvarint() - 1;
    return n === -1 ? null : this.utf8(n);
  }

  /** INT32 length + bytes; null (-1) is rejected. */
  bytesField(): Buffer {
    return this.bytes(this.nonNullLength(this.int32(), "bytes"));
  }

  nullableBytes(): Buffer | null {
    const n = this.nullableLength(this.int32());
    return n === -1 ? null : this.bytes(n);
  }

  compactBytes(): Buffer {
    return this.bytes(this.nonNullLength(this.uvarint() - 1, "compact bytes"));
  }

  compactNullableBytes(): Buffer | null {
    const n = this.uvarint() - 1;
    return n === -1 ? null : this.bytes(n);
  }

  // ---- arrays --------------------------------------------------------------------------------

  /**
   * Validates an element count against the remaining bytes, given the smallest possible encoded
   * size of one element (at least 1 byte is assumed so even zero-sized elements are bounded).
   */
  checkCount(count: number, minElementSize: number, start: number): number {
    const per = Math.max(1, minElementSize);
    if (count * per > this.end - this.offset) {
      this.fail(
        "ARRAY_TOO_LARGE",
        `array of ${count} elements (>= ${per} bytes each) cannot fit in the ${this.end - this.offset} bytes remaining`,
        start,
      );
    }
    return count;
  }

  /** INT32 count, -1 = null. Returns the count or -1. */
  arrayLength(minElementSize = 1): number {
    const start = this.offset;
    const n = this.nullableLength(this.int32());
    return n === -1 ? -1 : this.checkCount(n, minElementSize, start);
  }

  /** Unsigned varint (count + 1), 0 = null. Returns the count or -1. */
  compactArrayLength(minElementSize = 1): number {
    const start = this.offset;
    const n = this.uvarint() - 1;
    return n === -1 ? -1 : this.checkCount(n, minElementSize, start);
  }

  /** Reads `count` elements with `read`; the count must already be validated. */
  array<T>(count: number, read: (r: Reader) => T): T[] {
    const out: T[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = read(this);
    return out;
  }

  /**
   * Reads an array whose encoding depends on the flexible-version flag: compact (uvarint count+1)
   * when flexible, INT32 count otherwise. Returns null for a null array. `minElementSize` is the
   * smallest encoded size of one element, used to reject impossible counts before allocating.
   */
  arrayOf<T>(flexible: boolean, minElementSize: number, read: (r: Reader) => T): T[] | null {
    const n = flexible ? this.compactArrayLength(minElementSize) : this.arrayLength(minElementSize);
    return n === -1 ? null : this.array(n, read);
  }

  // ---- nullability and tagged fields ---------------------------------------------------------

  /** Rejects a null where the spec does not allow one (Kafka: "non-nullable field was serialized as null"). */
  nonNull<T>(value: T | null): T {
    if (value === null) this.fail("INVALID_VALUE", "non-nullable field was serialized as null");
    return value;
  }

  /** Like nonNull, but only when `allowNull` is false (nullability that depends on the version). */
  checkNull<T>(value: T | null, allowNull: boolean): T | null {
    if (value === null && !allowNull) this.fail("INVALID_VALUE", "non-nullable field was serialized as null");
    return value;
  }

  /** A reader over the next `n` bytes, advancing this reader past them. */
  sub(n: number): Reader {
    const start = this.offset;
    this.bytes(n);
    const r = new Reader(this.buf, start, this.offset);
    r.field = this.field;
    return r;
  }

  /**
   * Reads a tagged-field section (uvarint count, then per field: uvarint tag, uvarint size, data).
   * `known` decodes a tag it recognises from a reader bounded to the field's bytes and returns
   * true; anything else is kept verbatim and returned, or undefined when there were none.
   */
  taggedFields(known?: (tag: number, r: Reader) => boolean): TaggedField[] | undefined {
    const start = this.offset;
    const count = this.uvarint();
    // Each tagged field needs at least a tag byte and a size byte.
    this.checkCount(count, 2, start);
    let unknown: TaggedField[] | undefined;
    for (let i = 0; i < count; i++) {
      const tag = this.uvarint();
      const size = this.uvarint();
      const fieldReader = this.sub(size);
      if (known?.(tag, fieldReader)) continue;
      unknown ??= [];
      unknown.push({ tag, data: fieldReader.buf.subarray(fieldReader.offset, fieldReader.end) });
    }
    return unknown;
  }
}
