// One TCP connection speaking the Kafka protocol through the project's generated codec, used by the
// broker's follower fetchers and by the conformance suite's raw tests. Requests are pipelined and matched to
// responses by correlation id. `sendBytes` writes arbitrary bytes, for malformed-request tests; `closed`
// resolves when the broker (or we) closed the socket.
import { createConnection, type Socket } from "node:net";
import { FrameReader } from "../framing/frame-reader.ts";
import { getApi } from "../generated/index.ts";
import {
  type ApiKeyNumber,
  decodeResponseFrame,
  encodeRequestFrame,
  type RequestOf,
  type ResponseOf,
} from "../messages.ts";

export interface Endpoint {
  host: string;
  port: number;
}

interface Pending {
  apiKey: number;
  apiVersion: number;
  /** When set, decode the response at this version instead (ApiVersions fallback answers in v0). */
  decodeVersion?: number;
  resolve: (frame: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class ConnectionClosedError extends Error {
  constructor(message = "connection closed by the broker") {
    super(message);
    this.name = "ConnectionClosedError";
  }
}

export class RawConnection {
  /** Linear framing: a big response arriving in many chunks is copied once, not once per chunk. */
  private readonly reader = new FrameReader({ maxFrameSize: 1024 * 1024 * 1024 });
  private pending = new Map<number, Pending>();
  private nextCorrelationId = 1;
  private closedFlag = false;
  /** Resolves when the socket has closed, whoever closed it. */
  readonly closed: Promise<void>;

  private constructor(
    private readonly socket: Socket,
    readonly endpoint: Endpoint,
    private readonly clientId: string,
  ) {
    let markClosed!: () => void;
    this.closed = new Promise((resolve) => {
      markClosed = resolve;
    });
    socket.on("data", (chunk) => this.onData(chunk));
    const fail = (err: Error) => {
      this.closedFlag = true;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(err);
      }
      this.pending.clear();
    };
    socket.on("error", (err) => fail(err));
    socket.on("close", () => {
      fail(new ConnectionClosedError());
      markClosed();
    });
  }

  static open(
    endpoint: Endpoint,
    clientId = "gauntlet-conformance",
    timeoutMs = 5000,
  ): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: endpoint.host, port: endpoint.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${endpoint.host}:${endpoint.port} timed out`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(new RawConnection(socket, endpoint, clientId));
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.reader.feed(chunk);
    } catch (err) {
      this.socket.destroy(err as Error); // a bad size prefix: the stream cannot be resynchronised
      return;
    }
    for (const frame of frames) {
      const correlationId = frame.readInt32BE(0);
      const p = this.pending.get(correlationId);
      if (!p) continue; // an answer nobody waits for (e.g. after a timeout)
      this.pending.delete(correlationId);
      clearTimeout(p.timer);
      p.resolve(frame);
    }
  }

  private waitFor(
    correlationId: number,
    apiKey: number,
    apiVersion: number,
    timeoutMs: number,
    write: () => void,
  ): Promise<Buffer> {
    if (this.closedFlag) return Promise.reject(new ConnectionClosedError("connection already closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new Error(`no answer to API ${apiKey} v${apiVersion} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(correlationId, { apiKey, apiVersion, resolve, reject, timer });
      write();
    });
  }

  /** Sends a request at an explicit version and decodes the response with the generated codec. */
  async request<K extends ApiKeyNumber>(
    apiKey: K,
    apiVersion: number,
    body: Partial<RequestOf<K>>,
    timeoutMs = 15_000,
  ): Promise<ResponseOf<K>> {
    const frame = await this.requestFrame(apiKey, apiVersion, body, timeoutMs);
    return decodeResponseFrame(apiKey, apiVersion, frame).body;
  }

  /** Like request(), but returns the raw response frame (without its size prefix). */
  requestFrame<K extends ApiKeyNumber>(
    apiKey: K,
    apiVersion: number,
    body: Partial<RequestOf<K>>,
    timeoutMs = 15_000,
  ): Promise<Buffer> {
    const api = getApi(apiKey);
    if (!api) throw new Error(`unknown API key ${apiKey}`);
    const correlationId = this.nextCorrelationId++;
    const full = { ...(api.defaultRequest() as object), ...body } as RequestOf<K>;
    const bytes = encodeRequestFrame({ apiKey, apiVersion, correlationId, clientId: this.clientId }, full);
    return this.waitFor(correlationId, apiKey, apiVersion, timeoutMs, () => this.socket.write(bytes));
  }

  /**
   * Writes a hand-made frame (size prefix included) whose header carries `correlationId`, and waits
   * for the response frame with that id.
   */
  sendFrame(bytes: Buffer, correlationId: number, timeoutMs = 10_000): Promise<Buffer> {
    return this.waitFor(correlationId, -1, -1, timeoutMs, () => this.socket.write(bytes));
  }

  /** A correlation id no request of this connection uses. */
  reserveCorrelationId(): number {
    return this.nextCorrelationId++;
  }

  /** Writes raw bytes without expecting an answer. */
  sendBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves true when the broker closes the connection within timeoutMs, else false. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return result;
  }

  close(): void {
    this.socket.destroy();
  }
}
