// Apache Kafka's own Java clients (the 4.x tools VerifiableProducer and VerifiableConsumer) against the
// reference broker: an idempotent acks=all producer, then a group consumer that reads everything.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { kafkaLibsDir, missingTools } from "../../harness/tools.ts";
import { BrokerProcess } from "../src/testing/broker-process.ts";

const SKIP_REASON = missingTools("java", "kafka");
const present = SKIP_REASON === undefined;
const libs = present ? kafkaLibsDir() : undefined;

let broker: BrokerProcess | undefined;

beforeAll(async () => {
  if (present) broker = await BrokerProcess.start();
});

afterAll(async () => {
  if (broker) {
    await broker.stop();
    broker.cleanup();
  }
});

type Event = { name: string; [k: string]: unknown };

/** Runs a Kafka tool class and returns its JSON event lines. */
function runTool(mainClass: string, args: string[], timeoutMs = 90_000): Promise<Event[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn("java", ["-Xmx256m", "-cp", `${libs}/*`, mainClass, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    proc.stdout.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    proc.stderr.on("data", (c: Buffer) => {
      err += c.toString("utf8");
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      const events = out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Event);
      if (code !== 0 && events.length === 0)
        reject(new Error(`${mainClass} exited ${code}: ${err.slice(-2000)}`));
      else resolve(events);
    });
  });
}

describe("Apache Kafka Java clients", () => {
  test.skipIf(!present)(
    `VerifiableProducer then VerifiableConsumer${present ? "" : ` — skipped: ${SKIP_REASON}`}`,
    async () => {
      const total = 2000;
      const produced = await runTool("org.apache.kafka.tools.VerifiableProducer", [
        "--bootstrap-server",
        broker!.bootstrap,
        "--topic",
        "java-topic",
        "--max-messages",
        String(total),
        "--acks",
        "-1",
        "--producer.config",
        "/dev/null",
      ]);
      const toolData = produced.find((e) => e.name === "tool_data");
      expect(toolData).toMatchObject({ sent: total, acked: total });
      const successes = produced.filter((e) => e.name === "producer_send_success");
      expect(successes).toHaveLength(total);
      expect(produced.filter((e) => e.name === "producer_send_error")).toEqual([]);

      const consumed = await runTool("org.apache.kafka.tools.VerifiableConsumer", [
        "--bootstrap-server",
        broker!.bootstrap,
        "--topic",
        "java-topic",
        "--group-id",
        "java-group",
        "--max-messages",
        String(total),
        "--reset-policy",
        "earliest",
      ]);
      const records = consumed
        .filter((e) => e.name === "records_consumed")
        .flatMap(
          (e) =>
            e.partitions as {
              topic: string;
              partition: number;
              count: number;
              minOffset: number;
              maxOffset: number;
            }[],
        );
      expect(records.reduce((n, p) => n + p.count, 0)).toBe(total);
      expect(Math.min(...records.map((r) => r.minOffset))).toBe(0);
      expect(Math.max(...records.map((r) => r.maxOffset))).toBe(total - 1);
      const commits = consumed.filter((e) => e.name === "offsets_committed");
      expect(commits.some((c) => c.success === true)).toBe(true);
    },
  );
});
