// Starts and stops the processes the harness runs (brokers, tools), and makes sure none outlives the
// harness:
//   - each process runs under the reaper (reaper.mjs) as the leader of its own process group
//     (detached), so a Ctrl-C in the terminal reaches the harness only and the harness decides;
//   - on SIGINT/SIGTERM the harness runs its shutdown hooks (e.g. Cluster.stop), then terminates
//     whatever is left (SIGTERM, SIGKILL after a bound) and exits 130/143;
//   - on 'exit' (including a crash through an uncaught exception) everything left is SIGKILLed
//     synchronously and registered temporary paths are deleted;
//   - when the harness is SIGKILLed and runs none of that, each reaper sees its stdin pipe close,
//     SIGKILLs its process and deletes its cleanup paths.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { TerminateResult } from "./types.ts";

const REAPER = join(dirname(fileURLToPath(import.meta.url)), "reaper.mjs");

export interface SpawnOptions {
  /** A name for messages, e.g. "kafka node 2". */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended to this file. */
  logFile: string;
  /** Paths the reaper deletes if the harness dies without cleaning up (e.g. the node's data dir). */
  cleanupPaths?: string[];
  /** Directories the reaper removes in that case when they are empty (e.g. the cluster's temp dir). */
  rmdirIfEmpty?: string[];
}

export interface ExitInfo {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** Whether a process exists and is not a zombie. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // The state is the field after the parenthesised command name.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return true; // no /proc: kill(pid, 0) said it exists
  }
}

function signalQuietly(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** A process started under the reaper. */
export class ManagedProcess {
  /** The real process's pid (not the reaper's). */
  readonly pid: number;
  /** The process group (the reaper's pid). */
  readonly pgid: number;
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;

  constructor(
    readonly name: string,
    reaper: ChildProcess,
    pid: number,
    exited: Promise<ExitInfo>,
  ) {
    this.pid = pid;
    this.pgid = reaper.pid!;
    this.exited = exited.then((info) => {
      this.exitInfo = info;
      return info;
    });
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** Sends a signal to the process itself (not its reaper). */
  signal(signal: NodeJS.Signals): boolean {
    return this.running && signalQuietly(this.pid, signal);
  }

  /** SIGKILL the process and waits until it and its reaper are gone. */
  async kill(): Promise<ExitInfo> {
    if (!this.running) return this.exitInfo!;
    this.signal("SIGKILL");
    const timer = setTimeout(() => signalQuietly(-this.pgid, "SIGKILL"), 3000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM (and SIGCONT, in case it is paused); SIGKILL when it has not exited within timeoutMs. */
  async terminate(timeoutMs = 30_000): Promise<TerminateResult> {
    const t0 = Date.now();
    if (!this.running) return { clean: true, ...this.exitInfo!, ms: 0 };
    this.signal("SIGTERM");
    this.signal("SIGCONT");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const first = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (first !== "timeout") return { clean: true, ...first, ms: Date.now() - t0 };
    const info = await this.kill();
    return { clean: false, ...info, ms: Date.now() - t0 };
  }

  /** Synchronous last resort (process 'exit'): SIGKILL the process; its reaper then exits on stdin EOF. */
  killSync(): void {
    if (!this.running) return;
    signalQuietly(this.pid, "SIGKILL");
    signalQuietly(this.pid, "SIGCONT");
  }
}

// ---------------------------------------------------------------------------------------------
// Process-wide registry and emergency cleanup

const live = new Set<ManagedProcess>();
const cleanupPaths = new Set<string>();
const shutdownHooks = new Set<() => Promise<void>>();
let handlersInstalled = false;
let shuttingDown = false;

function onExit(): void {
  for (const p of live) p.killSync();
  for (const path of cleanupPaths) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Best effort at exit.
    }
  }
}

function onUncaught(): void {
  // Only when nobody else handles it, i.e. the process is about to die.
  if (process.listenerCount("uncaughtException") === 0) onExit();
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  if (shuttingDown) {
    // A second Ctrl-C: stop waiting.
    onExit();
    process.exit(signal === "SIGINT" ? 130 : 143);
  }
  shuttingDown = true;
  const bound = new Promise((resolve) => setTimeout(resolve, 20_000).unref());
  await Promise.race([Promise.allSettled([...shutdownHooks].map((hook) => hook())), bound]);
  await Promise.allSettled([...live].map((p) => p.terminate(5000)));
  onExit();
  process.exit(signal === "SIGINT" ? 130 : 143);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", onExit);
  process.on("uncaughtExceptionMonitor", onUncaught);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
}

function maybeRemoveHandlers(): void {
  if (!handlersInstalled || live.size || cleanupPaths.size || shutdownHooks.size || shuttingDown) return;
  handlersInstalled = false;
  process.off("exit", onExit);
  process.off("uncaughtExceptionMonitor", onUncaught);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  process.off("SIGHUP", onSignal);
}

/** Deletes `path` when the harness exits without having unregistered it. */
export function registerCleanupPath(path: string): () => void {
  cleanupPaths.add(path);
  installHandlers();
  return () => {
    cleanupPaths.delete(path);
    maybeRemoveHandlers();
  };
}

/**
 * Runs `hook` (e.g. a graceful Cluster.stop) when the harness gets SIGINT/SIGTERM/SIGHUP, before the
 * remaining processes are terminated and the harness exits. Returns the function that unregisters it.
 */
export function registerShutdownHook(hook: () => Promise<void>): () => void {
  shutdownHooks.add(hook);
  installHandlers();
  return () => {
    shutdownHooks.delete(hook);
    maybeRemoveHandlers();
  };
}

/** The processes started and not yet exited, in this harness process. */
export function liveProcesses(): ManagedProcess[] {
  return [...live];
}

/** Starts a process under the reaper; resolves once it runs (with its real pid). */
export async function spawnManaged(opts: SpawnOptions): Promise<ManagedProcess> {
  installHandlers();
  const logFd = openSync(opts.logFile, "a");
  const reaperArgs: string[] = [REAPER];
  for (const p of opts.cleanupPaths ?? []) reaperArgs.push("--cleanup", p);
  for (const p of opts.rmdirIfEmpty ?? []) reaperArgs.push("--rmdir-if-empty", p);
  reaperArgs.push("--", opts.command, ...opts.args);
  let reaper: ChildProcess;
  try {
    reaper = spawn(process.execPath, reaperArgs, {
      detached: true,
      stdio: ["pipe", logFd, logFd, "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
  } finally {
    closeSync(logFd);
  }

  let reported: ExitInfo | undefined;
  let resolvePid: (pid: number) => void;
  let rejectPid: (err: Error) => void;
  const pidPromise = new Promise<number>((resolve, reject) => {
    resolvePid = resolve;
    rejectPid = reject;
  });
  const statusPipe = reaper.stdio[3] as NodeJS.ReadableStream | null;
  if (statusPipe) {
    createInterface({ input: statusPipe }).on("line", (line) => {
      let msg: { pid?: number; exit?: number | null; signal?: NodeJS.Signals | null; error?: string };
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.pid) resolvePid(msg.pid);
      if (msg.error) rejectPid(new Error(`Cannot start ${opts.name} (${opts.command}): ${msg.error}.`));
      if ("exit" in msg) reported = { exitCode: msg.exit ?? null, signal: msg.signal ?? null };
    });
  }
  const exited = new Promise<ExitInfo>((resolve) => {
    reaper.on("close", (code, signal) => {
      rejectPid(new Error(`${opts.name} exited before it started (reaper exit ${code ?? signal}).`));
      // The reaper killed by a signal took its process with it (a group SIGKILL).
      resolve(reported ?? { exitCode: signal ? null : code, signal: signal ?? null });
    });
  });
  reaper.on("error", (err) => rejectPid(err));
  // The stdin pipe stays open for the reaper's lifetime: its EOF means "the harness is gone".
  reaper.stdin?.on("error", () => {});

  const pid = await pidPromise;
  const proc = new ManagedProcess(opts.name, reaper, pid, exited);
  live.add(proc);
  void proc.exited.then(() => {
    live.delete(proc);
    maybeRemoveHandlers();
  });
  return proc;
}
