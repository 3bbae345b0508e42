// Public surface of the workloads module: specs, the runner (worker processes → one history) and drain.
export {
  MessagePlan,
  makeValue,
  type PlannedMessage,
  parseValue,
  RateLimiter,
  workerRandom,
} from "./plan.ts";
export * from "./progress.ts";
export {
  drain,
  liveWorkerGroups,
  type RunnerOptions,
  WORKER_MAIN,
  type WorkerEnd,
  type WorkerEntry,
  type WorkerResult,
  WorkloadRunner,
} from "./runner.ts";
export * from "./types.ts";
