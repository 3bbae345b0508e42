// ApiVersions negotiation (incl. the KIP-511 fallback), version negotiation, and malformed requests:
// what clients hide, checked through the project's codec on raw connections.
import { expect } from "vitest";
import { ConnectionClosedError, type RawConnection } from "../../protocol/client/connection.ts";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { ApiKey, getApi } from "../../protocol/generated/index.ts";
import { decodeResponseFrame } from "../../protocol/messages.ts";
import { Writer } from "../../protocol/wire/writer.ts";
import { rawSuite } from "../context.ts";
import { codeName } from "../raw/kafka.ts";

/** The APIs every Kafka-compatible broker must advertise for ordinary clients to work. */
const CORE_APIS = [
  ApiKey.Produce,
  ApiKey.Fetch,
  ApiKey.ListOffsets,
  ApiKey.Metadata,
  ApiKey.OffsetCommit,
  ApiKey.OffsetFetch,
  ApiKey.FindCoordinator,
  ApiKey.JoinGroup,
  ApiKey.Heartbeat,
  ApiKey.LeaveGroup,
  ApiKey.SyncGroup,
  ApiKey.ApiVersions,
  ApiKey.CreateTopics,
  ApiKey.DeleteTopics,
];

/** A request header v2 + ApiVersions v3-style body at an arbitrary (unsupported) version. */
function apiVersionsFrame(version: number, correlationId: number): Buffer {
  const w = new Writer(64);
  const size = w.reserveInt32();
  w.int16(ApiKey.ApiVersions);
  w.int16(version);
  w.int32(correlationId);
  w.string("gauntlet-conformance");
  w.uvarint(0); // header tagged fields
  w.compactString("gauntlet");
  w.compactString("1.0");
  w.uvarint(0);
  w.setInt32At(size, w.length - 4);
  return w.finish();
}

async function stillServes(open: () => Promise<RawConnection>): Promise<void> {
  const other = await open();
  try {
    const res = await other.request(ApiKey.ApiVersions, 0, {});
    expect(res.errorCode).toBe(0);
  } finally {
    other.close();
  }
}

rawSuite("ApiVersions", (test) => {
  test("v0 answers NONE and advertises ApiVersions v0-v3 at least", {}, async ({ raw }) => {
    const conn = await raw.fresh();
    const res = await conn.request(ApiKey.ApiVersions, 0, {});
    expect(codeName(res.errorCode)).toBe(codeName(0));
    const av = res.apiKeys.find((k) => k.apiKey === ApiKey.ApiVersions);
    expect(av?.minVersion).toBe(0);
    expect(av?.maxVersion).toBeGreaterThanOrEqual(3);
  });

  test("v3 (flexible) with client software name and version answers NONE", {}, async ({ raw }) => {
    const conn = await raw.fresh();
    const res = await conn.request(ApiKey.ApiVersions, 3, {
      clientSoftwareName: "gauntlet-conformance",
      clientSoftwareVersion: "1.0.0",
    });
    expect(codeName(res.errorCode)).toBe(codeName(0));
    expect(res.apiKeys.length).toBeGreaterThan(5);
  });

  test("every advertised range is well formed and keys are unique", {}, async ({ raw }) => {
    const conn = await raw.fresh();
    const res = await conn.request(ApiKey.ApiVersions, 3, {
      clientSoftwareName: "gauntlet",
      clientSoftwareVersion: "1",
    });
    const keys = res.apiKeys.map((k) => k.apiKey);
    expect(new Set(keys).size).toBe(keys.length);
    for (const k of res.apiKeys) {
      expect(k.minVersion, `API ${k.apiKey}`).toBeGreaterThanOrEqual(0);
      expect(k.maxVersion, `API ${k.apiKey}`).toBeGreaterThanOrEqual(k.minVersion);
    }
  });

  test("advertises the core client APIs", {}, async ({ raw }) => {
    const ranges = await raw.apiVersions();
    const missing = CORE_APIS.filter((k) => !ranges.has(k)).map((k) => getApi(k)?.name);
    expect(missing).toEqual([]);
  });

  test("KIP-511 fallback: an unsupported high ApiVersions version gets UNSUPPORTED_VERSION in a v0 response with the broker's range", {}, async ({
    raw,
  }) => {
    const conn = await raw.fresh();
    const correlationId = conn.reserveCorrelationId();
    const frame = await conn.sendFrame(apiVersionsFrame(127, correlationId), correlationId);
    const res = decodeResponseFrame(ApiKey.ApiVersions, 0, frame);
    expect(res.correlationId).toBe(correlationId);
    expect(codeName(res.body.errorCode)).toBe(codeName(ERROR_CODES.UNSUPPORTED_VERSION));
    const av = res.body.apiKeys.find((k) => k.apiKey === ApiKey.ApiVersions);
    expect(av, "the fallback answer lists the ApiVersions range").toBeDefined();
    expect(av!.maxVersion).toBeGreaterThanOrEqual(3);
    expect(av!.maxVersion).toBeLessThan(127);
    // the connection stays usable: the client retries at a version from that range
    const again = await conn.request(ApiKey.ApiVersions, Math.min(av!.maxVersion, 4), {
      clientSoftwareName: "gauntlet",
      clientSoftwareVersion: "1",
    });
    expect(again.errorCode).toBe(0);
  });
});

rawSuite("Version negotiation", (test) => {
  test("every advertised Metadata version the codec knows is answered", {}, async ({ raw }) => {
    const range = (await raw.apiVersions()).get(ApiKey.Metadata)!;
    const api = getApi(ApiKey.Metadata)!;
    const conn = await raw.fresh();
    const answered: number[] = [];
    for (let v = Math.max(range.min, api.minVersion); v <= Math.min(range.max, api.maxVersion); v++) {
      // v0-v3 have no allowAutoTopicCreation field (it must stay at its default, true)
      const res = await conn.request(ApiKey.Metadata, v, { topics: [], allowAutoTopicCreation: v < 4 });
      expect(res.brokers.length, `Metadata v${v} brokers`).toBeGreaterThan(0);
      answered.push(v);
    }
    expect(answered.length).toBeGreaterThan(0);
  });

  test("every advertised ApiVersions version is answered with NONE", {}, async ({ raw }) => {
    const range = (await raw.apiVersions()).get(ApiKey.ApiVersions)!;
    const conn = await raw.fresh();
    for (let v = range.min; v <= Math.min(range.max, getApi(ApiKey.ApiVersions)!.maxVersion); v++) {
      const res = await conn.request(ApiKey.ApiVersions, v, {
        clientSoftwareName: "g",
        clientSoftwareVersion: "1",
      });
      expect(codeName(res.errorCode), `ApiVersions v${v}`).toBe(codeName(0));
    }
  });

  test("a Metadata request above the advertised range closes the connection; others keep working", {}, async ({
    raw,
  }) => {
    const range = (await raw.apiVersions()).get(ApiKey.Metadata)!;
    const conn = await raw.fresh();
    const correlationId = conn.reserveCorrelationId();
    const w = new Writer(32);
    const size = w.reserveInt32();
    w.int16(ApiKey.Metadata)
      .int16(range.max + 1)
      .int32(correlationId)
      .string("gauntlet");
    w.uvarint(0);
    w.uvarint(1); // empty compact topics array
    w.int8(0).int8(0);
    w.uvarint(0);
    w.setInt32At(size, w.length - 4);
    const answer = conn.sendFrame(w.finish(), correlationId, 5000).then(
      () => "answered",
      (e) => (e instanceof ConnectionClosedError ? "closed" : `error: ${(e as Error).message}`),
    );
    expect(await answer).toBe("closed");
    await stillServes(() => raw.fresh());
  });
});

rawSuite("Malformed requests", (test) => {
  test("an unknown API key closes the connection; others keep working", {}, async ({ raw }) => {
    const conn = await raw.fresh();
    const w = new Writer(32);
    const size = w.reserveInt32();
    w.int16(30_000).int16(0).int32(7).string("gauntlet");
    w.setInt32At(size, w.length - 4);
    conn.sendBytes(w.finish());
    expect(await conn.closedWithin(5000)).toBe(true);
    await stillServes(() => raw.fresh());
  });

  test("a truncated request body closes the connection; others keep working", {}, async ({ raw }) => {
    const conn = await raw.fresh();
    const v = await raw.version(ApiKey.Metadata, 8, 1); // a non-flexible version
    const w = new Writer(32);
    const size = w.reserveInt32();
    w.int16(ApiKey.Metadata).int16(v).int32(9).string("gauntlet");
    w.int32(3); // three topics announced ...
    w.int16(5); // ... the first name announced as 5 bytes, then nothing
    w.setInt32At(size, w.length - 4);
    conn.sendBytes(w.finish());
    expect(await conn.closedWithin(5000)).toBe(true);
    await stillServes(() => raw.fresh());
  });

  test("a frame of random bytes closes the connection; others keep working", {}, async ({ raw, rng }) => {
    const conn = await raw.fresh();
    const body = Buffer.alloc(64);
    for (let i = 0; i < body.length; i++) body[i] = rng.int(0, 255);
    body.writeInt16BE(ApiKey.Produce, 0); // a known API ...
    body.writeInt16BE(9, 2); // ... at a valid version, with garbage after the header
    body.writeInt32BE(11, 4);
    body.writeInt16BE(-1, 8);
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length);
    conn.sendBytes(Buffer.concat([size, body]));
    expect(await conn.closedWithin(5000)).toBe(true);
    await stillServes(() => raw.fresh());
  });

  test("a negative frame size closes the connection; others keep working", {}, async ({ raw }) => {
    const conn = await raw.fresh();
    const bytes = Buffer.alloc(8);
    bytes.writeInt32BE(-5, 0);
    conn.sendBytes(bytes);
    expect(await conn.closedWithin(5000)).toBe(true);
    await stillServes(() => raw.fresh());
  });
});
