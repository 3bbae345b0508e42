import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { parsePerfToolOutput, perfToolArgs } from "../perf-tool.ts";

// Captured from a real run: Kafka 4.3.1 ProducerPerformance against a 1-node Kafka target,
// 200000 records of 1024 bytes, acks=1.
const SAMPLE = readFileSync(join(import.meta.dirname, "fixtures", "producer-performance-4.3.1.txt"), "utf8");

test("the summary line is parsed, not the progress lines", () => {
  expect(parsePerfToolOutput(SAMPLE)).toEqual({
    records: 200000,
    recordsPerSec: 23153.507756,
    mbPerSec: 22.61,
    avgLatencyMs: 1155.12,
    maxLatencyMs: 2434,
    p50Ms: 1173,
    p95Ms: 2214,
    p99Ms: 2363,
    p999Ms: 2411,
  });
});

test("no summary (a failed run) gives undefined", () => {
  const progressOnly = SAMPLE.split("\n").slice(0, 2).join("\n");
  expect(parsePerfToolOutput(progressOnly)).toBeUndefined();
  expect(
    parsePerfToolOutput("Exception in thread main org.apache.kafka.common.errors.TimeoutException"),
  ).toBeUndefined();
});

test("numbers in exponent form and CRLF line ends", () => {
  const line =
    "1000000 records sent, 1.5E5 records/sec (146.48 MB/sec), 3.25 ms avg latency, 120.00 ms max latency, 2 ms 50th, 8 ms 95th, 15 ms 99th, 90 ms 99.9th.\r\n";
  expect(parsePerfToolOutput(line)?.recordsPerSec).toBe(150_000);
});

test("the command line has the documented shape", () => {
  const args = perfToolArgs(
    { bootstrap: "127.0.0.1:9092", topic: "t", records: 10, recordSize: 100, acks: "all", lingerMs: 5 },
    "/libs",
  );
  const i = args.indexOf("org.apache.kafka.tools.ProducerPerformance");
  expect(args.slice(i - 2, i)).toEqual(["-cp", "/libs/*"]);
  expect(args.slice(i + 1, i + 9)).toEqual([
    "--topic",
    "t",
    "--num-records",
    "10",
    "--record-size",
    "100",
    "--throughput",
    "-1",
  ]);
  expect(args).toContain("bootstrap.servers=127.0.0.1:9092");
  expect(args).toContain("acks=all");
});
