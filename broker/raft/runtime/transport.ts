// Raft messages between nodes over gRPC (@grpc/grpc-js). One service, `gauntlet.raft.Raft`, with one
// unary method `Send(RaftEnvelope) returns (Ack)`; the service is defined in code with our own serialise
// functions (no .proto: the payload is our own binary envelope, see `encodeEnvelope`).
//
// Fire and forget: `send()` never blocks and never queues unboundedly. Each peer has a bounded number of
// calls in flight (count and bytes); beyond that, or when the peer is unreachable, messages are dropped
// and Raft's own retries (heartbeats, probes, snapshot resumption) recover. Every call carries a deadline.
// grpc-js reconnects each channel with exponential backoff (bounds configurable).
//
// Envelope (every message, big-endian):
//   [u16 protocol version][u32 sender node id][u32 JSON length][JSON {c: clusterId, m: message}][bytes]
// Byte fields (entry data, snapshot chunks) are not in the JSON: they are replaced by [offset, length]
// references into the trailing bytes. The first 6 bytes are fixed across versions, so a node can always
// tell who sent a message of a version it does not speak; such a peer is refused with
// FAILED_PRECONDITION and a log line on both sides.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Entry, Message, MessageType, NodeId } from "../types.ts";

export const RAFT_PROTOCOL_VERSION = 1;
export const SEND_PATH = "/gauntlet.raft.Raft/Send";

const MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  "preVote",
  "vote",
  "preVoteResp",
  "voteResp",
  "append",
  "appendResp",
  "heartbeat",
  "heartbeatResp",
  "snapshot",
  "snapshotResp",
  "timeoutNow",
  "readIndex",
  "readIndexResp",
]);

export class EnvelopeError extends Error {
  override name = "EnvelopeError";
}

// ---------------------------------------------------------------- codec

export function encodeEnvelope(m: Message, clusterId: string, version = RAFT_PROTOCOL_VERSION): Buffer {
  const tail: Uint8Array[] = [];
  let tailLen = 0;
  const ref = (b: Uint8Array): [number, number] => {
    const r: [number, number] = [tailLen, b.length];
    tail.push(b);
    tailLen += b.length;
    return r;
  };
  let wire: unknown = m;
  if (m.type === "append") {
    wire = { ...m, entries: m.entries.map((e) => ({ ...e, data: ref(e.data) })) };
  } else if (m.type === "snapshot") {
    wire = { ...m, chunk: ref(m.chunk) };
  }
  const json = Buffer.from(JSON.stringify({ c: clusterId, m: wire }));
  const head = Buffer.allocUnsafe(10);
  head.writeUInt16BE(version, 0);
  head.writeUInt32BE(m.from, 2);
  head.writeUInt32BE(json.length, 6);
  return Buffer.concat([head, json, ...tail], 10 + json.length + tailLen);
}

/** The fixed part of an envelope, readable whatever its version. */
export function peekEnvelope(buf: Buffer): { version: number; from: NodeId } {
  if (buf.length < 10) throw new EnvelopeError("envelope shorter than its header");
  return { version: buf.readUInt16BE(0), from: buf.readUInt32BE(2) };
}

export function decodeEnvelope(buf: Buffer): { version: number; clusterId: string; message: Message } {
  const { version } = peekEnvelope(buf);
  const jsonLen = buf.readUInt32BE(6);
  if (10 + jsonLen > buf.length) throw new EnvelopeError("envelope JSON overruns the buffer");
  let o: { c?: unknown; m?: Record<string, unknown> };
  try {
    o = JSON.parse(buf.toString("utf8", 10, 10 + jsonLen));
  } catch {
    throw new EnvelopeError("envelope JSON does not parse");
  }
  const tail = buf.subarray(10 + jsonLen);
  const bytes = (r: unknown): Uint8Array => {
    if (!Array.isArray(r) || r.length !== 2) throw new EnvelopeError("bad byte reference");
    const [off, len] = r as [number, number];
    if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > tail.length)
      throw new EnvelopeError("byte reference out of range");
    return Uint8Array.prototype.slice.call(tail, off, off + len);
  };
  const m = o.m;
  if (typeof o.c !== "string" || !m || typeof m !== "object") throw new EnvelopeError("malformed envelope");
  if (!MESSAGE_TYPES.has(m.type as MessageType)) throw new EnvelopeError(`unknown message type ${m.type}`);
  for (const k of ["from", "to", "term"]) {
    if (!Number.isInteger(m[k]) || (m[k] as number) < 0) throw new EnvelopeError(`bad ${k}`);
  }
  if (m.type === "append") {
    if (!Array.isArray(m.entries)) throw new EnvelopeError("append without entries");
    m.entries = (m.entries as Record<string, unknown>[]).map((e) => {
      const out: Entry = { index: e.index as number, term: e.term as number, data: bytes(e.data) };
      if (e.change) out.change = e.change as Entry["change"];
      return out;
    });
  } else if (m.type === "snapshot") {
    m.chunk = bytes(m.chunk);
  }
  return { version, clusterId: o.c, message: m as unknown as Message };
}

const identity = (b: Buffer): Buffer => b;

const serviceDefinition: grpc.ServiceDefinition = {
  send: {
    path: SEND_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

// ---------------------------------------------------------------- transport

export interface TransportOptions {
  id: NodeId;
  clusterId: string;
  /** host:port to listen on; port 0 picks a free one (see `address`). */
  listen: string;
  /** nodeId -> host:port of each peer (e.g. a Toxiproxy proxy per link). */
  peers?: Map<NodeId, string> | Record<number, string>;
  onMessage: (m: Message) => void;
  logger?: Logger;
  /** Deadline of every call (default 2000 ms). */
  deadlineMs?: number;
  /** Calls in flight per peer before messages are dropped (default 256). */
  maxInflight?: number;
  /** Bytes in flight per peer before messages are dropped (default 32 MiB). */
  maxInflightBytes?: number;
  /** Reconnection backoff bounds (defaults 100 ms .. 2000 ms). */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Tests only: speak another protocol version. */
  protocolVersion?: number;
  /** More gRPC services served on the same port (e.g. the broker's controller RPCs). */
  services?: { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }[];
}

export interface TransportStats {
  sent: number;
  delivered: number;
  dropped: number;
  failed: number;
  refused: number;
  received: number;
  rejectedIncoming: number;
}

interface Peer {
  id: NodeId;
  address: string;
  client: grpc.Client;
  inflight: number;
  inflightBytes: number;
  reachable: boolean;
  lastRefusalLog: number;
}

const MAX_MESSAGE = 256 * 1024 * 1024;

export class GrpcTransport {
  readonly stats: TransportStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    failed: 0,
    refused: 0,
    received: 0,
    rejectedIncoming: 0,
  };
  private readonly peers = new Map<NodeId, Peer>();
  private readonly version: number;
  private readonly deadlineMs: number;
  private readonly maxInflight: number;
  private readonly maxInflightBytes: number;
  private readonly refusalLogged = new Map<string, number>();
  private stopped = false;
  /** The address actually bound (host:port). */
  address = "";

  private constructor(
    private readonly opts: TransportOptions,
    private readonly server: grpc.Server,
  ) {
    this.version = opts.protocolVersion ?? RAFT_PROTOCOL_VERSION;
    this.deadlineMs = opts.deadlineMs ?? 2000;
    this.maxInflight = opts.maxInflight ?? 256;
    this.maxInflightBytes = opts.maxInflightBytes ?? 32 * 1024 * 1024;
  }

  static async start(opts: TransportOptions): Promise<GrpcTransport> {
    const server = new grpc.Server({
      "grpc.max_receive_message_length": MAX_MESSAGE,
      "grpc.max_send_message_length": MAX_MESSAGE,
    });
    const t = new GrpcTransport(opts, server);
    server.addService(serviceDefinition, {
      send: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        t.onSend(call.request, cb),
    });
    for (const svc of opts.services ?? []) server.addService(svc.definition, svc.implementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(opts.listen, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const host = opts.listen.slice(0, opts.listen.lastIndexOf(":"));
    t.address = `${host}:${port}`;
    const peers = opts.peers instanceof Map ? opts.peers : new Map(Object.entries(opts.peers ?? {}));
    for (const [id, addr] of peers) if (Number(id) !== opts.id) t.setPeer(Number(id), addr);
    return t;
  }

  /** Sets (or changes) the address used to reach `id`. */
  setPeer(id: NodeId, address: string): void {
    const old = this.peers.get(id);
    if (old?.address === address) return;
    old?.client.close();
    const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      "grpc.initial_reconnect_backoff_ms": this.opts.reconnectInitialMs ?? 100,
      "grpc.max_reconnect_backoff_ms": this.opts.reconnectMaxMs ?? 2000,
      "grpc.min_reconnect_backoff_ms": this.opts.reconnectInitialMs ?? 100,
      "grpc.max_receive_message_length": MAX_MESSAGE,
      "grpc.max_send_message_length": MAX_MESSAGE,
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
    });
    this.peers.set(id, {
      id,
      address,
      client,
      inflight: 0,
      inflightBytes: 0,
      reachable: true,
      lastRefusalLog: 0,
    });
  }

  removePeer(id: NodeId): void {
    this.peers.get(id)?.client.close();
    this.peers.delete(id);
  }

  peerAddress(id: NodeId): string | undefined {
    return this.peers.get(id)?.address;
  }

  /** Ids of the peers with a known address. */
  peerIds(): NodeId[] {
    return [...this.peers.keys()];
  }

  /**
   * One unary call of another service (see `services`) to peer `id`, over the same per-peer route as
   * Raft messages. Rejects when the peer is unknown or the call fails.
   */
  call(id: NodeId, path: string, request: Buffer, deadlineMs: number): Promise<Buffer> {
    const peer = this.peers.get(id);
    if (!peer || this.stopped) return Promise.reject(new Error(`no route to node ${id}`));
    return new Promise((resolve, reject) => {
      peer.client.makeUnaryRequest<Buffer, Buffer>(
        path,
        identity,
        identity,
        request,
        { deadline: Date.now() + deadlineMs },
        (err, res) => (err ? reject(err) : resolve(res ?? Buffer.alloc(0))),
      );
    });
  }

  /** Sends `m` to `m.to` without waiting; dropped when the peer is unknown, unreachable or backlogged. */
  send(m: Message): void {
    if (this.stopped) return;
    const peer = this.peers.get(m.to);
    if (!peer) {
      this.stats.dropped++;
      return;
    }
    if (peer.inflight >= this.maxInflight || peer.inflightBytes >= this.maxInflightBytes) {
      this.stats.dropped++;
      return;
    }
    const buf = encodeEnvelope(m, this.opts.clusterId, this.version);
    peer.inflight++;
    peer.inflightBytes += buf.length;
    this.stats.sent++;
    peer.client.makeUnaryRequest<Buffer, Buffer>(
      SEND_PATH,
      identity,
      identity,
      buf,
      { deadline: Date.now() + this.deadlineMs },
      (err) => {
        peer.inflight--;
        peer.inflightBytes -= buf.length;
        if (!err) {
          this.stats.delivered++;
          if (!peer.reachable) {
            peer.reachable = true;
            this.opts.logger?.info({ peer: peer.id, address: peer.address }, "raft peer reachable");
          }
          return;
        }
        if (err.code === grpc.status.FAILED_PRECONDITION) {
          this.stats.refused++;
          const now = Date.now();
          if (now - peer.lastRefusalLog > 10_000) {
            peer.lastRefusalLog = now;
            this.opts.logger?.error(
              { peer: peer.id, address: peer.address, reason: err.details },
              `raft peer ${peer.id} at ${peer.address} refused our messages: ${err.details}`,
            );
          }
          return;
        }
        this.stats.failed++;
        if (peer.reachable && !this.stopped && this.peers.get(peer.id) === peer) {
          peer.reachable = false;
          this.opts.logger?.warn(
            { peer: peer.id, address: peer.address, code: err.code, reason: err.details },
            "raft peer unreachable; dropping messages to it until it answers",
          );
        }
      },
    );
  }

  private onSend(buf: Buffer, cb: grpc.sendUnaryData<Buffer>): void {
    let head: { version: number; from: NodeId };
    try {
      head = peekEnvelope(buf);
    } catch (e) {
      this.stats.rejectedIncoming++;
      cb({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
      return;
    }
    if (head.version !== this.version) {
      const reason = `incompatible raft protocol version ${head.version} from node ${head.from}; node ${this.opts.id} speaks version ${this.version}`;
      this.refuseIncoming(`v${head.version}/${head.from}`, head.from, reason);
      cb({ code: grpc.status.FAILED_PRECONDITION, details: reason });
      return;
    }
    let env: ReturnType<typeof decodeEnvelope>;
    try {
      env = decodeEnvelope(buf);
    } catch (e) {
      this.stats.rejectedIncoming++;
      cb({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
      return;
    }
    if (env.clusterId !== this.opts.clusterId) {
      const reason = `node ${head.from} belongs to cluster ${env.clusterId}, node ${this.opts.id} to cluster ${this.opts.clusterId}`;
      this.refuseIncoming(`c${env.clusterId}/${head.from}`, head.from, reason);
      cb({ code: grpc.status.FAILED_PRECONDITION, details: reason });
      return;
    }
    if (env.message.to !== this.opts.id) {
      const reason = `message for node ${env.message.to} reached node ${this.opts.id} (misrouted)`;
      this.refuseIncoming(`to${env.message.to}/${head.from}`, head.from, reason);
      cb({ code: grpc.status.FAILED_PRECONDITION, details: reason });
      return;
    }
    this.stats.received++;
    cb(null, Buffer.alloc(0));
    if (this.stopped) return;
    try {
      this.opts.onMessage(env.message);
    } catch (e) {
      this.opts.logger?.error({ err: e }, "raft message handler failed");
    }
  }

  private refuseIncoming(key: string, from: NodeId, reason: string): void {
    this.stats.rejectedIncoming++;
    const now = Date.now();
    if (now - (this.refusalLogged.get(key) ?? 0) < 10_000) return;
    this.refusalLogged.set(key, now);
    this.opts.logger?.error({ from }, `refused raft message: ${reason}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of this.peers.values()) p.client.close();
    this.peers.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
