import { describe, expect, test } from "vitest";
import { configName, HelpRequested, parseArgs, parseDuration, UsageError } from "../args.ts";

function usageError(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`parseArgs(${argv.join(" ")}) did not throw`);
}

describe("parseArgs", () => {
  test("defaults", () => {
    const o = parseArgs([]);
    expect(o).toMatchObject({
      target: "kafka",
      targets: ["kafka"],
      nodes: 1,
      acks: "1",
      size: 1024,
      partitions: 1,
      durationMs: 30_000,
      warmupMs: 5_000,
      rate: undefined,
      rateFraction: undefined,
      producers: 2,
      perfTool: true,
      e2e: true,
      outDir: "reports/bench",
    });
  });

  test("every option", () => {
    const o = parseArgs([
      "--target",
      "both",
      "--nodes",
      "3",
      "--acks",
      "all",
      "--size",
      "100",
      "--partitions",
      "12",
      "--duration",
      "2m",
      "--warmup",
      "500ms",
      "--rate-fraction",
      "0.7",
      "--producers",
      "3",
      "--no-perf-tool",
      "--no-e2e",
      "--flush",
      "interval:5",
    ]);
    expect(o).toMatchObject({
      target: "both",
      targets: ["kafka", "reference"],
      nodes: 3,
      acks: "all",
      size: 100,
      partitions: 12,
      durationMs: 120_000,
      warmupMs: 500,
      rateFraction: 0.7,
      producers: 3,
      perfTool: false,
      e2e: false,
      flush: "interval:5",
    });
    expect(parseArgs(["--rate", "5000"]).rate).toBe(5000);
  });

  test("Kafka runs first when both are asked for", () => {
    expect(parseArgs(["--target", "both"]).targets).toEqual(["kafka", "reference"]);
  });

  test("bad input is one clear sentence", () => {
    const cases: [string[], string][] = [
      [["--target", "redpanda"], '--target must be kafka, reference or both, not "redpanda".'],
      [["--acks", "0"], '--acks must be 1 or all, not "0".'],
      [["--nodes", "0"], "--nodes must be between 1 and 9, not 0."],
      [["--nodes", "two"], '--nodes must be a whole number, not "two".'],
      [["--size", "8"], "--size must be between 16 and 1048576, not 8."],
      [["--partitions", "-1"], '--partitions must be a whole number, not "-1".'],
      [["--duration", "soon"], '--duration must be a duration like 30s, 500ms or 2m, not "soon".'],
      [["--duration", "100ms"], "--duration must be at least 1s, not 100 ms."],
      [["--rate", "1.5"], '--rate must be a whole number, not "1.5".'],
      [["--rate-fraction", "1.5"], '--rate-fraction must be a number above 0 and at most 1, not "1.5".'],
      [["--rate-fraction", "0"], '--rate-fraction must be a number above 0 and at most 1, not "0".'],
      [
        ["--rate", "100", "--rate-fraction", "0.5"],
        "--rate and --rate-fraction cannot be combined: pick one.",
      ],
      [
        ["--flush", "sometimes", "--target", "reference"],
        '--flush must be every-batch, interval:<ms>, group or none, not "sometimes".',
      ],
      [
        ["--flush", "group"],
        "--flush applies to the reference broker only: drop it or use --target reference or both.",
      ],
    ];
    for (const [argv, message] of cases) expect(usageError(argv), argv.join(" ")).toBe(message);
  });

  test("commander's own errors become one sentence too", () => {
    expect(usageError(["--bogus"])).toBe("Unknown option '--bogus'.");
    expect(usageError(["--target"])).toBe("Option '--target <target>' argument missing.");
    expect(usageError(["extra"])).toMatch(/^Too many arguments.*\.$/);
  });

  test("--help", () => {
    expect(() => parseArgs(["--help"])).toThrow(HelpRequested);
  });
});

describe("parseDuration", () => {
  test("units", () => {
    expect(parseDuration("30s", "x")).toBe(30_000);
    expect(parseDuration("30", "x")).toBe(30_000);
    expect(parseDuration("1.5s", "x")).toBe(1500);
    expect(parseDuration("250ms", "x")).toBe(250);
    expect(parseDuration("2m", "x")).toBe(120_000);
  });
});

test("configName is target-nodes-acks-size-partitions", () => {
  expect(configName(parseArgs(["--target", "both", "--acks", "all", "--partitions", "12"]))).toBe(
    "both-1-all-1024-12",
  );
});
