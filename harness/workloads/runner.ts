// The runner: starts one child process per worker, records the events they send over IPC through one
// HistoryRecorder (one JSONL file per run), enforces deadlines, and makes sure no worker outlives it.
//
//   spec ──spawn──▶ worker-main.ts (child) ──IPC {invoke, complete, event}──▶ runner ──▶ HistoryRecorder ──▶ JSONL
//
// Worker ids: operation ids are local to a worker; the runner maps them to the invoke events it
// recorded, so when a worker dies (SIGKILLed after `stop` took too long, killed on purpose, crashed)
// its outstanding invokes are completed as `info` (WORKER_KILLED / WORKER_CRASHED / WORKER_EXITED) and
// the history stays well-formed.
//
// No orphans: each worker is the leader of its own process group (detached, so a terminal's Ctrl-C
// reaches the runner only). The runner SIGKILLs every group synchronously on process exit and, through
// the cluster supervisor's shutdown hooks, on SIGINT/SIGTERM/SIGHUP; a worker also kills itself when
// its IPC channel to the runner closes (the runner died, even by SIGKILL).
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readFileSync, type WriteStream } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { registerShutdownHook } from "../cluster/process-supervisor.ts";
import { type EventFields, fileSink, HistoryRecorder } from "../history/recorder.ts";
import type { HistoryEvent } from "../history/types.ts";
import { defaultProgressReporter, emptyCounts, type ProgressListener, type RunProgress } from "./progress.ts";
import {
  type DrainSpec,
  type ParentMessage,
  validateDrainSpec,
  validateSpec,
  type WorkerMessage,
  type WorkloadSpec,
  WorkloadSpecError,
} from "./types.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
export const WORKER_MAIN = join(HERE, "worker-main.ts");

/** The file URL of tsx's loader, so workers start with `node --import <it>` from any cwd. */
function tsxLoaderUrl(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve("tsx/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { exports: Record<string, unknown> };
  const main = pkg.exports["."];
  if (typeof main !== "string") throw new Error("Cannot find tsx's loader entry in its package.json.");
  return pathToFileURL(join(dirname(pkgPath), main)).href;
}

let loaderUrl: string | undefined;

// ---------------------------------------------------------------------------------------------
// Process-wide safety net: every live worker's group is SIGKILLed when the runner's process ends.

const liveGroups = new Set<number>();
let exitHandlerInstalled = false;
let unregisterHook: (() => void) | undefined;

function killGroupSync(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function killAllSync(): void {
  for (const pgid of liveGroups) killGroupSync(pgid);
}

function trackGroup(pgid: number): void {
  liveGroups.add(pgid);
  if (!exitHandlerInstalled) {
    exitHandlerInstalled = true;
    process.on("exit", killAllSync);
  }
  unregisterHook ??= registerShutdownHook(async () => killAllSync());
}

function untrackGroup(pgid: number): void {
  liveGroups.delete(pgid);
  if (liveGroups.size === 0 && unregisterHook) {
    unregisterHook();
    unregisterHook = undefined;
  }
}

/** Process-group ids of workers still running in this process (for leak checks). */
export function liveWorkerGroups(): number[] {
  return [...liveGroups];
}

// ---------------------------------------------------------------------------------------------

export type WorkerEnd = "done" | "fatal" | "killed" | "crashed";

export interface WorkerResult {
  workerId: string;
  pid: number;
  end: WorkerEnd;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The worker's own summary ("sent 500") or its fatal error. */
  message: string;
  /** Invokes the runner had to complete as info because the worker ended without completing them. */
  unfinished: number;
}

export interface RunnerOptions {
  /** Record into a new JSONL file here (written event by event). Ignored when `recorder` is given. */
  historyPath?: string;
  /** Record into an existing recorder (e.g. shared with the nemesis); the runner does not close it. */
  recorder?: HistoryRecorder;
  /** How long a worker may take to finish after `stop` before it is SIGKILLed. Default 15 s. */
  stopGraceMs?: number;
  /** How long a worker may take to connect and report ready. Default 30 s. */
  readyTimeoutMs?: number;
  /** Progress reports; default: defaultProgressReporter() (a TTY status line, quiet in CI). null = none. */
  onProgress?: ProgressListener | null;
  progressIntervalMs?: number;
  /** Append every worker's stderr to `${logDir}/${workerId}.log`. Default: keep only a tail in memory. */
  logDir?: string;
  /** Extra environment for workers. */
  env?: NodeJS.ProcessEnv;
}

export interface WorkerEntry {
  spec: WorkloadSpec;
  /** Default `${role}-${n}`. Unique within the run; also the default value prefix. */
  id?: string;
}

interface Worker {
  id: string;
  child: ChildProcess;
  pid: number;
  outstanding: Map<number, HistoryEvent>;
  ready: Promise<void>;
  closed: Promise<WorkerResult>;
  killedByRunner: boolean;
  running: boolean;
  ended?: { end: "done" | "fatal"; message: string };
  stderrTail: string;
  log?: WriteStream;
}

const STDERR_TAIL = 4000;

export class WorkloadRunner {
  readonly recorder: HistoryRecorder;
  private readonly ownsRecorder: boolean;
  private readonly options: RunnerOptions;
  private readonly workers = new Map<string, Worker>();
  private readonly prefixes = new Set<string>();
  private readonly roleCounts = new Map<string, number>();
  private nextProducerId = 1;
  private readonly t0 = performance.now();
  private readonly progress: Omit<RunProgress, "elapsedMs" | "final">;
  private readonly listener: ProgressListener | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: RunnerOptions = {}) {
    this.options = options;
    if (options.recorder) {
      this.recorder = options.recorder;
      this.ownsRecorder = false;
    } else {
      this.recorder = new HistoryRecorder(options.historyPath ? { sink: fileSink(options.historyPath) } : {});
      this.ownsRecorder = true;
    }
    this.progress = {
      phase: "run",
      workers: { running: 0, started: 0, killed: 0 },
      sends: emptyCounts(),
      polls: { ...emptyCounts(), records: 0 },
      drains: { ...emptyCounts(), records: 0 },
    };
    this.listener =
      options.onProgress === null ? undefined : (options.onProgress ?? defaultProgressReporter());
    if (this.listener) {
      this.timer = setInterval(() => this.report(false), options.progressIntervalMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Events recorded so far (when the recorder keeps them). */
  get events(): readonly HistoryEvent[] {
    return this.recorder.events;
  }

  snapshot(final = false): RunProgress {
    return structuredClone({ ...this.progress, elapsedMs: performance.now() - this.t0, final });
  }

  /** Marks a phase in the history and in progress reports. */
  phase(name: string, description?: string): void {
    this.recorder.phase(name, description);
    this.progress.phase = name;
  }

  /** Starts workers and resolves when every one of them is connected (ready). */
  async start(entries: WorkerEntry[]): Promise<string[]> {
    const planned = entries.map((entry, i) => {
      const spec = validateSpec(entry.spec, `workers[${i}].spec`);
      const id = entry.id ?? this.nextId(spec.role);
      return { id, spec };
    });
    // Check every id and value prefix before starting anything.
    const ids = new Set<string>();
    const prefixes = new Set<string>();
    for (const { id, spec } of planned) {
      if (!/^[A-Za-z0-9._:/-]+$/.test(id)) {
        throw new WorkloadSpecError(`Worker id "${id}" may contain only letters, digits and . _ : / -.`);
      }
      if (this.workers.has(id) || ids.has(id))
        throw new WorkloadSpecError(`Worker id "${id}" is used twice in this run.`);
      ids.add(id);
      if (spec.role === "producer") {
        const prefix = spec.valuePrefix ?? id;
        if (this.prefixes.has(prefix) || prefixes.has(prefix)) {
          throw new WorkloadSpecError(
            `Value prefix "${prefix}" is used by two producers in this run; values would not be unique.`,
          );
        }
        prefixes.add(prefix);
      }
    }
    for (const p of prefixes) this.prefixes.add(p);
    const started = planned.map(({ id, spec }) =>
      this.spawnWorker(id, {
        t: "start",
        workerId: id,
        producerId: this.nextProducerId++,
        job: { kind: "workload", spec },
      }),
    );
    try {
      await Promise.all(started.map((w) => w.ready));
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    return started.map((w) => w.id);
  }

  /** Resolves when every worker has ended on its own (duration or maxMessages reached), or timeoutMs passed. */
  async wait(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const all = Promise.all([...this.workers.values()].map((w) => w.closed)).then(() => true);
    if (!Number.isFinite(timeoutMs)) return all;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([all, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Asks the given workers (default: all) to stop, waits up to graceMs for them to finish, then
   * SIGKILLs the rest. Resolves with every stopped worker's result.
   */
  async stop(graceMs = this.options.stopGraceMs ?? 15_000, workerIds?: string[]): Promise<WorkerResult[]> {
    const targets = workerIds ? workerIds.map((id) => this.worker(id)) : [...this.workers.values()];
    for (const w of targets) {
      if (w.running && w.child.connected) w.child.send({ t: "stop" } satisfies ParentMessage, () => {});
    }
    const timer = setTimeout(() => {
      for (const w of targets) if (w.running) this.killNow(w);
    }, graceMs);
    try {
      return await Promise.all(targets.map((w) => w.closed));
    } finally {
      clearTimeout(timer);
    }
  }

  /** How many operations of one worker are invoked and not yet completed. */
  outstanding(workerId: string): number {
    return this.worker(workerId).outstanding.size;
  }

  /** SIGKILLs one worker now (a client crash); its outstanding operations become info WORKER_KILLED. */
  async kill(workerId: string): Promise<WorkerResult> {
    const w = this.worker(workerId);
    this.killNow(w);
    return w.closed;
  }

  /** The pid of a worker's process. */
  pid(workerId: string): number {
    return this.worker(workerId).pid;
  }

  /** Pids of every worker process this runner started that has not been reaped yet. */
  livePids(): number[] {
    return [...this.workers.values()].filter((w) => w.running).map((w) => w.pid);
  }

  /**
   * The final read: a worker process reads whole partitions of the topic from the log start to their
   * high watermarks and records one drain invoke/ok (values and endOffsets). Resolves with the drain's
   * completion event. Run it after healing, before checking.
   */
  async drain(spec: DrainSpec & { process?: string }): Promise<HistoryEvent> {
    const { process: proc, ...rest } = spec;
    const checked = validateDrainSpec(rest);
    const id = proc ?? this.nextId("drain");
    if (this.workers.has(id)) throw new WorkloadSpecError(`Worker id "${id}" is used twice in this run.`);
    const w = this.spawnWorker(id, {
      t: "start",
      workerId: id,
      producerId: 0,
      job: { kind: "drain", spec: checked, process: id },
    });
    const bound = (checked.deadlineMs ?? 60_000) + (this.options.readyTimeoutMs ?? 30_000) + 15_000;
    const timer = setTimeout(() => this.killNow(w), bound);
    let result: WorkerResult;
    try {
      result = await w.closed;
    } finally {
      clearTimeout(timer);
    }
    const completion = [...this.recorder.events]
      .reverse()
      .find((e) => e.process === id && e.f === "drain" && e.type !== "invoke");
    if (!completion) {
      throw new Error(
        `Drain worker ${id} recorded no drain (${result.end}: ${result.message}).${this.tail(w)}`,
      );
    }
    return completion;
  }

  /**
   * Stops every worker still running (with the grace period), sends the final progress report and
   * closes the recorder if the runner created it. Returns the history.
   */
  async close(): Promise<readonly HistoryEvent[]> {
    if (this.closed) return this.events;
    await this.stop();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.report(true);
    if (this.ownsRecorder) await this.recorder.close("RUNNER_CLOSED");
    return this.events;
  }

  // -------------------------------------------------------------------------------------------

  private nextId(role: string): string {
    for (;;) {
      const n = this.roleCounts.get(role) ?? 0;
      this.roleCounts.set(role, n + 1);
      const id = `${role}-${n}`;
      if (!this.workers.has(id)) return id;
    }
  }

  private worker(id: string): Worker {
    const w = this.workers.get(id);
    if (!w)
      throw new Error(
        `No worker "${id}" in this run (workers: ${[...this.workers.keys()].join(", ") || "none"}).`,
      );
    return w;
  }

  private report(final: boolean): void {
    if (!this.listener) return;
    try {
      this.listener(this.snapshot(final));
    } catch {
      // A broken reporter must not break the run.
    }
  }

  private tail(w: Worker): string {
    const text = w.stderrTail.trim();
    return text ? ` Last worker output:\n${text}` : "";
  }

  private killNow(w: Worker): void {
    if (!w.running) return;
    w.killedByRunner = true;
    killGroupSync(w.pid);
  }

  private spawnWorker(id: string, start: Extract<ParentMessage, { t: "start" }>): Worker {
    if (this.closed) throw new Error("This workload runner is closed.");
    loaderUrl ??= tsxLoaderUrl();
    const child = spawn(process.execPath, ["--import", loaderUrl, WORKER_MAIN], {
      detached: true,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      env: { ...process.env, ...this.options.env },
    });
    if (child.pid === undefined) throw new Error(`Cannot start worker ${id}: spawn failed.`);
    const pid = child.pid;
    trackGroup(pid);
    // The IPC channel must not keep the runner's process alive on its own.
    child.unref();
    const w: Worker = {
      id,
      child,
      pid,
      outstanding: new Map(),
      ready: Promise.resolve(),
      closed: Promise.resolve(undefined as unknown as WorkerResult),
      killedByRunner: false,
      running: true,
      stderrTail: "",
    };
    if (this.options.logDir)
      w.log = createWriteStream(join(this.options.logDir, `${id}.log`), { flags: "a" });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      w.stderrTail = (w.stderrTail + chunk).slice(-STDERR_TAIL);
      w.log?.write(chunk);
    });
    this.workers.set(id, w);
    this.progress.workers.started++;
    this.progress.workers.running++;

    let resolveReady!: () => void;
    let rejectReady!: (err: Error) => void;
    w.ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    w.ready.catch(() => {}); // observed by start(); never an unhandled rejection
    const readyTimer = setTimeout(() => {
      rejectReady(
        new Error(
          `Worker ${id} did not connect within ${this.options.readyTimeoutMs ?? 30_000} ms.${this.tail(w)}`,
        ),
      );
      this.killNow(w);
    }, this.options.readyTimeoutMs ?? 30_000);

    // The ready bound covers connecting only: once the worker reports ready, its timer must not fire.
    const markReady = () => {
      clearTimeout(readyTimer);
      resolveReady();
    };
    child.on("message", (message: WorkerMessage) => {
      try {
        this.onMessage(w, message, markReady);
      } catch (err) {
        w.stderrTail += `\n[runner] ${(err as Error).message}`;
      }
    });
    w.closed = new Promise<WorkerResult>((resolve) => {
      child.on("error", (err) => {
        w.stderrTail += `\n[runner] ${err.message}`;
      });
      child.on("close", (exitCode, signal) => {
        clearTimeout(readyTimer);
        w.running = false;
        untrackGroup(pid);
        this.progress.workers.running--;
        const end: WorkerEnd = w.killedByRunner ? "killed" : (w.ended?.end ?? "crashed");
        if (end === "killed") this.progress.workers.killed++;
        const reason =
          end === "killed" ? "WORKER_KILLED" : end === "done" ? "WORKER_EXITED" : "WORKER_CRASHED";
        const unfinished = w.outstanding.size;
        for (const invoke of [...w.outstanding.values()].sort((a, b) => a.index - b.index)) {
          this.recorder.info(invoke, reason);
          this.count(invoke, "info");
        }
        w.outstanding.clear();
        const message = w.ended?.message ?? `exited with ${signal ?? `code ${exitCode}`}`;
        rejectReady(new Error(`Worker ${id} ended before it was ready: ${message}.${this.tail(w)}`));
        w.log?.end();
        resolve({ workerId: id, pid, end, exitCode, signal, message, unfinished });
      });
    });
    child.send(start);
    return w;
  }

  private onMessage(w: Worker, message: WorkerMessage, ready: () => void): void {
    switch (message.t) {
      case "ready":
        ready();
        return;
      case "invoke": {
        if (!message.process.startsWith(w.id)) {
          throw new Error(`worker ${w.id} recorded for process ${message.process}, which is not its own`);
        }
        const event = this.recorder.invoke(message.process, message.f, message.fields);
        w.outstanding.set(message.id, event);
        this.count(event, "invoke");
        return;
      }
      case "complete": {
        const invoke = w.outstanding.get(message.id);
        if (!invoke) throw new Error(`worker ${w.id} completed unknown operation ${message.id}`);
        w.outstanding.delete(message.id);
        const event = this.recorder.complete(invoke, message.type, message.fields as EventFields);
        this.count(event, message.type);
        return;
      }
      case "event":
        this.recorder.event(message.process, message.f, message.fields);
        return;
      case "log":
        w.stderrTail = `${w.stderrTail}[log] ${message.message}\n`.slice(-STDERR_TAIL);
        w.log?.write(`[log] ${message.message}\n`);
        return;
      case "done":
        w.ended = { end: "done", message: message.reason };
        return;
      case "fatal":
        w.ended = { end: "fatal", message: message.message };
        w.stderrTail = `${w.stderrTail}[fatal] ${message.message}\n`.slice(-STDERR_TAIL);
        return;
    }
  }

  private count(event: HistoryEvent, type: "invoke" | "ok" | "fail" | "info"): void {
    const p = this.progress;
    const bucket =
      event.f === "send"
        ? p.sends
        : event.f === "poll"
          ? p.polls
          : event.f === "drain"
            ? p.drains
            : undefined;
    if (!bucket) return;
    if (type === "invoke") bucket.invoked++;
    else bucket[type]++;
    if (type !== "ok" || !event.values) return;
    if (event.f === "poll") p.polls.records += event.values.length;
    else if (event.f === "drain") p.drains.records += event.values.length;
  }
}

/**
 * Drains a topic into an existing recorder with a one-off runner (see WorkloadRunner.drain): every
 * partition (or the given ones) from the log start to its high watermark, as one drain invoke/ok.
 */
export async function drain(
  options: DrainSpec & { recorder: HistoryRecorder; process?: string; onProgress?: ProgressListener | null },
): Promise<HistoryEvent> {
  const { recorder, onProgress, ...spec } = options;
  const runner = new WorkloadRunner({ recorder, onProgress: onProgress ?? null });
  try {
    return await runner.drain(spec);
  } finally {
    await runner.close();
  }
}
