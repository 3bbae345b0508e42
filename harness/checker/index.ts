// Public surface of the checker: pure functions from a history to findings.
export { checkHistory } from "./check.ts";
export { findNonmonotonicPolls, findPollSkips } from "./consumer-anomalies.ts";
export {
  findDuplicates,
  findInconsistentOffsets,
  findLostWrites,
  findPhantoms,
  findUnseenWrites,
} from "./log-anomalies.ts";
export { type HistoryInput, HistoryModel } from "./model.ts";
export { findReorderedSends } from "./producer-anomalies.ts";
export { measureAvailability, measureLatency, summarize } from "./timing.ts";
export * from "./types.ts";
