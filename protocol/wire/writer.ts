import { ProtocolError } from "./errors.ts";
import type { TaggedField } from "./values.ts";

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * A growable big-endian buffer writer for Kafka's primitive types, the mirror of Reader.
 * Methods return `this` so calls can be chained. `finish()` returns a copy-free view of the bytes
 * written so far (a subarray of the internal buffer): do not keep writing after calling it if the
 * result must stay stable.
 *
 * `field` is a dotted path the generated encoders may set; it only decorates errors.
 *
 * With `shareBytesFrom`, byte strings at least that long (record batches in a Fetch response) are not
 * copied: the writer keeps a list of parts (what it wrote, then the caller's buffer, …) and
 * `finishParts()` returns them for one vectored socket write. Positions (reserveInt32, setInt32At)
 * are logical offsets across all parts.
 */
export class Writer {
  private buf: Buffer;
  private pos = 0;
  /** Start in `buf` of the bytes not yet moved to `parts`. */
  private segStart = 0;
  private readonly parts: Buffer[] = [];
  private partsBytes = 0;
  private readonly shareFrom: number;
  field = "";

  constructor(initialSize = 256, options: { shareBytesFrom?: number } = {}) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialSize));
    this.shareFrom = options.shareBytesFrom ?? Number.POSITIVE_INFINITY;
  }

  get length(): number {
    return this.partsBytes + this.pos - this.segStart;
  }

  /** Makes room for `n` more bytes, doubling the buffer as needed (bytes already in parts stay put). */
  private ensure(n: number): void {
    const needed = this.pos - this.segStart + n;
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, this.segStart, this.pos);
    this.pos -= this.segStart;
    this.segStart = 0;
    this.buf = next;
  }

  /** Moves the bytes written since the last cut into `parts` (a view, no copy). */
  private cut(): void {
    if (this.pos === this.segStart) return;
    this.parts.push(this.buf.subarray(this.segStart, this.pos));
    this.partsBytes += this.pos - this.segStart;
    this.segStart = this.pos;
  }

  invalid(detail: string): never {
    throw new ProtocolError("INVALID_VALUE", detail, { offset: this.pos, field: this.field || undefined });
  }

  private checkInt(v: number, min: number, max: number, type: string): void {
    if (!Number.isInteger(v) || v < min || v > max) this.invalid(`${v} is not a valid ${type}`);
  }

  finish(): Buffer {
    const tail = this.buf.subarray(this.segStart, this.pos);
    return this.parts.length ? Buffer.concat([...this.parts, tail]) : tail;
  }

  /** The bytes as a list of parts (shared byte strings uncopied), for a vectored write. */
  finishParts(): Buffer[] {
    const tail = this.buf.subarray(this.segStart, this.pos);
    return tail.length || !this.parts.length ? [...this.parts, tail] : [...this.parts];
  }

  // ---- fixed-width integers ------------------------------------------------------------------

  int8(v: number): this {
    this.checkInt(v, -128, 127, "int8");
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
    return this;
  }

  uint8(v: number): this {
    this.checkInt(v, 0, 255, "uint8");
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  int16(v: number): this {
    this.checkInt(v, -32768, 32767, "int16");
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  uint16(v: number): this {
    this.checkInt(v, 0, 0xffff, "uint16");
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  int32(v: number): this {
    this.checkInt(v, -0x80000000, 0x7fffffff, "int32");
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  uint32(v: number): this {
    this.checkInt(v, 0, 0xffffffff, "uint32");
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  int64(v: bigint): this {
    if (typeof v !== "bigint" || v < INT64_MIN || v > INT64_MAX) this.invalid(`${v} is not a valid int64`);
    this.ensure(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
    return this;
  }

  float64(v: number): this {
    if (typeof v !== "number") this.invalid(`${v} is not a valid float64`);
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bool(v: boolean): this {
    return this.uint8(v ? 1 : 0);
  }

  /** Reserves 4 bytes for a length prefix to be filled later with setInt32At. */
  reserveInt32(): number {
    this.ensure(4);
    const at = this.length;
    this.pos += 4;
    return at;
  }

  /** Writes an int32 at a logical offset returned by reserveInt32. */
  setInt32At(pos: number, v: number): this {
    if (pos < 0 || pos + 4 > this.length) throw new RangeError(`setInt32At(${pos}) outside written bytes`);
    if (pos >= this.partsBytes) {
      this.buf.writeInt32BE(v, this.segStart + pos - this.partsBytes);
      return this;
    }
    let start = 0;
    for (const part of this.parts) {
      if (pos < start + part.length) {
        // reserveInt32 never straddles a cut: the 4 bytes lie in one part written by this writer
        part.writeInt32BE(v, pos - start);
        return this;
      }
      start += part.length;
    }
    return this;
  }

  // ---- varints -------------------------------------------------------------------------------

  /** Unsigned LEB128 varint of a value in [0, 2^32). */
  uvarint(v: number): this {
    this.checkInt(v, 0, 0xffffffff, "unsigned varint");
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  /** Zigzag-encoded signed 32-bit varint. */
  varint(v: number): this {
    this.checkInt(v, -0x80000000, 0x7fffffff, "varint");
    return this.uvarint(((v << 1) ^ (v >> 31)) >>> 0);
  }

  /** Unsigned LEB128 varint of a value in [0, 2^64). */
  uvarlong(v: bigint): this {
    if (v < 0n || v >= 2n ** 64n) this.invalid(`${v} is not a valid unsigned varlong`);
    if (v <= 0xffffffffn) return this.uvarint(Number(v));
    this.ensure(10);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
    return this;
  }

  /** Zigzag-encoded signed 64-bit varint. */
  varlong(v: bigint): this {
    if (typeof v !== "bigint" || v < INT64_MIN || v > INT64_MAX) this.invalid(`${v} is not a valid varlong`);
    return this.uvarlong(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }

  // ---- byte strings --------------------------------------------------------------------------

  /** Raw bytes, no length prefix. */
  raw(b: Uint8Array): this {
    if (b.length >= this.shareFrom) {
      this.cut();
      this.parts.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));
      this.partsBytes += b.length;
      return this;
    }
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  uuid(s: string): this {
    if (typeof s !== "string" || !UUID_PATTERN.test(s)) this.invalid(`${s} is not a canonical UUID`);
    this.ensure(16);
    this.buf.write(s.replace(/-/g, ""), this.pos, 16, "hex");
    this.pos += 16;
    return this;
  }

  private utf8(s: string, prefix: (n: number) => void): this {
    if (typeof s !== "string") this.invalid(`expected a string, got ${typeof s}`);
    const n = Buffer.byteLength(s, "utf8");
    prefix(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, "utf8");
    return this;
  }

  /** INT16 length + UTF-8. */
  string(s: string): this {
    return this.utf8(s, (n) => {
      if (n > 0x7fff) this.invalid(`string of ${n} bytes is longer than 32767`);
      this.int16(n);
    });
  }

  nullableString(s: string | null): this {
    return s === null ? this.int16(-1) : this.string(s);
  }

  /** Unsigned varint (length + 1) + UTF-8. */
  compactString(s: string): this {
    return this.utf8(s, (n) => {
      if (n > 0x7fff) this.invalid(`string of ${n} bytes is longer than 32767`);
      this.uvarint(n + 1);
    });
  }

  compactNullableString(s: string | null): this {
    return s === null ? this.uvarint(0) : this.compactString(s);
  }

  /** INT32 length + bytes. */
  bytesField(b: Uint8Array): this {
    if (!(b instanceof Uint8Array)) this.invalid("expected a Buffer");
    return this.int32(b.length).raw(b);
  }

  nullableBytes(b: Uint8Array | null): this {
    return b === null ? this.int32(-1) : this.bytesField(b);
  }

  compactBytes(b: Uint8Array): this {
    if (!(b instanceof Uint8Array)) this.invalid("expected a Buffer");
    return this.uvarint(b.length + 1).raw(b);
  }

  compactNullableBytes(b: Uint8Array | null): this {
    return b === null ? this.uvarint(0) : this.compactBytes(b);
  }

  // ---- arrays --------------------------------------------------------------------------------

  /** INT32 count prefix; null is -1. */
  arrayLength(n: number | null): this {
    return this.int32(n === null ? -1 : n);
  }

  /** Unsigned varint (count + 1) prefix; null is 0. */
  compactArrayLength(n: number | null): this {
    return this.uvarint(n === null ? 0 : n + 1);
  }

  /** Writes an array, compact when flexible; null is written as the null count. */
  array<T>(flexible: boolean, items: readonly T[] | null, write: (item: T) => unknown): this {
    if (items === null) return flexible ? this.uvarint(0) : this.int32(-1);
    if (!Array.isArray(items)) this.invalid(`expected an array, got ${typeof items}`);
    if (flexible) this.uvarint(items.length + 1);
    else this.int32(items.length);
    for (const item of items) write(item);
    return this;
  }

  // ---- nullability, versions and tagged fields -----------------------------------------------

  /** Rejects a null where the spec does not allow one in this version. */
  nonNull<T>(value: T | null, allowNull = false): T | null {
    if (value === null && !allowNull)
      this.invalid("null value for a field that is not nullable in this version");
    return value;
  }

  /**
   * A non-default value for a non-ignorable field that does not exist in the version being written
   * (Kafka throws UnsupportedVersionException here rather than silently dropping data).
   */
  unsupported(field: string, version: number): never {
    throw new ProtocolError(
      "INVALID_VALUE",
      `field ${field} has a non-default value but does not exist in version ${version}`,
      { offset: this.pos, field },
    );
  }

  /** Writes a tagged-field section: known and preserved unknown fields merged in ascending tag order. */
  taggedFields(known: TaggedField[] | undefined, unknown: readonly TaggedField[] | undefined): this {
    const all = !unknown || unknown.length === 0 ? known : known ? [...known, ...unknown] : [...unknown];
    if (!all || all.length === 0) return this.uvarint(0);
    if (all.length > 1) all.sort((a, b) => a.tag - b.tag);
    this.uvarint(all.length);
    for (const f of all) {
      this.uvarint(f.tag);
      this.uvarint(f.data.length);
      this.raw(f.data);
    }
    return this;
  }
}
