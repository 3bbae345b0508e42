/**
 * encode → decode → encode round trips for every API key, every valid version, request and
 * response, with seeded random values (nulls, empty and large arrays, tagged fields present and
 * absent, unknown tagged fields, unicode). Set CODEC_SEED to reproduce or vary a run.
 */
import { describe, expect, test } from "vitest";
import * as generated from "../generated/index.ts";
import { apis } from "../generated/index.ts";
import * as metadataRecords from "../generated/metadata/index.ts";
import {
  decodeRequestHeader,
  encodeRequestHeader,
  requestHeaderSchema,
} from "../generated/request-header.ts";
import {
  decodeResponseHeader,
  encodeResponseHeader,
  responseHeaderSchema,
} from "../generated/response-header.ts";
import {
  decodeRequestFrame,
  decodeResponseFrame,
  encodeRequestFrame,
  encodeResponseFrame,
} from "../messages.ts";
import { ProtocolError } from "../wire/errors.ts";
import { Reader } from "../wire/reader.ts";
import type { MessageSchema } from "../wire/schema.ts";
import { Writer } from "../wire/writer.ts";
import { baseSeed, deriveSeed, Random, SchemaWalker, versionList } from "./support/random-values.ts";

const SEEDS_PER_CASE = 3;
const BASE_SEED = baseSeed();
console.log(`codec-roundtrip: base seed ${BASE_SEED} (set CODEC_SEED to change)`);

type Encode = (w: Writer, msg: never, version: number) => void;
type Decode = (r: Reader, version: number) => unknown;

function encodeToBuffer(encode: Encode, msg: unknown, version: number): Buffer {
  const w = new Writer(64);
  encode(w, msg as never, version);
  return Buffer.from(w.finish());
}

/** Round-trips `SEEDS_PER_CASE` random values of `schema` at `version`. */
function roundTrip(schema: MessageSchema, encode: Encode, decode: Decode, version: number): void {
  const walker = new SchemaWalker(schema);
  for (let i = 0; i < SEEDS_PER_CASE; i++) {
    const seed = deriveSeed(BASE_SEED, `${schema.name}/${version}/${i}`);
    const original = walker.randomMessage(new Random(seed), version);
    const context = `${schema.name} v${version} seed ${seed}`;
    const bytes = encodeToBuffer(encode, original, version);
    const r = new Reader(bytes);
    const decoded = decode(r, version);
    expect(r.remaining(), `${context}: bytes left after decode`).toBe(0);
    expect(decoded, context).toEqual(walker.normalise(schema.fields, original, version));
    expect(encodeToBuffer(encode, decoded, version).equals(bytes), `${context}: re-encoding differs`).toBe(
      true,
    );
  }
}

const apiList = Object.values(apis);

describe.each(apiList.map((api) => [api.name, api] as const))("%s", (_name, api) => {
  const versions = versionList(`${api.minVersion}-${api.maxVersion}`);
  test.each(versions)("request v%i", (version) => {
    roundTrip(api.requestSchema, api.encodeRequest as Encode, api.decodeRequest, version);
  });
  test.each(versions)("response v%i", (version) => {
    roundTrip(api.responseSchema, api.encodeResponse as Encode, api.decodeResponse, version);
  });
});

describe("headers", () => {
  test.each([0, 1, 2])("request header v%i", (v) => {
    roundTrip(requestHeaderSchema, encodeRequestHeader as Encode, decodeRequestHeader, v);
  });
  test.each([0, 1])("response header v%i", (v) => {
    roundTrip(responseHeaderSchema, encodeResponseHeader as Encode, decodeResponseHeader, v);
  });
});

describe("data types", () => {
  const dataTypes = Object.entries(generated)
    .filter(([k, v]) => k.endsWith("Schema") && (v as MessageSchema).type === "data")
    .map(([, v]) => v as MessageSchema);
  test.each(dataTypes.map((s) => [s.name, s] as const))("%s", (_n, schema) => {
    const mod = generated as unknown as Record<string, unknown>;
    for (const v of versionList(schema.validVersions)) {
      roundTrip(schema, mod[`encode${schema.name}`] as Encode, mod[`decode${schema.name}`] as Decode, v);
    }
  });
});

describe("metadata records", () => {
  const types = [...metadataRecords.metadataRecordTypes.values()];
  const schemas = metadataRecords as unknown as Record<string, unknown>;
  test.each(types.map((t) => [t.name, t] as const))("%s", (_n, t) => {
    const schema = schemas[`${t.name.charAt(0).toLowerCase()}${t.name.slice(1)}Schema`] as MessageSchema;
    for (let v = t.minVersion; v <= t.maxVersion; v++) roundTrip(schema, t.encode as Encode, t.decode, v);
  });
});

describe("frames", () => {
  test.each(apiList.map((api) => [api.name, api] as const))("%s request and response frames", (_n, api) => {
    for (let version = api.minVersion; version <= api.maxVersion; version++) {
      const rnd = new Random(deriveSeed(BASE_SEED, `frame/${api.name}/${version}`));
      const request = new SchemaWalker(api.requestSchema).randomMessage(rnd, version);
      const frame = encodeRequestFrame(
        {
          apiKey: api.apiKey,
          apiVersion: version,
          correlationId: rnd.int(0, 2 ** 31 - 1),
          clientId: "gauntlet",
        },
        request,
      );
      expect(frame.readInt32BE(0)).toBe(frame.length - 4);
      const decoded = decodeRequestFrame(frame.subarray(4));
      expect(decoded.apiKey).toBe(api.apiKey);
      expect(decoded.trailingBytes).toBe(0);
      expect(decoded.headerVersion).toBe(api.requestHeaderVersion(version));
      expect(decoded.clientId).toBe(decoded.headerVersion === 0 ? "" : "gauntlet");
      const response = new SchemaWalker(api.responseSchema).randomMessage(rnd, version);
      const rframe = encodeResponseFrame(api.apiKey, version, 42, response);
      const rdecoded = decodeResponseFrame(api.apiKey, version, rframe.subarray(4));
      expect(rdecoded.correlationId).toBe(42);
      expect(rdecoded.trailingBytes).toBe(0);
    }
  });

  test("unknown API key and unsupported version are distinct errors", () => {
    const frame = encodeRequestFrame({ apiKey: 18, apiVersion: 0, correlationId: 1, clientId: null }, {});
    const body = Buffer.from(frame.subarray(4));
    body.writeInt16BE(9999, 0);
    expect(() => decodeRequestFrame(body)).toThrow(expect.objectContaining({ code: "UNKNOWN_API_KEY" }));
    body.writeInt16BE(18, 0);
    body.writeInt16BE(999, 2);
    expect(() => decodeRequestFrame(body)).toThrow(expect.objectContaining({ code: "UNSUPPORTED_VERSION" }));
  });

  test("ApiVersions responses always use header v0, ControlledShutdown v0 requests header v0", () => {
    expect(apis.ApiVersions.responseHeaderVersion(4)).toBe(0);
    expect(apis.ApiVersions.requestHeaderVersion(4)).toBe(2);
    expect(apis.ControlledShutdown.requestHeaderVersion(0)).toBe(0);
    expect(apis.ControlledShutdown.requestHeaderVersion(1)).toBe(1);
    expect(apis.Metadata.responseHeaderVersion(9)).toBe(1);
    expect(apis.Metadata.responseHeaderVersion(8)).toBe(0);
  });
});

describe("version-absent fields", () => {
  test("a non-default, non-ignorable field absent in the version is rejected", () => {
    // JoinGroup GroupInstanceId exists from v5 and is not ignorable.
    const msg = { ...apis.JoinGroup.defaultRequest(), groupInstanceId: "static-1" };
    const w = new Writer();
    expect(() => apis.JoinGroup.encodeRequest(w, msg, 4)).toThrow(ProtocolError);
    expect(() => apis.JoinGroup.encodeRequest(w, msg, 4)).toThrow(/groupInstanceId/);
  });

  test("an ignorable field absent in the version is dropped silently", () => {
    // Fetch IsolationLevel (v4+) is ignorable: writing it at v3 drops it, decoding fills the default.
    const msg = { ...apis.Fetch.defaultRequest(), isolationLevel: 1 };
    const w = new Writer();
    apis.Fetch.encodeRequest(w, msg, 3);
    const decoded = apis.Fetch.decodeRequest(new Reader(w.finish()), 3);
    expect(decoded.isolationLevel).toBe(0);
  });

  test("decoding an older version fills spec defaults", () => {
    const w = new Writer();
    apis.Fetch.encodeRequest(w, apis.Fetch.defaultRequest(), 2);
    const decoded = apis.Fetch.decodeRequest(new Reader(w.finish()), 2);
    expect(decoded.maxBytes).toBe(0x7fffffff);
    expect(decoded.rackId).toBe("");
    expect(decoded.sessionEpoch).toBe(-1);
  });

  test("null where a version does not allow it is rejected on encode", () => {
    const msg = { ...apis.Metadata.defaultRequest(), topics: null };
    expect(() => apis.Metadata.encodeRequest(new Writer(), msg, 0)).toThrow(ProtocolError);
    expect(() => apis.Metadata.encodeRequest(new Writer(), msg, 1)).not.toThrow();
  });

  test("unsupported versions are rejected by the body codecs", () => {
    expect(() => apis.Produce.encodeRequest(new Writer(), apis.Produce.defaultRequest(), 99)).toThrow(
      expect.objectContaining({ code: "UNSUPPORTED_VERSION" }),
    );
  });
});
