/**
 * Cross-checks the generated codec against kafkajs 2.2.4's hand-written protocol code
 * (node_modules/kafkajs/src/protocol): request bytes written by kafkajs decode to the values given
 * to kafkajs and re-encode to identical bytes; responses we encode are read back by kafkajs's
 * response decode+parse with the same values.
 */
import { createRequire } from "node:module";
import { describe, expect, test } from "vitest";
import { type ApiDefinition, apis } from "../generated/index.ts";
import { Reader } from "../wire/reader.ts";
import { Writer } from "../wire/writer.ts";

const require = createRequire(import.meta.url);

interface KafkajsRequest {
  apiKey: number;
  apiVersion: number;
  encode(): Promise<{ buffer: Buffer }>;
}
type KafkajsRequestFactory = (args: Record<string, unknown>) => KafkajsRequest;
interface KafkajsResponse {
  decode(raw: Buffer): Promise<Record<string, unknown>>;
  parse(decoded: Record<string, unknown>): Promise<Record<string, unknown>>;
}

function kafkajsRequest(dir: string, version: number): KafkajsRequestFactory {
  return require(`kafkajs/src/protocol/requests/${dir}/v${version}/request.js`) as KafkajsRequestFactory;
}
function kafkajsResponse(dir: string, version: number): KafkajsResponse {
  return require(`kafkajs/src/protocol/requests/${dir}/v${version}/response.js`) as KafkajsResponse;
}

function encodeWith(
  api: ApiDefinition,
  kind: "request" | "response",
  body: unknown,
  version: number,
): Buffer {
  const w = new Writer();
  if (kind === "request") api.encodeRequest(w, body, version);
  else api.encodeResponse(w, body, version);
  return Buffer.from(w.finish());
}

/** kafkajs bytes → our decoder → expected values; our encoder on the decoded value → same bytes. */
async function checkRequest(
  api: ApiDefinition,
  dir: string,
  version: number,
  kafkajsArgs: Record<string, unknown>,
  expected: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const req = kafkajsRequest(dir, version)(kafkajsArgs);
  expect(req.apiKey).toBe(api.apiKey);
  expect(req.apiVersion).toBe(version);
  const bytes = (await req.encode()).buffer;
  const r = new Reader(bytes);
  const decoded = api.decodeRequest(r, version) as Record<string, unknown>;
  expect(r.remaining()).toBe(0);
  expect(decoded).toMatchObject(expected);
  expect(encodeWith(api, "request", decoded, version).toString("hex")).toBe(bytes.toString("hex"));
  return decoded;
}

/** Our encoder → kafkajs decode+parse → expected values. */
async function checkResponse(
  api: ApiDefinition,
  dir: string,
  version: number,
  body: unknown,
  expected: Record<string, unknown>,
): Promise<void> {
  const bytes = encodeWith(api, "response", body, version);
  const { decode, parse } = kafkajsResponse(dir, version);
  const parsed = await parse(await decode(bytes));
  expect(parsed).toMatchObject(expected);
}

// ---- Produce ---------------------------------------------------------------------------------

describe("Produce", () => {
  const messages = [
    { key: "k1", value: "v1", timestamp: 1_700_000_000_000 },
    { key: null, value: "second value ✓", timestamp: 1_700_000_000_005, headers: { h: "x" } },
  ];
  test.each([0, 1, 2, 3, 4, 5, 6, 7])("request v%i", async (version) => {
    const args: Record<string, unknown> = {
      acks: -1,
      timeout: 30_000,
      transactionalId: version >= 3 ? "tx-1" : undefined,
      topicData: [
        {
          topic: "orders",
          partitions: [
            { partition: 0, messages },
            { partition: 3, messages: messages.slice(0, 1) },
          ],
        },
        { topic: "payments", partitions: [{ partition: 1, messages }] },
      ],
    };
    const decoded = await checkRequest(apis.Produce, "produce", version, args, {
      acks: -1,
      timeoutMs: 30_000,
      transactionalId: version >= 3 ? "tx-1" : null,
      topicData: [
        { name: "orders", partitionData: [{ index: 0 }, { index: 3 }] },
        { name: "payments", partitionData: [{ index: 1 }] },
      ],
    });
    // The records field is opaque bytes to the codec: a RecordBatch (v3+) or a legacy message set.
    const topicData = decoded.topicData as { partitionData: { records: Buffer | null }[] }[];
    const records = topicData[0]!.partitionData[0]!.records!;
    expect(Buffer.isBuffer(records)).toBe(true);
    if (version >= 3)
      expect(records.readInt8(16)).toBe(2); // RecordBatch magic
    else expect(records.length).toBeGreaterThan(26);
  });

  test.each([0, 1, 2, 3, 5, 7])("response v%i", async (version) => {
    const body = {
      responses: [
        {
          name: "orders",
          partitionResponses: [
            {
              index: 0,
              errorCode: 0,
              baseOffset: 1234n,
              logAppendTimeMs: 1_700_000_000_000n,
              logStartOffset: 17n,
            },
          ],
        },
      ],
      throttleTimeMs: 25,
    };
    // kafkajs names the fields offset/timestamp up to v2 and baseOffset/logAppendTime from v3.
    const partition: Record<string, unknown> =
      version >= 3
        ? { partition: 0, errorCode: 0, baseOffset: "1234" }
        : { partition: 0, errorCode: 0, offset: "1234" };
    if (version === 2) partition.timestamp = "1700000000000";
    if (version >= 3) partition.logAppendTime = "1700000000000";
    if (version >= 5) partition.logStartOffset = "17";
    const expected: Record<string, unknown> = { topics: [{ topicName: "orders", partitions: [partition] }] };
    if (version >= 1 && version < 6) expected.throttleTime = 25;
    if (version >= 6) expected.clientSideThrottleTime = 25;
    const p0 = body.responses[0]!.partitionResponses[0]!;
    if (version < 2) p0.logAppendTimeMs = -1n; // absent before v2: must hold the default
    if (version < 5) p0.logStartOffset = -1n;
    await checkResponse(apis.Produce, "produce", version, body, expected);
  });
});

// ---- Fetch -----------------------------------------------------------------------------------

describe("Fetch", () => {
  test.each([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])("request v%i", async (version) => {
    const args = {
      replicaId: -1,
      maxWaitTime: 500,
      minBytes: 1,
      maxBytes: 52_428_800,
      isolationLevel: 1,
      sessionId: 77,
      sessionEpoch: 3,
      rackId: "rack-a",
      forgottenTopics: [{ topic: "old", partitions: [4, 5] }],
      topics: [
        {
          topic: "orders",
          partitions: [
            {
              partition: 0,
              fetchOffset: "42",
              maxBytes: 1_048_576,
              currentLeaderEpoch: 9,
              logStartOffset: "5",
            },
            {
              partition: 2,
              fetchOffset: "9007199254740993",
              maxBytes: 1024,
              currentLeaderEpoch: 9,
              logStartOffset: "0",
            },
          ],
        },
      ],
    };
    const partitions = [
      { partition: 0, fetchOffset: 42n, partitionMaxBytes: 1_048_576 },
      { partition: 2, fetchOffset: 9_007_199_254_740_993n, partitionMaxBytes: 1024 },
    ];
    const expected: Record<string, unknown> = {
      replicaId: -1,
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: version >= 3 ? 52_428_800 : 0x7fffffff,
      isolationLevel: version >= 4 ? 1 : 0,
      sessionId: version >= 7 ? 77 : 0,
      sessionEpoch: version >= 7 ? 3 : -1,
      topics: [{ topic: "orders", partitions }],
      forgottenTopicsData: version >= 7 ? [{ topic: "old", partitions: [4, 5] }] : [],
      rackId: version >= 11 ? "rack-a" : "",
    };
    if (version >= 9) for (const p of partitions) Object.assign(p, { currentLeaderEpoch: 9 });
    if (version >= 5) partitions[0] = { ...partitions[0]!, ...{ logStartOffset: 5n } };
    await checkRequest(apis.Fetch, "fetch", version, args, expected);
  });

  /** A RecordBatch built by kafkajs's own encoder, so kafkajs's decoder can read it back. */
  async function kafkajsRecordBatch(): Promise<Buffer> {
    const { RecordBatch } = require("kafkajs/src/protocol/recordBatch/v0/index.js") as {
      RecordBatch: (a: Record<string, unknown>) => Promise<{ buffer: Buffer }>;
    };
    const Record = require("kafkajs/src/protocol/recordBatch/record/v0/index.js") as (
      a: Record<string, unknown>,
    ) => unknown;
    const records = [
      Record({ offsetDelta: 0, timestampDelta: 0, key: Buffer.from("k0"), value: Buffer.from("hello") }),
      Record({
        offsetDelta: 1,
        timestampDelta: 3,
        key: null,
        value: Buffer.from("wörld"),
        headers: { a: "b" },
      }),
    ];
    const batch = await RecordBatch({
      records,
      firstOffset: "100",
      firstTimestamp: 1_700_000_000_000,
      maxTimestamp: 1_700_000_000_003,
      lastOffsetDelta: 1,
    });
    return batch.buffer;
  }

  test.each([4, 5, 6, 7, 8, 9, 10, 11])("response v%i", async (version) => {
    const records = await kafkajsRecordBatch();
    const body = {
      throttleTimeMs: 12,
      errorCode: 0,
      sessionId: version >= 7 ? 77 : 0,
      responses: [
        {
          topic: "orders",
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 0,
              highWatermark: 102n,
              lastStableOffset: 101n,
              logStartOffset: version >= 5 ? 3n : -1n,
              abortedTransactions: [{ producerId: 5n, firstOffset: 90n }],
              preferredReadReplica: version >= 11 ? 2 : -1,
              records,
            },
          ],
        },
      ],
    };
    const partition: Record<string, unknown> = {
      partition: 0,
      errorCode: 0,
      highWatermark: "102",
      lastStableOffset: "101",
      abortedTransactions: [{ producerId: "5", firstOffset: "90" }],
      messages: [
        { offset: "100", key: Buffer.from("k0"), value: Buffer.from("hello") },
        { offset: "101", key: null, value: Buffer.from("wörld"), headers: { a: Buffer.from("b") } },
      ],
    };
    if (version >= 5) partition.lastStartOffset = "3";
    if (version >= 11) partition.preferredReadReplica = 2;
    const expected: Record<string, unknown> = {
      responses: [{ topicName: "orders", partitions: [partition] }],
    };
    if (version >= 7) Object.assign(expected, { errorCode: 0, sessionId: 77 });
    await checkResponse(apis.Fetch, "fetch", version, body, expected);
  });
});

// ---- Metadata --------------------------------------------------------------------------------

describe("Metadata", () => {
  test.each([0, 1, 2, 3, 4, 5, 6])("request v%i", async (version) => {
    const expected: Record<string, unknown> = {
      topics: [{ name: "orders" }, { name: "日本" }],
      allowAutoTopicCreation: version < 4, // kafkajs sends false; before v4 the default (true) applies
    };
    await checkRequest(
      apis.Metadata,
      "metadata",
      version,
      { topics: ["orders", "日本"], allowAutoTopicCreation: false },
      expected,
    );
  });

  test.each([1, 4])("request v%i with all topics (null array)", async (version) => {
    // kafkajs writes an empty topic list as a null array (-1) from v1: "all topics".
    await checkRequest(apis.Metadata, "metadata", version, { topics: [] }, { topics: null });
  });

  test.each([0, 1, 2, 3, 4, 5, 6])("response v%i", async (version) => {
    const body = {
      throttleTimeMs: version >= 3 ? 7 : 0,
      brokers: [
        { nodeId: 1, host: "broker-1", port: 9092, rack: version >= 1 ? "r1" : null },
        { nodeId: 2, host: "broker-2", port: 9093, rack: null },
      ],
      clusterId: version >= 2 ? "cluster-x" : null,
      controllerId: version >= 1 ? 2 : -1,
      topics: [
        {
          errorCode: 0,
          name: "orders",
          isInternal: false,
          partitions: [
            {
              errorCode: 0,
              partitionIndex: 0,
              leaderId: 1,
              replicaNodes: [1, 2],
              isrNodes: [1],
              offlineReplicas: version >= 5 ? [2] : [],
            },
          ],
        },
      ],
    };
    const partition: Record<string, unknown> = {
      partitionErrorCode: 0,
      partitionId: 0,
      leader: 1,
      replicas: [1, 2],
      isr: [1],
    };
    if (version >= 5) partition.offlineReplicas = [2];
    const topic: Record<string, unknown> = {
      topicErrorCode: 0,
      topic: "orders",
      partitionMetadata: [partition],
    };
    if (version >= 1) topic.isInternal = false;
    const broker1: Record<string, unknown> = { nodeId: 1, host: "broker-1", port: 9092 };
    if (version >= 1) broker1.rack = "r1";
    const expected: Record<string, unknown> = { brokers: [broker1, { nodeId: 2 }], topicMetadata: [topic] };
    if (version >= 1) expected.controllerId = 2;
    if (version >= 2) expected.clusterId = "cluster-x";
    await checkResponse(apis.Metadata, "metadata", version, body, expected);
  });
});

// ---- ApiVersions -----------------------------------------------------------------------------

describe("ApiVersions", () => {
  test.each([0, 1, 2])("request v%i", async (version) => {
    await checkRequest(apis.ApiVersions, "apiVersions", version, {}, {});
  });

  test.each([0, 1, 2])("response v%i", async (version) => {
    const apiKeys = [
      { apiKey: 0, minVersion: 0, maxVersion: 11 },
      { apiKey: 18, minVersion: 0, maxVersion: 4 },
    ];
    const body = { errorCode: 0, apiKeys, throttleTimeMs: version >= 1 ? 3 : 0 };
    const expected: Record<string, unknown> = { errorCode: 0, apiVersions: apiKeys };
    if (version === 1) expected.throttleTime = 3;
    if (version === 2) expected.clientSideThrottleTime = 3;
    await checkResponse(apis.ApiVersions, "apiVersions", version, body, expected);
  });
});

// ---- JoinGroup -------------------------------------------------------------------------------

describe("JoinGroup", () => {
  const metadata = Buffer.from([0, 1, 0, 0, 0, 1, 0, 6, 111, 114, 100, 101, 114, 115, 0, 0, 0, 0]);
  test.each([0, 1, 2, 3, 4, 5])("request v%i", async (version) => {
    const args = {
      groupId: "group-1",
      sessionTimeout: 30_000,
      rebalanceTimeout: 60_000,
      memberId: "",
      groupInstanceId: "static-☃",
      protocolType: "consumer",
      groupProtocols: [
        { name: "RoundRobinAssigner", metadata },
        { name: "range", metadata: Buffer.alloc(0) },
      ],
    };
    await checkRequest(apis.JoinGroup, "joinGroup", version, args, {
      groupId: "group-1",
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: version >= 1 ? 60_000 : -1,
      memberId: "",
      groupInstanceId: version >= 5 ? "static-☃" : null,
      protocolType: "consumer",
      protocols: [
        { name: "RoundRobinAssigner", metadata },
        { name: "range", metadata: Buffer.alloc(0) },
      ],
    });
  });

  test.each([0, 1, 2, 3, 4, 5])("response v%i", async (version) => {
    const body = {
      throttleTimeMs: version >= 2 ? 4 : 0,
      errorCode: 0,
      generationId: 3,
      protocolName: "RoundRobinAssigner",
      leader: "m-1",
      memberId: "m-2",
      members: [
        { memberId: "m-1", groupInstanceId: version >= 5 ? "i-1" : null, metadata },
        { memberId: "m-2", groupInstanceId: null, metadata: Buffer.alloc(0) },
      ],
    };
    const member1: Record<string, unknown> = { memberId: "m-1", memberMetadata: metadata };
    if (version >= 5) member1.groupInstanceId = "i-1";
    await checkResponse(apis.JoinGroup, "joinGroup", version, body, {
      errorCode: 0,
      generationId: 3,
      groupProtocol: "RoundRobinAssigner",
      leaderId: "m-1",
      memberId: "m-2",
      members: [member1, { memberId: "m-2", memberMetadata: Buffer.alloc(0) }],
    });
  });
});

// ---- SyncGroup -------------------------------------------------------------------------------

describe("SyncGroup", () => {
  const assignment = Buffer.from([0, 1, 0, 0, 0, 1, 0, 1, 97, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  test.each([0, 1, 2, 3])("request v%i", async (version) => {
    const args = {
      groupId: "group-1",
      generationId: 5,
      memberId: "m-1",
      groupInstanceId: "static-1",
      groupAssignment: [{ memberId: "m-1", memberAssignment: assignment }],
    };
    await checkRequest(apis.SyncGroup, "syncGroup", version, args, {
      groupId: "group-1",
      generationId: 5,
      memberId: "m-1",
      groupInstanceId: version >= 3 ? "static-1" : null,
      assignments: [{ memberId: "m-1", assignment }],
    });
  });

  test.each([0, 1, 2, 3])("response v%i", async (version) => {
    const body = { throttleTimeMs: version >= 1 ? 9 : 0, errorCode: 0, assignment };
    await checkResponse(apis.SyncGroup, "syncGroup", version, body, {
      errorCode: 0,
      memberAssignment: assignment,
    });
  });
});

// ---- OffsetCommit ----------------------------------------------------------------------------

describe("OffsetCommit", () => {
  test.each([0, 1, 2, 3, 4, 5])("request v%i", async (version) => {
    const args = {
      groupId: "group-1",
      groupGenerationId: 8,
      memberId: "m-1",
      retentionTime: 86_400_000,
      topics: [
        {
          topic: "orders",
          partitions: [
            { partition: 0, offset: "123", timestamp: -1 },
            { partition: 1, offset: "9223372036854775807", timestamp: 1_700_000_000_000, metadata: "meta ✓" },
          ],
        },
      ],
    };
    const partitions = [
      { partitionIndex: 0, committedOffset: 123n, committedMetadata: null },
      { partitionIndex: 1, committedOffset: 9_223_372_036_854_775_807n, committedMetadata: "meta ✓" },
    ];
    const expected: Record<string, unknown> = {
      groupId: "group-1",
      generationIdOrMemberEpoch: version >= 1 ? 8 : -1,
      memberId: version >= 1 ? "m-1" : "",
      retentionTimeMs: version >= 2 && version <= 4 ? 86_400_000n : -1n,
      topics: [{ name: "orders", partitions }],
    };
    // kafkajs v1 writes a per-partition commit timestamp; v1 is the only version with that field.
    if (version === 1) {
      Object.assign(partitions[0]!, { commitTimestamp: -1n });
      Object.assign(partitions[1]!, { commitTimestamp: 1_700_000_000_000n });
    }
    await checkRequest(apis.OffsetCommit, "offsetCommit", version, args, expected);
  });

  test.each([0, 1, 2, 3, 4, 5])("response v%i", async (version) => {
    const body = {
      throttleTimeMs: version >= 3 ? 6 : 0,
      topics: [
        {
          name: "orders",
          partitions: [
            { partitionIndex: 0, errorCode: 0 },
            { partitionIndex: 1, errorCode: 0 },
          ],
        },
      ],
    };
    await checkResponse(apis.OffsetCommit, "offsetCommit", version, body, {
      responses: [
        {
          topic: "orders",
          partitions: [
            { partition: 0, errorCode: 0 },
            { partition: 1, errorCode: 0 },
          ],
        },
      ],
    });
  });
});
