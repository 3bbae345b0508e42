/**
 * Whole request/response frames: header + body, on top of the generated codecs.
 *
 * Request frame  = INT32 size | request header (v0-v2) | body
 * Response frame = INT32 size | response header (v0-v1) | body
 *
 * The encoders return frames WITH the 4-byte size prefix; the decoders take frames WITHOUT it
 * (protocol/framing splits the byte stream). Trailing bytes after the body are tolerated and
 * reported as `trailingBytes`: the codec does not guess policy, the broker or test decides (Kafka's
 * own parsers read what the schema describes and do not reject leftovers).
 */
import { type ApiDefinition, type ApiTypes, getApi } from "./generated/index.ts";
import { decodeRequestHeader, encodeRequestHeader, type RequestHeader } from "./generated/request-header.ts";
import {
  decodeResponseHeader,
  encodeResponseHeader,
  type ResponseHeader,
} from "./generated/response-header.ts";
import { ProtocolError } from "./wire/errors.ts";
import { Reader } from "./wire/reader.ts";
import { Writer } from "./wire/writer.ts";

export type ApiKeyNumber = keyof ApiTypes;
export type RequestOf<K extends ApiKeyNumber> = ApiTypes[K]["request"];
export type ResponseOf<K extends ApiKeyNumber> = ApiTypes[K]["response"];

export interface RequestHeaderFields<K extends number = number> {
  apiKey: K;
  apiVersion: number;
  correlationId: number;
  /** Null or absent means no client id (written as a null string). */
  clientId?: string | null;
}

export interface DecodedRequest<Body = unknown> {
  api: ApiDefinition;
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  headerVersion: number;
  header: RequestHeader;
  body: Body;
  /** Bytes left after the body (0 for a well-formed frame). */
  trailingBytes: number;
}

export interface DecodedResponse<Body = unknown> {
  correlationId: number;
  headerVersion: number;
  header: ResponseHeader;
  body: Body;
  trailingBytes: number;
}

/** Looks up an API and checks the version, with the errors a broker needs to tell apart. */
export function resolveApi(apiKey: number, apiVersion: number): ApiDefinition {
  const api = getApi(apiKey);
  if (!api) throw new ProtocolError("UNKNOWN_API_KEY", `unknown API key ${apiKey}`);
  if (apiVersion < api.minVersion || apiVersion > api.maxVersion) {
    throw new ProtocolError(
      "UNSUPPORTED_VERSION",
      `${api.name} version ${apiVersion} is outside ${api.minVersion}-${api.maxVersion}`,
    );
  }
  return api;
}

/** Encodes a full request frame including its INT32 size prefix. */
export function encodeRequestFrame<K extends ApiKeyNumber>(
  header: RequestHeaderFields<K>,
  body: RequestOf<K>,
): Buffer;
export function encodeRequestFrame(header: RequestHeaderFields, body: unknown): Buffer;
export function encodeRequestFrame(header: RequestHeaderFields, body: unknown): Buffer {
  const api = resolveApi(header.apiKey, header.apiVersion);
  const w = new Writer(512);
  const size = w.reserveInt32();
  encodeRequestHeader(
    w,
    {
      requestApiKey: header.apiKey,
      requestApiVersion: header.apiVersion,
      correlationId: header.correlationId,
      clientId: header.clientId ?? null,
    },
    api.requestHeaderVersion(header.apiVersion),
  );
  api.encodeRequest(w, body, header.apiVersion);
  w.setInt32At(size, w.length - 4);
  return w.finish();
}

/**
 * Reads apiKey, apiVersion and correlationId without decoding the rest, so a broker can still
 * answer (e.g. ApiVersions with UNSUPPORTED_VERSION) when the body or version is unusable.
 */
export function peekRequestHeader(frame: Buffer): {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
} {
  const r = new Reader(frame);
  r.field = "RequestHeader";
  return { apiKey: r.int16(), apiVersion: r.int16(), correlationId: r.int32() };
}

/** Decodes a request frame given WITHOUT its size prefix. */
export function decodeRequestFrame(frame: Buffer): DecodedRequest {
  const { apiKey, apiVersion } = peekRequestHeader(frame);
  const api = resolveApi(apiKey, apiVersion);
  const headerVersion = api.requestHeaderVersion(apiVersion);
  const r = new Reader(frame);
  const header = decodeRequestHeader(r, headerVersion);
  const body = api.decodeRequest(r, apiVersion);
  return {
    api,
    apiKey,
    apiVersion,
    correlationId: header.correlationId,
    clientId: header.clientId ?? null,
    headerVersion,
    header,
    body,
    trailingBytes: r.remaining(),
  };
}

/** Encodes a full response frame including its INT32 size prefix. */
export function encodeResponseFrame<K extends ApiKeyNumber>(
  apiKey: K,
  apiVersion: number,
  correlationId: number,
  body: ResponseOf<K>,
): Buffer;
export function encodeResponseFrame(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  body: unknown,
): Buffer;
export function encodeResponseFrame(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  body: unknown,
): Buffer {
  const api = resolveApi(apiKey, apiVersion);
  const w = new Writer(512);
  const size = w.reserveInt32();
  encodeResponseHeader(w, { correlationId }, api.responseHeaderVersion(apiVersion));
  api.encodeResponse(w, body, apiVersion);
  w.setInt32At(size, w.length - 4);
  return w.finish();
}

/** Decodes a response frame given WITHOUT its size prefix (the caller knows which request it answers). */
export function decodeResponseFrame<K extends ApiKeyNumber>(
  apiKey: K,
  apiVersion: number,
  frame: Buffer,
): DecodedResponse<ResponseOf<K>>;
export function decodeResponseFrame(apiKey: number, apiVersion: number, frame: Buffer): DecodedResponse;
export function decodeResponseFrame(apiKey: number, apiVersion: number, frame: Buffer): DecodedResponse {
  const api = resolveApi(apiKey, apiVersion);
  const headerVersion = api.responseHeaderVersion(apiVersion);
  const r = new Reader(frame);
  const header = decodeResponseHeader(r, headerVersion);
  const body = api.decodeResponse(r, apiVersion);
  return { correlationId: header.correlationId, headerVersion, header, body, trailingBytes: r.remaining() };
}
