// Progress of a workload run, and the default reporter: one status line per second on a terminal,
// nothing at all in CI or when output is not a terminal (logs stay clean).

export interface OperationCounts {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
}

export interface RunProgress {
  /** The last phase marked through the runner, or "run" before any. */
  phase: string;
  /** Milliseconds since the runner was created. */
  elapsedMs: number;
  workers: { running: number; started: number; killed: number };
  sends: OperationCounts;
  polls: OperationCounts & { records: number };
  drains: OperationCounts & { records: number };
  /** True on the last report of a run (the runner closed). */
  final: boolean;
}

export type ProgressListener = (progress: RunProgress) => void;

export function emptyCounts(): OperationCounts {
  return { invoked: 0, ok: 0, fail: 0, info: 0 };
}

/** One line, e.g. `[fault 12.0s] workers 3/3 · sends 1200 ok 1180 fail 0 info 20 · polls 300 (1100 records)`. */
export function formatProgress(p: RunProgress): string {
  const s = p.sends;
  let line = `[${p.phase} ${(p.elapsedMs / 1000).toFixed(1)}s] workers ${p.workers.running}/${p.workers.started}`;
  if (p.workers.killed) line += ` (${p.workers.killed} killed)`;
  line += ` · sends ${s.invoked} ok ${s.ok} fail ${s.fail} info ${s.info}`;
  line += ` · polls ${p.polls.ok} (${p.polls.records} records)`;
  if (p.drains.invoked) line += ` · drained ${p.drains.records}`;
  return line;
}

export interface ReporterOptions {
  stream?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
}

/**
 * The default progress reporter: rewrites one status line on a TTY, ending it with a newline on the
 * final report. Returns undefined (report nothing) when CI=true or the stream is not a terminal.
 */
export function defaultProgressReporter(options: ReporterOptions = {}): ProgressListener | undefined {
  const stream = options.stream ?? process.stderr;
  const env = options.env ?? process.env;
  const ci = env.CI !== undefined && env.CI !== "" && env.CI !== "0" && env.CI.toLowerCase() !== "false";
  if (ci || !stream.isTTY) return undefined;
  return (p) => {
    const line = formatProgress(p);
    const width = stream.columns ? stream.columns - 1 : line.length;
    stream.write(
      `\r${line.slice(0, width).padEnd(Math.min(width, line.length))}\x1b[K${p.final ? "\n" : ""}`,
    );
  };
}
