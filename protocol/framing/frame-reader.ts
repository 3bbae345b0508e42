/**
 * Splits a byte stream (socket data events) into Kafka frames: int32 size followed by `size` bytes.
 *
 * Chunks are kept in a list and each frame is copied at most once when it completes; a frame that
 * lies inside one chunk is returned as a subarray of it (no copy, but it keeps that chunk alive).
 * The size prefix is checked the moment its 4 bytes arrive, so an oversized or negative frame is
 * rejected before any of its payload is buffered. After an error the reader stays failed: the
 * stream position is lost and the connection must be closed.
 */
import { ProtocolError } from "../wire/errors.ts";

/** Kafka's socket.request.max.bytes default. */
export const DEFAULT_MAX_FRAME_SIZE = 100 * 1024 * 1024;
export const FRAME_SIZE_PREFIX = 4;

export interface FrameReaderOptions {
  /** Largest accepted payload size (excluding the 4-byte prefix). */
  maxFrameSize?: number;
}

export class FrameReader {
  readonly maxFrameSize: number;
  private chunks: (Buffer | undefined)[] = [];
  /** Index of the first unread chunk in `chunks`. */
  private head = 0;
  /** Read position inside chunks[head]. */
  private headOffset = 0;
  private buffered = 0;
  /** Payload size of the frame being assembled, or -1 while waiting for a size prefix. */
  private expected = -1;
  private failure: ProtocolError | undefined;

  constructor(opts: FrameReaderOptions = {}) {
    this.maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  /** Bytes received but not yet returned as frames (including a pending size prefix). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Payload size of the partially received frame, or -1 if none is in progress. */
  get pendingFrameSize(): number {
    return this.expected;
  }

  /** Appends a chunk and returns every frame it completes, in order. */
  feed(chunk: Buffer): Buffer[] {
    this.push(chunk);
    const frames: Buffer[] = [];
    for (let frame = this.nextFrame(); frame !== null; frame = this.nextFrame()) frames.push(frame);
    return frames;
  }

  /** Appends a chunk without extracting frames (pair with nextFrame for one-at-a-time handling). */
  push(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    // Validate a size prefix as soon as it is complete, even if nobody calls nextFrame yet.
    if (this.expected < 0 && this.buffered >= FRAME_SIZE_PREFIX) this.readSizePrefix();
  }

  /** The next complete frame (payload without the size prefix), or null if more bytes are needed. */
  nextFrame(): Buffer | null {
    if (this.failure) throw this.failure;
    if (this.expected < 0) {
      if (this.buffered < FRAME_SIZE_PREFIX) return null;
      this.readSizePrefix();
    }
    if (this.buffered < this.expected) return null;
    const frame = this.take(this.expected);
    this.expected = -1;
    return frame;
  }

  private readSizePrefix(): void {
    let size = 0;
    for (let i = 0; i < FRAME_SIZE_PREFIX; i++) size = (size << 8) | this.takeByte();
    if (size < 0) this.fail("NEGATIVE_LENGTH", `frame size prefix is negative (${size})`);
    if (size > this.maxFrameSize) {
      this.fail(
        "FRAME_TOO_LARGE",
        `frame of ${size} bytes exceeds the maximum of ${this.maxFrameSize} bytes`,
      );
    }
    this.expected = size;
  }

  private fail(code: "NEGATIVE_LENGTH" | "FRAME_TOO_LARGE", detail: string): never {
    // Drop everything: the stream cannot be resynchronised after a bad prefix.
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.buffered = 0;
    this.failure = new ProtocolError(code, detail);
    throw this.failure;
  }

  private takeByte(): number {
    const chunk = this.chunks[this.head]!;
    const b = chunk[this.headOffset++]!;
    this.buffered--;
    if (this.headOffset === chunk.length) this.advanceChunk();
    return b;
  }

  private advanceChunk(): void {
    this.chunks[this.head] = undefined; // release for GC
    this.head++;
    this.headOffset = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      // Compact occasionally so byte-by-byte feeding stays linear.
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  /** Removes `n` buffered bytes (n <= buffered): a subarray when they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    const first = this.chunks[this.head];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length - this.headOffset >= n) {
      const out = first.subarray(this.headOffset, this.headOffset + n);
      this.headOffset += n;
      this.buffered -= n;
      if (this.headOffset === first.length) this.advanceChunk();
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const chunk = this.chunks[this.head]!;
      const count = Math.min(n - written, chunk.length - this.headOffset);
      chunk.copy(out, written, this.headOffset, this.headOffset + count);
      written += count;
      this.headOffset += count;
      if (this.headOffset === chunk.length) this.advanceChunk();
    }
    this.buffered -= n;
    return out;
  }
}

/** Prefixes a payload with its int32 size (the writing side of the framing). */
export function encodeFrame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_SIZE_PREFIX + payload.length);
  out.writeInt32BE(payload.length, 0);
  payload.copy(out, FRAME_SIZE_PREFIX);
  return out;
}
