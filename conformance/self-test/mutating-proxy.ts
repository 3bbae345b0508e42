// A TCP proxy in front of ONE broker that parses every frame with the project's codec and can corrupt
// the broker's answers in one chosen way, to prove the conformance suite notices. Metadata and
// FindCoordinator answers are rewritten to advertise the proxy, so raw clients that follow them to a
// leader or coordinator stay behind the proxy (a single-node target has one broker to stand in for).
//
// Mutations:
//   "none"        forward everything (re-encoding only the address-rewritten answers)
//   "error-code"  CreateTopics answers: INVALID_PARTITIONS (37) becomes INVALID_REQUEST (42)
//   "drop-record" Fetch answers: the last record of each non-empty partition is removed
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import { decodeResponseFrame, encodeResponseFrame, peekRequestHeader } from "../../protocol/messages.ts";
import { decodeRecordBatch, encodeRecordBatch, splitBatches } from "../../protocol/records/index.ts";

export type Mutation = "none" | "error-code" | "drop-record";

export interface MutatingProxy {
  host: string;
  port: number;
  /** How many answers were mutated so far. */
  mutations(): number;
  close(): Promise<void>;
}

class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  feed(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    while (this.buf.length >= 4) {
      const size = this.buf.readInt32BE(0);
      if (size < 0) {
        // not a frame: forward the rest as is (the broker will close the connection)
        out.push(this.buf);
        this.buf = Buffer.alloc(0);
        break;
      }
      if (this.buf.length < 4 + size) break;
      out.push(this.buf.subarray(0, 4 + size));
      this.buf = this.buf.subarray(4 + size);
    }
    return out;
  }
}

/** Removes the last record of a partition's records field; undefined when there is nothing to drop. */
function dropLastRecord(records: Buffer): Buffer | undefined {
  const spans = splitBatches(records);
  for (let i = spans.length - 1; i >= 0; i--) {
    const span = spans[i];
    const batch = decodeRecordBatch(records, span.offset);
    if (batch.isControl || batch.records.length === 0) continue;
    const before = records.subarray(0, span.offset);
    const after = records.subarray(span.offset + span.length);
    if (batch.records.length === 1) return Buffer.concat([before, after]);
    const h = batch.header;
    const kept = batch.records.slice(0, -1);
    const rebuilt = encodeRecordBatch({
      baseOffset: h.baseOffset,
      partitionLeaderEpoch: h.partitionLeaderEpoch,
      producerId: h.producerId,
      producerEpoch: h.producerEpoch,
      baseSequence: h.baseSequence,
      transactional: batch.isTransactional,
      compression: batch.compression,
      timestampType: batch.timestampType,
      records: kept.map((r) => ({
        key: r.key,
        value: r.value,
        headers: r.headers,
        timestamp: r.timestamp,
        offsetDelta: r.offsetDelta,
      })),
    });
    return Buffer.concat([before, rebuilt, after]);
  }
  return undefined;
}

export async function startMutatingProxy(
  upstream: { host: string; port: number },
  mutation: Mutation,
): Promise<MutatingProxy> {
  let mutated = 0;
  const sockets = new Set<Socket>();
  let self = { host: "127.0.0.1", port: 0 };

  const rewrite = (apiKey: number, apiVersion: number, frame: Buffer): Buffer => {
    const interesting = [
      ApiKey.Metadata,
      ApiKey.FindCoordinator,
      ApiKey.CreateTopics,
      ApiKey.Fetch,
    ] as number[];
    if (!interesting.includes(apiKey)) return frame;
    let decoded: ReturnType<typeof decodeResponseFrame>;
    try {
      decoded = decodeResponseFrame(apiKey, apiVersion, frame.subarray(4));
    } catch {
      return frame;
    }
    const body = decoded.body as Record<string, unknown>;
    if (apiKey === ApiKey.Metadata) {
      for (const b of body.brokers as { host: string; port: number }[]) {
        b.host = self.host;
        b.port = self.port;
      }
    } else if (apiKey === ApiKey.FindCoordinator) {
      if (typeof body.port === "number" && (body.port as number) > 0) {
        body.host = self.host;
        body.port = self.port;
      }
      for (const c of (body.coordinators ?? []) as { host: string; port: number }[]) {
        if (c.port > 0) {
          c.host = self.host;
          c.port = self.port;
        }
      }
    } else if (apiKey === ApiKey.CreateTopics && mutation === "error-code") {
      for (const t of body.topics as { errorCode: number }[]) {
        if (t.errorCode === ERROR_CODES.INVALID_PARTITIONS) {
          t.errorCode = ERROR_CODES.INVALID_REQUEST;
          mutated++;
        }
      }
    } else if (apiKey === ApiKey.Fetch && mutation === "drop-record") {
      for (const t of body.responses as { partitions: { records: Buffer | null }[] }[]) {
        for (const p of t.partitions) {
          if (!p.records?.length) continue;
          const dropped = dropLastRecord(p.records);
          if (dropped) {
            p.records = dropped;
            mutated++;
          }
        }
      }
    } else {
      return frame;
    }
    return encodeResponseFrame(apiKey, apiVersion, decoded.correlationId, body);
  };

  const server: Server = createServer((client) => {
    const broker = createConnection(upstream);
    sockets.add(client);
    sockets.add(broker);
    const pending = new Map<number, { apiKey: number; apiVersion: number }>();
    const fromClient = new FrameSplitter();
    const fromBroker = new FrameSplitter();
    client.on("data", (chunk) => {
      for (const frame of fromClient.feed(chunk)) {
        if (frame.length >= 12 && frame.readInt32BE(0) >= 8) {
          const h = peekRequestHeader(frame.subarray(4));
          pending.set(h.correlationId, { apiKey: h.apiKey, apiVersion: h.apiVersion });
        }
        broker.write(frame);
      }
    });
    broker.on("data", (chunk) => {
      for (const frame of fromBroker.feed(chunk)) {
        const correlationId = frame.length >= 8 ? frame.readInt32BE(4) : -1;
        const req = pending.get(correlationId);
        pending.delete(correlationId);
        client.write(req ? rewrite(req.apiKey, req.apiVersion, frame) : frame);
      }
    });
    const closeBoth = () => {
      client.destroy();
      broker.destroy();
      sockets.delete(client);
      sockets.delete(broker);
    };
    client.on("close", closeBoth);
    broker.on("close", closeBoth);
    client.on("error", closeBoth);
    broker.on("error", closeBoth);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address() as { port: number };
  self = { host: "127.0.0.1", port: addr.port };
  return {
    ...self,
    mutations: () => mutated,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
