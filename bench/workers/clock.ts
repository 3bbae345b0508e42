// A clock shared by every process on the machine: CLOCK_MONOTONIC (process.hrtime) in milliseconds,
// read cheaply through performance.now() plus an offset taken once at start-up.
import { performance } from "node:perf_hooks";

const offsetMs = Number(process.hrtime.bigint() / 1000n) / 1000 - performance.now();

/** Milliseconds on the machine-wide monotonic clock (comparable across processes). */
export function monoMs(): number {
  return performance.now() + offsetMs;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sleeps until the monotonic clock reaches `at` (ms). */
export async function sleepUntil(at: number): Promise<void> {
  const wait = at - monoMs();
  if (wait > 0) await sleep(wait);
}
