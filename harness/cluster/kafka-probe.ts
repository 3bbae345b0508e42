// A minimal Kafka client for readiness checks: ApiVersions v0, then Metadata (a non-flexible version,
// v1..v8, as the broker supports) over one TCP connection to one node. It connects to exactly the
// address it is given, never to the advertised addresses, so it works before any proxy exists.
// Deliberately independent of protocol/ so the harness can start clusters while the codec evolves.
import { createConnection, type Socket } from "node:net";

export interface ProbeBroker {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface ProbeMetadata {
  brokers: ProbeBroker[];
  controllerId: number;
  clusterId: string | null;
}

const API_METADATA = 3;
const API_VERSIONS = 18;
const CLIENT_ID = "gauntlet-probe";

class Reader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}
  int16(): number {
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  int32(): number {
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  nullableString(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    const s = this.buf.toString("utf8", this.offset, this.offset + len);
    this.offset += len;
    return s;
  }
  string(): string {
    return this.nullableString() ?? "";
  }
}

function request(apiKey: number, apiVersion: number, correlationId: number, body: Buffer): Buffer {
  const clientId = Buffer.from(CLIENT_ID);
  const header = Buffer.alloc(10 + clientId.length);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(clientId.length, 8);
  clientId.copy(header, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + body.length);
  return Buffer.concat([size, header, body]);
}

/** One connection that sends requests one at a time and reads size-prefixed responses. */
class Connection {
  private buffered = Buffer.alloc(0);
  private waiting: ((frame: Buffer) => void) | undefined;
  private failure: Error | undefined;
  private failWaiter: ((err: Error) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.deliver();
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      this.failWaiter?.(this.failure);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("connection closed")));
  }

  static open(host: string, port: number, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host, port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(new Connection(socket));
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private deliver(): void {
    if (!this.waiting || this.buffered.length < 4) return;
    const size = this.buffered.readInt32BE(0);
    if (this.buffered.length < 4 + size) return;
    const frame = this.buffered.subarray(4, 4 + size);
    this.buffered = this.buffered.subarray(4 + size);
    const waiter = this.waiting;
    this.waiting = undefined;
    waiter(frame);
  }

  send(frame: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("request timed out")), timeoutMs);
      this.waiting = (response) => {
        clearTimeout(timer);
        resolve(response);
      };
      this.failWaiter = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      this.socket.write(frame);
      this.deliver();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

function metadataBody(version: number): Buffer {
  const parts: Buffer[] = [];
  const topics = Buffer.alloc(4);
  topics.writeInt32BE(0); // no topics: brokers and controller only
  parts.push(topics);
  if (version >= 4) parts.push(Buffer.from([0])); // allow_auto_topic_creation
  if (version >= 8) parts.push(Buffer.from([0, 0])); // include cluster/topic authorized operations
  return Buffer.concat(parts);
}

/**
 * Asks the node at host:port for its Metadata (brokers and controller). Rejects when the node does
 * not answer within timeoutMs or supports no non-flexible Metadata version.
 */
export async function probeMetadata(host: string, port: number, timeoutMs = 2000): Promise<ProbeMetadata> {
  const conn = await Connection.open(host, port, timeoutMs);
  try {
    const versions = new Reader(await conn.send(request(API_VERSIONS, 0, 1, Buffer.alloc(0)), timeoutMs));
    if (versions.int32() !== 1) throw new Error("unexpected correlation id");
    const error = versions.int16();
    if (error !== 0) throw new Error(`ApiVersions error ${error}`);
    let range: [number, number] | undefined;
    const count = versions.int32();
    for (let i = 0; i < count; i++) {
      const key = versions.int16();
      const min = versions.int16();
      const max = versions.int16();
      if (key === API_METADATA) range = [min, max];
    }
    if (!range) throw new Error("the broker does not support Metadata");
    const version = Math.min(range[1], 8);
    if (version < Math.max(range[0], 1)) {
      throw new Error(`no non-flexible Metadata version in the broker's range v${range[0]}-v${range[1]}`);
    }
    const r = new Reader(
      await conn.send(request(API_METADATA, version, 2, metadataBody(version)), timeoutMs),
    );
    if (r.int32() !== 2) throw new Error("unexpected correlation id");
    if (version >= 3) r.int32(); // throttle_time_ms
    const brokers: ProbeBroker[] = [];
    const n = r.int32();
    for (let i = 0; i < n; i++) {
      const nodeId = r.int32();
      const host = r.string();
      const port = r.int32();
      const rack = r.nullableString();
      brokers.push({ nodeId, host, port, rack });
    }
    const clusterId = version >= 2 ? r.nullableString() : null;
    const controllerId = r.int32();
    return { brokers, controllerId, clusterId };
  } finally {
    conn.close();
  }
}
