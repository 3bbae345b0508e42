// Kafka-exact answers for: an exception inside an API handler (the API's error response with
// UNKNOWN_SERVER_ERROR, connection kept open), legacy AlterConfigs (key 33, full replacement), and
// acks=all on a topic whose min.insync.replicas exceeds its replica count (capped, as in Kafka 4.x).
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { FrameReader } from "../../protocol/framing/frame-reader.ts";
import { decodeResponseFrame, encodeRequestFrame } from "../../protocol/messages.ts";
import { encodeRecordBatch } from "../../protocol/records/record-batch.ts";
import { buildErrorResponse } from "../src/apis/error-response.ts";
import { stripResponse } from "../src/apis/strip.ts";
import { Broker } from "../src/broker.ts";
import { resolveSettings } from "../src/config.ts";
import { encodeResponseFrame } from "../src/network/wire-frames.ts";

class RawClient {
  private readonly reader = new FrameReader();
  private readonly frames: Buffer[] = [];
  private waiting: ((f: Buffer) => void) | undefined;
  private correlationId = 1;
  closed = false;
  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      for (const f of this.reader.feed(chunk)) {
        if (this.waiting) {
          const w = this.waiting;
          this.waiting = undefined;
          w(f);
        } else this.frames.push(f);
      }
    });
    socket.on("close", () => {
      this.closed = true;
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  // biome-ignore lint/suspicious/noExplicitAny: test helper over every API
  async call(apiKey: number, apiVersion: number, body: unknown): Promise<any> {
    const correlationId = this.correlationId++;
    this.socket.write(encodeRequestFrame({ apiKey, apiVersion, correlationId, clientId: "raw" }, body));
    const frame =
      this.frames.shift() ??
      (await new Promise<Buffer>((resolve) => {
        this.waiting = resolve;
      }));
    const res = decodeResponseFrame(apiKey, apiVersion, frame);
    expect(res.correlationId).toBe(correlationId);
    return res.body;
  }

  close(): void {
    this.socket.destroy();
  }
}

let broker: Broker;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "gauntlet-errors-configs-"));
  const settings = resolveSettings([
    "--node-id",
    "1",
    "--listen",
    "127.0.0.1:0",
    "--data-dir",
    dataDir,
    "--log-level",
    "silent",
  ]);
  broker = new Broker(settings, pino({ level: "silent" }));
  await broker.start();
});

afterAll(async () => {
  await broker?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const port = () => broker.listenAddress!.port;

async function createTopic(c: RawClient, name: string, configs: { name: string; value: string }[] = []) {
  const res = await c.call(19, 7, {
    topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(res.topics[0].errorCode).toBe(0);
}

async function topicConfigs(c: RawClient, name: string): Promise<Record<string, [string, number]>> {
  const res = await c.call(32, 4, {
    resources: [{ resourceType: 2, resourceName: name, configurationKeys: null }],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  expect(res.results[0].errorCode).toBe(0);
  return Object.fromEntries(
    res.results[0].configs.map((e: { name: string; value: string; configSource: number }) => [
      e.name,
      [e.value, e.configSource],
    ]),
  );
}

describe("handler exceptions", () => {
  test("every advertised API at every version has an encodable error response", () => {
    const produce = {
      transactionalId: null,
      acks: -1,
      timeoutMs: 1000,
      topicData: [{ name: "t", partitionData: [{ index: 0, records: null }] }],
    };
    for (const { apiKey, minVersion, maxVersion } of broker.dispatcher.advertised()) {
      const api = broker.dispatcher.get(apiKey)!.api;
      for (let v = minVersion; v <= maxVersion; v++) {
        const request = apiKey === 0 ? produce : api.defaultRequest();
        const res = buildErrorResponse(api, request, v, ERROR_CODES.UNKNOWN_SERVER_ERROR, "boom");
        if (res === undefined) continue;
        stripResponse(api.name, res, v);
        expect(() => encodeResponseFrame(api, v, 7, res), `${api.name} v${v}`).not.toThrow();
      }
    }
  });

  test("an exception answers UNKNOWN_SERVER_ERROR in the API's shape and keeps the connection", async () => {
    const c = await RawClient.open(port());
    await createTopic(c, "boom");
    const handlers = broker.dispatcher as unknown as { byKey: Map<number, { handle: unknown }> };
    const produce = handlers.byKey.get(0)!;
    const original = produce.handle;
    produce.handle = () => {
      throw new Error("injected failure");
    };
    try {
      const res = await c.call(0, 9, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 5000,
        topicData: [
          {
            name: "boom",
            partitionData: [
              {
                index: 0,
                records: encodeRecordBatch({
                  producerId: -1n,
                  producerEpoch: -1,
                  baseSequence: -1,
                  records: [{ key: null, value: Buffer.from("x"), timestamp: BigInt(Date.now()) }],
                }),
              },
            ],
          },
        ],
      });
      const p = res.responses[0].partitionResponses[0];
      expect(res.responses[0].name).toBe("boom");
      expect(p.index).toBe(0);
      expect(p.errorCode).toBe(ERROR_CODES.UNKNOWN_SERVER_ERROR);
      expect(p.baseOffset).toBe(-1n);
    } finally {
      produce.handle = original;
    }
    // The same connection still answers.
    const md = await c.call(3, 12, {
      topics: [{ topicId: "00000000-0000-0000-0000-000000000000", name: "boom" }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    expect(md.topics[0].errorCode).toBe(0);
    expect(c.closed).toBe(false);
    c.close();
  });
});

describe("AlterConfigs (key 33)", () => {
  test("replaces the whole set of overrides; validateOnly, unknown configs and unknown topics", async () => {
    const c = await RawClient.open(port());
    await createTopic(c, "alter-legacy", [
      { name: "max.message.bytes", value: "5000" },
      { name: "retention.ms", value: "1000" },
    ]);
    const alter = (resources: unknown[], validateOnly = false, version = 1) =>
      c.call(33, version, { resources, validateOnly });

    let res = await alter([
      {
        resourceType: 2,
        resourceName: "alter-legacy",
        configs: [{ name: "retention.ms", value: "1234567" }],
      },
    ]);
    expect(res.responses).toEqual([
      { errorCode: 0, errorMessage: null, resourceType: 2, resourceName: "alter-legacy" },
    ]);
    let configs = await topicConfigs(c, "alter-legacy");
    expect(configs["retention.ms"]).toEqual(["1234567", 1]);
    expect(configs["max.message.bytes"]).toEqual(["1048588", 5]); // not listed: back to the default

    res = await alter(
      [{ resourceType: 2, resourceName: "alter-legacy", configs: [{ name: "retention.ms", value: "5" }] }],
      true,
      2,
    );
    expect(res.responses[0].errorCode).toBe(0);
    configs = await topicConfigs(c, "alter-legacy");
    expect(configs["retention.ms"]).toEqual(["1234567", 1]); // validateOnly changed nothing

    res = await alter([
      { resourceType: 2, resourceName: "alter-legacy", configs: [{ name: "no.such.config", value: "1" }] },
      { resourceType: 2, resourceName: "no-such-topic", configs: [] },
      { resourceType: 2, resourceName: "alter-legacy-2", configs: [] },
    ]);
    expect(res.responses.map((r: { errorCode: number }) => r.errorCode)).toEqual([
      ERROR_CODES.INVALID_CONFIG,
      ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
      ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
    ]);

    res = await alter(
      [{ resourceType: 2, resourceName: "alter-legacy", configs: [{ name: "retention.ms", value: "x" }] }],
      false,
      0,
    );
    expect(res.responses[0].errorCode).toBe(ERROR_CODES.INVALID_CONFIG);

    res = await alter([{ resourceType: 2, resourceName: "alter-legacy", configs: [] }]);
    expect(res.responses[0].errorCode).toBe(0);
    configs = await topicConfigs(c, "alter-legacy");
    expect(configs["retention.ms"]).toEqual(["604800000", 5]);
    c.close();
  });
});

describe("min.insync.replicas", () => {
  test("acks=all succeeds when min.insync.replicas exceeds the replica count (capped at it)", async () => {
    const c = await RawClient.open(port());
    await createTopic(c, "min-isr-capped", [{ name: "min.insync.replicas", value: "2" }]);
    const res = await c.call(0, 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [
        {
          name: "min-isr-capped",
          partitionData: [
            {
              index: 0,
              records: encodeRecordBatch({
                producerId: -1n,
                producerEpoch: -1,
                baseSequence: -1,
                records: [{ key: null, value: Buffer.from("v"), timestamp: BigInt(Date.now()) }],
              }),
            },
          ],
        },
      ],
    });
    expect(res.responses[0].partitionResponses[0].errorCode).toBe(0);
    expect(res.responses[0].partitionResponses[0].baseOffset).toBe(0n);
    c.close();
  });
});
