// Public surface of the history module: event types, JSONL I/O and the recorder.
export * from "./jsonl.ts";
export * from "./recorder.ts";
export * from "./types.ts";
