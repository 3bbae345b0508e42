/**
 * One client connection: frames are read with protocol/framing's FrameReader, queued, and processed
 * one at a time (like Kafka's muted channel), so responses leave in request order even when a Fetch
 * long-polls. One exception, for throughput under acks=all: a Produce request may release the
 * connection once its records are appended (before replication), and a following Produce then
 * starts while the first waits for its followers — appends keep request order, responses are still
 * written in request order, and any other request waits until everything before it has answered,
 * so what a client observes is what Kafka's strictly serial processing gives. A malformed frame closes
 * only this connection. Responses written in the same tick are corked into one write.
 */
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { FrameReader } from "../../../protocol/framing/frame-reader.ts";
import { isProtocolError } from "../../../protocol/wire/errors.ts";

/** Stop reading from the socket while this many requests wait (TCP back-pressure does the rest). */
const MAX_QUEUED_FRAMES = 64;
/** Produce requests of one connection that may wait for replication at the same time. */
const MAX_PIPELINED = 32;
const PRODUCE_API_KEY = 0;

export interface FrameHandler {
  /**
   * Returns the complete response frame as parts (written back to back, in one vectored write), or
   * null when the request gets no response (acks=0). A Produce may call `release` once its appends
   * are done, to let the next Produce of this connection start (see the class comment).
   */
  handleFrame(conn: Connection, frame: Buffer, release: () => void): Promise<Buffer[] | null>;
}

export class CloseConnection extends Error {
  override name = "CloseConnection";
}

let nextConnectionId = 1;

export class Connection {
  readonly id = nextConnectionId++;
  readonly remote: string;
  readonly log: Logger;
  private readonly reader: FrameReader;
  private readonly queue: Buffer[] = [];
  private processing = false;
  private closed = false;
  private draining = false;
  private paused = false;
  private idleWaiters: (() => void)[] = [];
  private corkScheduled = false;
  /** Resolves once every dispatched request has answered (responses are chained in request order). */
  private tail: Promise<void> = Promise.resolve();
  private inflight = 0;

  constructor(
    readonly socket: Socket,
    private readonly handler: FrameHandler,
    maxFrameSize: number,
    log: Logger,
    private readonly hooks: {
      bytesIn(n: number): void;
      bytesOut(n: number): void;
      closed(c: Connection): void;
    },
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.log = log.child({ conn: this.id, remote: this.remote });
    this.reader = new FrameReader({ maxFrameSize });
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (e) => this.log.debug({ err: e.message }, "socket error"));
    socket.on("close", () => this.onClose());
    socket.on("end", () => {
      // Half-closed by the client: finish what is queued, then close our side too.
      this.draining = true;
      if (!this.processing && this.queue.length === 0) this.socket.end();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True while a request is being processed or waits in the queue. */
  get busy(): boolean {
    return this.processing || this.queue.length > 0;
  }

  private onData(chunk: Buffer): void {
    if (this.closed || this.draining) return;
    this.hooks.bytesIn(chunk.length);
    let frames: Buffer[];
    try {
      frames = this.reader.feed(chunk);
    } catch (e) {
      this.malformed(e);
      return;
    }
    for (const f of frames) this.queue.push(f);
    if (this.queue.length >= MAX_QUEUED_FRAMES && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    if (!this.processing) void this.pump();
  }

  private async pump(): Promise<void> {
    this.processing = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const frame = this.queue.shift()!;
        if (this.paused && this.queue.length < MAX_QUEUED_FRAMES / 2 && !this.draining) {
          this.paused = false;
          this.socket.resume();
        }
        // Only a Produce may overtake requests still waiting; anything else sees them answered first.
        const isProduce = frame.length >= 2 && frame.readInt16BE(0) === PRODUCE_API_KEY;
        if (this.inflight > 0 && (!isProduce || this.inflight >= MAX_PIPELINED)) await this.tail;
        if (this.closed) return;
        let release!: () => void;
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        const response = this.handler.handleFrame(this, frame, release);
        response.catch(() => {}); // handled in order below; this only marks it handled early
        this.inflight++;
        const previous = this.tail;
        this.tail = previous
          .then(() => response)
          .then(
            (parts) => {
              if (parts) this.write(parts);
            },
            (e: unknown) => {
              if (isProtocolError(e) || e instanceof CloseConnection) this.malformed(e);
              else {
                this.log.error({ err: e }, "request failed unexpectedly; closing the connection");
                this.destroy();
              }
            },
          )
          .finally(() => {
            this.inflight--;
          });
        // the next request starts when this one answered, or (Produce) released the connection
        await Promise.race([this.tail, released]);
      }
      await this.tail;
    } finally {
      this.processing = false;
      // frames that arrived while the last responses were awaited
      if (this.queue.length > 0 && !this.closed) void this.pump();
      else if (this.queue.length === 0) {
        if (this.draining && !this.closed) this.socket.end();
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  private write(parts: Buffer[]): void {
    if (this.closed || this.socket.destroyed) return;
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    this.hooks.bytesOut(bytes);
    if (!this.corkScheduled) {
      this.corkScheduled = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corkScheduled = false;
        this.socket.uncork();
      });
    }
    // corked: the parts (and other responses of this tick) leave in one writev
    for (const part of parts) this.socket.write(part);
  }

  private malformed(e: unknown): void {
    this.log.warn({ err: (e as Error).message }, "malformed request; closing the connection");
    this.destroy("malformed");
  }

  private malformedHook: (() => void) | undefined;

  onMalformed(fn: () => void): void {
    this.malformedHook = fn;
  }

  destroy(reason?: "malformed"): void {
    if (reason === "malformed") this.malformedHook?.();
    this.queue.length = 0;
    this.socket.destroy();
    this.onClose();
  }

  /**
   * Graceful shutdown: stop reading new requests, let the current one (and those already queued)
   * finish, then close. Resolves when idle; the caller bounds the wait.
   */
  drain(): Promise<void> {
    this.draining = true;
    this.socket.pause();
    if (!this.busy) {
      this.socket.end();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
    this.hooks.closed(this);
  }
}
