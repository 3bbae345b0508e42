import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import {
  fileSink,
  formatEvent,
  formatHistory,
  type HistoryEvent,
  HistoryParseError,
  HistoryRecorder,
  manualClock,
  parseHistory,
  readHistory,
  streamSink,
} from "../history/index.ts";
import { simulateHistory } from "./support/simulated-history.ts";

const dir = mkdtempSync(join(tmpdir(), "gauntlet-history-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const validLine = (index: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ index, type: "invoke", process: "p0", f: "send", wallTime: 1, monoTime: 1, ...extra });

describe("HistoryRecorder", () => {
  it("assigns indices and times from the injected clock, and pairs completions", () => {
    const clock = manualClock({ wallStart: 1000, monoStart: 50 });
    const recorder = new HistoryRecorder({ clock });
    const inv = recorder.invoke("producer-0", "send", { topic: "t", partition: 2, key: "k", value: "v" });
    clock.advance(7.5);
    const ok = recorder.ok(inv, { offset: 41 });
    recorder.nemesis("start", "kill broker-1");
    recorder.phase("fault", "broker-1 down");
    expect(recorder.events).toEqual([
      {
        index: 0,
        type: "invoke",
        process: "producer-0",
        f: "send",
        wallTime: 1000,
        monoTime: 50,
        topic: "t",
        partition: 2,
        key: "k",
        value: "v",
      },
      {
        index: 1,
        type: "ok",
        process: "producer-0",
        f: "send",
        wallTime: 1007.5,
        monoTime: 57.5,
        topic: "t",
        partition: 2,
        key: "k",
        value: "v",
        offset: 41,
        latencyMs: 7.5,
      },
      {
        index: 2,
        type: "info",
        process: "nemesis",
        f: "nemesis",
        wallTime: 1007.5,
        monoTime: 57.5,
        fault: "start",
        description: "kill broker-1",
      },
      {
        index: 3,
        type: "info",
        process: "nemesis",
        f: "phase",
        wallTime: 1007.5,
        monoTime: 57.5,
        phase: "fault",
        description: "broker-1 down",
      },
    ]);
    expect(ok.latencyMs).toBe(7.5);
  });

  it("enforces one outstanding operation per process and matching completions", () => {
    const recorder = new HistoryRecorder({ clock: manualClock() });
    const inv = recorder.invoke("c0", "poll");
    expect(() => recorder.invoke("c0", "poll")).toThrow(/still outstanding/);
    recorder.fail(inv, "UNKNOWN");
    expect(() => recorder.ok(inv)).toThrow(/not the outstanding invoke/);
    expect(() => recorder.invoke("nemesis", "nemesis")).toThrow(/standalone/);
    expect(() => recorder.event("c0", "poll")).toThrow(/is an operation/);
    expect(recorder.event("c0", "rebalance", { partitions: [{ topic: "t", partition: 0 }] }).type).toBe(
      "info",
    );
  });

  it("writes every event to the file as it is recorded, before close", async () => {
    const path = join(dir, "incremental.jsonl");
    const recorder = new HistoryRecorder({ clock: manualClock(), sink: fileSink(path) });
    const inv = recorder.invoke("p0", "send", { topic: "t", partition: 0, value: "a" });
    expect(readFileSync(path, "utf8").split("\n").filter(Boolean)).toHaveLength(1);
    recorder.info(inv, "REQUEST_TIMED_OUT");
    const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1])).toMatchObject({
      type: "info",
      error: "REQUEST_TIMED_OUT",
      value: "a",
      latencyMs: 0,
    });
    await recorder.close();
  });

  it("close() marks outstanding invokes indeterminate", async () => {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on("data", (c) => chunks.push(String(c)));
    const recorder = new HistoryRecorder({ clock: manualClock(), sink: streamSink(stream) });
    recorder.invoke("p0", "send", { value: "a" });
    await recorder.close();
    const events = parseHistory(chunks.join(""));
    expect(events.map((e) => [e.type, e.error])).toEqual([
      ["invoke", undefined],
      ["info", "HISTORY_CLOSED"],
    ]);
    expect(recorder.pending()).toEqual([]);
  });

  it("keepEvents: false records to the sink only", () => {
    const lines: string[] = [];
    const recorder = new HistoryRecorder({
      keepEvents: false,
      sink: { write: (l) => lines.push(l), close: () => {} },
    });
    recorder.phase("warm-up");
    expect(recorder.events).toEqual([]);
    expect(lines).toHaveLength(1);
  });
});

describe("JSONL round trip", () => {
  it("formatHistory then parseHistory gives back the same events", () => {
    const { events } = simulateHistory({ seed: 4, steps: 400 });
    expect(parseHistory(formatHistory(events))).toEqual(events);
  });

  it("readHistory streams a file back", async () => {
    const { events } = simulateHistory({ seed: 5, steps: 300 });
    const path = join(dir, "roundtrip.jsonl");
    writeFileSync(path, formatHistory(events));
    expect(await readHistory(path)).toEqual(events);
  });

  it("writes fields in a fixed order and omits absent ones", () => {
    const event: HistoryEvent = {
      monoTime: 2,
      value: null,
      index: 0,
      f: "send",
      process: "p",
      type: "ok",
      wallTime: 1,
      offset: 3,
    };
    expect(formatEvent(event)).toBe(
      '{"index":0,"type":"ok","process":"p","f":"send","wallTime":1,"monoTime":2,"offset":3,"value":null}',
    );
  });

  it("skips blank lines (e.g. the trailing newline)", () => {
    expect(parseHistory(`\n${validLine(0)}\n\n${validLine(1)}\n`)).toHaveLength(2);
  });
});

describe("parse errors name the line", () => {
  const parseError = (text: string, options = {}): HistoryParseError => {
    try {
      parseHistory(text, options);
    } catch (err) {
      expect(err).toBeInstanceOf(HistoryParseError);
      return err as HistoryParseError;
    }
    throw new Error("expected a parse error");
  };

  it("invalid JSON", () => {
    const err = parseError([validLine(0), "{not json", validLine(2)].join("\n"), { source: "run.jsonl" });
    expect(err.line).toBe(2);
    expect(err.message).toMatch(/^run\.jsonl line 2: invalid JSON/);
  });

  it("a bad required field, with what was found", () => {
    const err = parseError([validLine(0), validLine(1, { type: "okay" })].join("\n"));
    expect(err.message).toBe(
      'history line 2: field "type" must be one of invoke, ok, fail, info (got "okay")',
    );
  });

  it("a missing field, an unknown operation, an unknown field", () => {
    expect(
      parseError(JSON.stringify({ index: 0, type: "ok", f: "send", wallTime: 1, monoTime: 1 })).message,
    ).toBe('history line 1: field "process" must be a non-empty string (got nothing)');
    expect(parseError(validLine(0, { f: "produce" })).message).toMatch(
      /line 1: field "f" must be one of send, poll/,
    );
    expect(parseError(validLine(0, { offest: 3 })).message).toBe('history line 1: unknown field "offest"');
  });

  it("a bad record inside values names the record", () => {
    const values = [
      { topic: "t", partition: 0, offset: 0, key: null, value: "a" },
      { topic: "t", partition: 0, offset: -1, key: null, value: "b" },
    ];
    expect(parseError(validLine(0, { values })).message).toBe(
      'history line 1: field "values" [1] .offset must be a non-negative integer (got -1)',
    );
  });

  it("indices must increase", () => {
    expect(parseError([validLine(0), validLine(5), validLine(5)].join("\n")).message).toBe(
      "history line 3: index 5 is not greater than the previous index 5",
    );
  });

  it("a crash-cut last line is an error unless allowTruncatedTail, and only at the tail", () => {
    const cut = `${validLine(0)}\n${validLine(1).slice(0, 20)}`;
    expect(parseError(cut).line).toBe(2);
    expect(parseHistory(cut, { allowTruncatedTail: true })).toHaveLength(1);
    expect(parseHistory(`${cut}\n\n`, { allowTruncatedTail: true })).toHaveLength(1);
    expect(parseError(`${cut}\n${validLine(2)}`, { allowTruncatedTail: true }).line).toBe(2);
  });

  it("readHistory names the file", async () => {
    const path = join(dir, "bad.jsonl");
    writeFileSync(path, `${validLine(0)}\n${validLine(1, { wallTime: "noon" })}\n`);
    await expect(readHistory(path)).rejects.toThrow(
      `${path} line 2: field "wallTime" must be a finite number (got "noon")`,
    );
  });
});
