// Robustness: 1,000 malformed and random frames from a seeded generator, each on its own connection,
// against a live broker while a kafkajs producer keeps producing. The broker must stay up, keep
// acknowledging the producer, and never log an internal error.
import { connect } from "node:net";
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SeededRandom } from "../../harness/seed.ts";
import { BrokerProcess } from "../src/testing/broker-process.ts";

const { Kafka, logLevel } = kafkajs;
const SEED = Number(process.env.GAUNTLET_SEED ?? 20_240_611);
const FRAMES = 1000;
const CONCURRENCY = 16;

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await BrokerProcess.start({ extraArgs: ["--max-frame-bytes", String(1024 * 1024)] });
});

afterAll(async () => {
  if (broker) {
    await broker.stop();
    broker.cleanup();
  }
});

const API_KEYS = [
  0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 32, 37, 42, 44, 47, 60,
];

function bytes(rnd: SeededRandom, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rnd.int(0, 255);
  return b;
}

function frame(payload: Buffer): Buffer {
  const size = Buffer.allocUnsafe(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

function header(apiKey: number, version: number, correlationId: number, clientId = "fuzz"): Buffer {
  const h = Buffer.allocUnsafe(10 + clientId.length);
  h.writeInt16BE(apiKey, 0);
  h.writeInt16BE(version, 2);
  h.writeInt32BE(correlationId, 4);
  h.writeInt16BE(clientId.length, 8);
  h.write(clientId, 10, "latin1");
  return h;
}

/** One hostile input: the bytes to send, and a label for the summary. */
function generate(rnd: SeededRandom, i: number): { kind: string; data: Buffer } {
  switch (rnd.int(0, 8)) {
    case 0:
      return { kind: "random bytes", data: bytes(rnd, rnd.int(1, 300)) };
    case 1: {
      const payload = bytes(rnd, rnd.int(0, 200));
      const f = frame(payload);
      f.writeInt32BE(payload.length + rnd.int(1, 1000), 0);
      return { kind: "truncated frame", data: f };
    }
    case 2: {
      const f = Buffer.allocUnsafe(4);
      f.writeInt32BE(-rnd.int(1, 2 ** 31 - 1), 0);
      return { kind: "negative size", data: Buffer.concat([f, bytes(rnd, 16)]) };
    }
    case 3: {
      const f = Buffer.allocUnsafe(4);
      f.writeInt32BE(rnd.int(1024 * 1024 + 1, 2 ** 31 - 1), 0);
      return { kind: "oversized frame", data: Buffer.concat([f, bytes(rnd, 64)]) };
    }
    case 4:
      return { kind: "random payload", data: frame(bytes(rnd, rnd.int(0, 400))) };
    case 5:
      return {
        kind: "valid header, random body",
        data: frame(
          Buffer.concat([header(rnd.pick(API_KEYS), rnd.int(0, 12), i), bytes(rnd, rnd.int(0, 300))]),
        ),
      };
    case 6:
      return {
        kind: "unknown api key",
        data: frame(Buffer.concat([header(rnd.int(100, 32767), rnd.int(0, 5), i), bytes(rnd, 20)])),
      };
    case 7: {
      // A Produce v7 with a well-formed envelope but a corrupt record batch.
      const topic = Buffer.from("fuzz-target");
      const records = bytes(rnd, rnd.int(0, 120));
      const body = Buffer.alloc(2 + 2 + 4 + 4 + 2 + topic.length + 4 + 4 + 4 + records.length);
      let o = 0;
      o = body.writeInt16BE(-1, o); // transactional id: null
      o = body.writeInt16BE(1, o); // acks
      o = body.writeInt32BE(1000, o);
      o = body.writeInt32BE(1, o);
      o = body.writeInt16BE(topic.length, o);
      o += topic.copy(body, o);
      o = body.writeInt32BE(1, o);
      o = body.writeInt32BE(0, o);
      o = body.writeInt32BE(records.length, o);
      records.copy(body, o);
      return { kind: "corrupt produce batch", data: frame(Buffer.concat([header(0, 7, i), body])) };
    }
    default:
      return { kind: "unsupported ApiVersions", data: frame(header(18, rnd.int(5, 32767), i)) };
  }
}

/** Sends `data` on a fresh connection; resolves with whether the broker answered or closed. */
function probe(port: number, data: Buffer): Promise<"answered" | "closed" | "idle"> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let outcome: "answered" | "closed" | "idle" = "idle";
    const timer = setTimeout(() => socket.destroy(), 300);
    socket.on("data", () => {
      outcome = "answered";
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(outcome === "idle" && !timerFired ? "closed" : outcome);
    });
    let timerFired = false;
    timer.unref();
    setTimeout(() => {
      timerFired = true;
    }, 299).unref();
    socket.on("connect", () => socket.write(data));
  });
}

describe("malformed input", () => {
  test("1,000 hostile frames leave the broker serving a concurrent producer", async () => {
    const kafka = new Kafka({ clientId: "steady", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: "fuzz-target", numPartitions: 1 }, { topic: "steady" }],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    let acks = 0;
    let produceErrors = 0;
    let running = true;
    const steady = (async () => {
      while (running) {
        try {
          await producer.send({ topic: "steady", acks: 1, messages: [{ value: `m${acks}` }] });
          acks++;
        } catch {
          produceErrors++;
        }
      }
    })();

    const rnd = new SeededRandom(SEED, `${SEED}/malformed`);
    const inputs = Array.from({ length: FRAMES }, (_, i) => generate(rnd, i));
    const outcomes = new Map<string, number>();
    const acksBefore = acks;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < inputs.length) {
          const input = inputs[next++]!;
          const outcome = await probe(broker.port, input.data);
          const key = `${input.kind}: ${outcome}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
      }),
    );
    const acksDuring = acks - acksBefore;
    running = false;
    await steady;
    // One more produce after the storm.
    await producer.send({ topic: "steady", acks: -1, messages: [{ value: "after" }] });
    await producer.disconnect();

    console.log(`seed ${SEED}; outcomes:`, Object.fromEntries([...outcomes].sort()));
    console.log(`producer acknowledgements during the storm: ${acksDuring}`);
    expect(broker.alive).toBe(true);
    expect(produceErrors).toBe(0);
    expect(acksDuring).toBeGreaterThan(0);
    const health = await fetch(`http://127.0.0.1:${broker.adminPort}/health`);
    expect(health.status).toBe(200);
    // Malformed input is a warning about the client, never an internal error of the broker.
    const errors = broker.lines.filter((l) => /"level":(50|60)/.test(l));
    expect(errors).toEqual([]);
    const metrics = await (await fetch(`http://127.0.0.1:${broker.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/gauntlet_broker_malformed_connections_total\{[^}]*\} [1-9]/);
  });
});
