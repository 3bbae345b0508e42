// JSONL encoding of histories: one event per line, fields in a fixed order, absent fields omitted.
// Parsing validates every field, so a hand-edited or truncated history fails with the line to look at
// rather than confusing the checker.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { EVENT_TYPES, type HistoryEvent, OPERATIONS } from "./types.ts";

/** A history line that does not parse; `line` is 1-based. */
export class HistoryParseError extends Error {
  readonly line: number;
  readonly source: string;
  constructor(source: string, line: number, problem: string) {
    super(`${source} line ${line}: ${problem}`);
    this.name = "HistoryParseError";
    this.line = line;
    this.source = source;
  }
}

export interface ParseOptions {
  /** Names the input in error messages, e.g. the file path. Default "history". */
  source?: string;
  /**
   * Ignore a final line that is not valid JSON. A crash can cut the last write short; every complete
   * line before it is still good. Default false.
   */
  allowTruncatedTail?: boolean;
}

// Fixed field order keeps files diffable and readable.
const FIELD_ORDER: readonly (keyof HistoryEvent)[] = [
  "index",
  "type",
  "process",
  "f",
  "wallTime",
  "monoTime",
  "topic",
  "partition",
  "offset",
  "key",
  "value",
  "values",
  "endOffsets",
  "partitions",
  "error",
  "producerId",
  "latencyMs",
  "fault",
  "description",
  "phase",
];
const KNOWN_FIELDS: ReadonlySet<string> = new Set(FIELD_ORDER);
const TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);
const OPS: ReadonlySet<string> = new Set(OPERATIONS);

/** One event as one JSON line (no trailing newline). */
export function formatEvent(event: HistoryEvent): string {
  const ordered: Record<string, unknown> = {};
  for (const field of FIELD_ORDER) {
    const value = event[field];
    if (value !== undefined) ordered[field] = value;
  }
  return JSON.stringify(ordered);
}

/** A whole history as JSONL text, one event per line, ending with a newline. */
export function formatHistory(events: Iterable<HistoryEvent>): string {
  let out = "";
  for (const event of events) out += `${formatEvent(event)}\n`;
  return out;
}

type Check = (value: unknown) => string | undefined;

const describe = (value: unknown): string => (value === undefined ? "nothing" : JSON.stringify(value));
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isNonNegInt = (v: unknown): v is number => isInt(v) && v >= 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStringOrNull = (v: unknown): boolean => v === null || typeof v === "string";
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const nonNegInt: Check = (v) => (isNonNegInt(v) ? undefined : "must be a non-negative integer");
const finite: Check = (v) => (isFiniteNumber(v) ? undefined : "must be a finite number");
const string: Check = (v) => (typeof v === "string" ? undefined : "must be a string");
const nonEmptyString: Check = (v) =>
  typeof v === "string" && v !== "" ? undefined : "must be a non-empty string";
const stringOrNull: Check = (v) => (isStringOrNull(v) ? undefined : "must be a string or null");
const oneOf =
  (allowed: ReadonlySet<string>): Check =>
  (v) =>
    typeof v === "string" && allowed.has(v) ? undefined : `must be one of ${[...allowed].join(", ")}`;

function arrayOf(itemCheck: (item: Record<string, unknown>) => string | undefined): Check {
  return (v) => {
    if (!Array.isArray(v)) return "must be an array";
    for (let i = 0; i < v.length; i++) {
      const item = v[i];
      const problem = isObject(item) ? itemCheck(item) : "must be an object";
      if (problem) return `[${i}] ${problem}`;
    }
    return undefined;
  };
}

const topicPartitionProblem = (item: Record<string, unknown>): string | undefined => {
  if (typeof item.topic !== "string") return `.topic must be a string (got ${describe(item.topic)})`;
  if (!isNonNegInt(item.partition))
    return `.partition must be a non-negative integer (got ${describe(item.partition)})`;
  return undefined;
};
const partitionOffsetProblem = (item: Record<string, unknown>): string | undefined =>
  topicPartitionProblem(item) ??
  (isNonNegInt(item.offset)
    ? undefined
    : `.offset must be a non-negative integer (got ${describe(item.offset)})`);
const recordProblem = (item: Record<string, unknown>): string | undefined =>
  partitionOffsetProblem(item) ??
  (isStringOrNull(item.key) ? undefined : `.key must be a string or null (got ${describe(item.key)})`) ??
  (isStringOrNull(item.value) ? undefined : `.value must be a string or null (got ${describe(item.value)})`);

const REQUIRED: readonly [keyof HistoryEvent, Check][] = [
  ["index", nonNegInt],
  ["type", oneOf(TYPES)],
  ["process", nonEmptyString],
  ["f", oneOf(OPS)],
  ["wallTime", finite],
  ["monoTime", finite],
];
const OPTIONAL: readonly [keyof HistoryEvent, Check][] = [
  ["topic", string],
  ["partition", nonNegInt],
  ["offset", nonNegInt],
  ["key", stringOrNull],
  ["value", stringOrNull],
  ["values", arrayOf(recordProblem)],
  ["endOffsets", arrayOf(partitionOffsetProblem)],
  ["partitions", arrayOf(topicPartitionProblem)],
  ["error", string],
  ["producerId", (v) => (isInt(v) ? undefined : "must be an integer")],
  ["latencyMs", finite],
  ["fault", oneOf(new Set(["start", "stop"]))],
  ["description", string],
  ["phase", string],
];

/** Validates one decoded JSON value as an event; returns the problem or the event. */
function validateEvent(raw: unknown): string | HistoryEvent {
  if (!isObject(raw)) return `expected a JSON object, got ${describe(raw)}`;
  for (const [field, check] of REQUIRED) {
    const problem = check(raw[field]);
    if (problem) return `field "${field}" ${problem} (got ${describe(raw[field])})`;
  }
  for (const [field, check] of OPTIONAL) {
    if (raw[field] === undefined) continue;
    const problem = check(raw[field]);
    if (problem)
      return `field "${field}" ${problem.startsWith("[") ? problem : `${problem} (got ${describe(raw[field])})`}`;
  }
  for (const field of Object.keys(raw)) {
    if (!KNOWN_FIELDS.has(field)) return `unknown field "${field}"`;
  }
  return raw as unknown as HistoryEvent;
}

/**
 * Incremental parser: feed lines in order, then call `finish()`. Used by both `parseHistory` and the
 * streaming `readHistory`.
 */
class HistoryLineParser {
  readonly events: HistoryEvent[] = [];
  private lineNo = 0;
  private lastIndex = -1;
  /** A line that failed JSON parsing; fatal unless it turns out to be the last line. */
  private pendingBadLine: { lineNo: number; message: string } | undefined;
  private readonly source: string;
  private readonly allowTruncatedTail: boolean;

  constructor(options: ParseOptions) {
    this.source = options.source ?? "history";
    this.allowTruncatedTail = options.allowTruncatedTail ?? false;
  }

  push(line: string): void {
    this.lineNo++;
    if (line.trim() === "") return;
    // Another non-blank line follows the bad one, so it was not a crash-cut tail after all.
    if (this.pendingBadLine) this.fail(this.pendingBadLine.lineNo, this.pendingBadLine.message);
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      const message = `invalid JSON (${(err as Error).message})`;
      if (this.allowTruncatedTail) {
        this.pendingBadLine = { lineNo: this.lineNo, message };
        return;
      }
      this.fail(this.lineNo, message);
    }
    const result = validateEvent(raw);
    if (typeof result === "string") this.fail(this.lineNo, result);
    const event = result as HistoryEvent;
    if (event.index <= this.lastIndex) {
      this.fail(this.lineNo, `index ${event.index} is not greater than the previous index ${this.lastIndex}`);
    }
    this.lastIndex = event.index;
    this.events.push(event);
  }

  finish(): HistoryEvent[] {
    // A bad final line is tolerated only with allowTruncatedTail: it is the crash-cut last write.
    return this.events;
  }

  private fail(lineNo: number, problem: string): never {
    throw new HistoryParseError(this.source, lineNo, problem);
  }
}

/** Parses JSONL text or lines into events. Throws HistoryParseError naming the first bad line. */
export function parseHistory(input: string | Iterable<string>, options: ParseOptions = {}): HistoryEvent[] {
  const parser = new HistoryLineParser(options);
  const lines = typeof input === "string" ? input.split("\n") : input;
  for (const line of lines) parser.push(line);
  return parser.finish();
}

/** Reads a JSONL history file, streaming so large histories do not need one giant string. */
export async function readHistory(path: string, options: ParseOptions = {}): Promise<HistoryEvent[]> {
  const parser = new HistoryLineParser({ source: path, ...options });
  const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  for await (const line of lines) parser.push(line);
  return parser.finish();
}
