/**
 * Request-header decoding and response framing. The header is decoded here (not only through the
 * generated codec) because the broker must read apiKey/apiVersion/correlationId of requests it cannot
 * parse: an ApiVersions request of an unknown version is answered (KIP-511) rather than dropped.
 */
import { Reader } from "../../../protocol/wire/reader.ts";
import { Writer } from "../../../protocol/wire/writer.ts";

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/** apiKey, apiVersion and correlationId sit at fixed positions in every header version. */
export function peekHeader(
  frame: Buffer,
): { apiKey: number; apiVersion: number; correlationId: number } | null {
  if (frame.length < 8) return null;
  return {
    apiKey: frame.readInt16BE(0),
    apiVersion: frame.readInt16BE(2),
    correlationId: frame.readInt32BE(4),
  };
}

/** Reads a v1 or v2 request header; returns it and a Reader positioned at the body. */
export function decodeRequestHeader(
  frame: Buffer,
  headerVersion: number,
): { header: RequestHeader; body: Reader } {
  const r = new Reader(frame);
  r.field = "RequestHeader.requestApiKey";
  const apiKey = r.int16();
  r.field = "RequestHeader.requestApiVersion";
  const apiVersion = r.int16();
  r.field = "RequestHeader.correlationId";
  const correlationId = r.int32();
  let clientId: string | null = null;
  if (headerVersion >= 1) {
    r.field = "RequestHeader.clientId";
    clientId = r.nullableString(); // not compact even in header v2
  }
  if (headerVersion >= 2) {
    r.field = "RequestHeader._tagged_fields";
    const n = r.uvarint();
    r.checkCount(n, 2, r.offset);
    for (let i = 0; i < n; i++) {
      r.uvarint(); // tag
      r.bytes(r.uvarint());
    }
  }
  r.field = "";
  return { header: { apiKey, apiVersion, correlationId, clientId }, body: r };
}

export interface ResponseEncoder<Res> {
  encodeResponse(w: Writer, body: Res, version: number): void;
  responseHeaderVersion(version: number): number;
}

/**
 * Byte strings from this size on (record batches read from the log for a Fetch) are sent from the
 * log's own buffers instead of being copied into the response.
 */
const SHARE_BYTES_FROM = 4096;

/** A complete response frame (size prefix, response header, body) as parts for one vectored write. */
export function encodeResponseFrame<Res>(
  api: ResponseEncoder<Res>,
  apiVersion: number,
  correlationId: number,
  body: Res,
  headerVersion = api.responseHeaderVersion(apiVersion),
): Buffer[] {
  const w = new Writer(512, { shareBytesFrom: SHARE_BYTES_FROM });
  const sizeAt = w.reserveInt32();
  w.int32(correlationId);
  if (headerVersion >= 1) w.uvarint(0);
  api.encodeResponse(w, body, apiVersion);
  w.setInt32At(sizeAt, w.length - 4);
  return w.finishParts();
}
