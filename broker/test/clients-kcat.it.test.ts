// kcat (librdkafka CLI) against the reference broker: metadata, idempotent produce, consume, offsets.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { missingTools } from "../../harness/tools.ts";
import { BrokerProcess } from "../src/testing/broker-process.ts";

const SKIP_REASON = missingTools("kcat");
const present = SKIP_REASON === undefined;

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

function kcat(args: string[], input?: string): string {
  return execFileSync("kcat", ["-b", broker!.bootstrap, ...args], {
    input,
    encoding: "utf8",
    timeout: 60_000,
  });
}

describe("kcat", () => {
  test.skipIf(!present)(
    `metadata, idempotent produce, consume and offsets${present ? "" : ` — skipped: ${SKIP_REASON}`}`,
    () => {
      const lines = Array.from({ length: 1000 }, (_, i) => `line-${i}`);
      kcat(["-P", "-t", "kcat-topic", "-X", "enable.idempotence=true"], `${lines.join("\n")}\n`);
      const metadata = JSON.parse(kcat(["-L", "-J", "-t", "kcat-topic"])) as {
        brokers: { id: number; name: string }[];
        controllerid: number;
        topics: {
          topic: string;
          partitions: { partition: number; leader: number; replicas: { id: number }[] }[];
        }[];
      };
      expect(metadata.brokers.map((b) => b.id)).toEqual([1]);
      expect(metadata.controllerid).toBe(1);
      expect(metadata.topics[0]!.partitions[0]!.leader).toBe(1);
      const consumed = kcat(["-C", "-t", "kcat-topic", "-o", "beginning", "-e", "-q"]).trimEnd().split("\n");
      expect(consumed).toEqual(lines);
      expect(kcat(["-Q", "-t", "kcat-topic:0:-1"])).toMatch(/offset 1000/);
      expect(kcat(["-C", "-t", "kcat-topic", "-o", "-3", "-e", "-q"]).trimEnd().split("\n")).toEqual(
        lines.slice(-3),
      );
    },
  );
});
