// The parent's side of the worker processes: forks them with tsx, exchanges IPC messages, and makes
// sure none outlives the benchmark (killed on Ctrl-C through the harness's shutdown hooks, on exit,
// and by themselves when the IPC channel closes).
import { type ChildProcess, fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { registerShutdownHook } from "../../harness/cluster/process-supervisor.ts";
import { REPO_ROOT } from "../../harness/tools.ts";
import type { ParentToWorker, WorkerToParent } from "./protocol.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
export const PRODUCER_WORKER = join(HERE, "producer.ts");
export const CONSUMER_WORKER = join(HERE, "consumer.ts");

const live = new Set<Worker>();
let unregisterHook: (() => void) | undefined;

function killAll(): void {
  for (const w of live) w.kill();
}

/** A worker process speaking the protocol in protocol.ts. */
export class Worker {
  readonly child: ChildProcess;
  private readonly inbox: WorkerToParent[] = [];
  private waiter: { resolve: (m: WorkerToParent) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(
    readonly name: string,
    script: string,
  ) {
    this.child = fork(script, [], {
      cwd: REPO_ROOT,
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    });
    live.add(this);
    if (!unregisterHook) {
      unregisterHook = registerShutdownHook(async () => killAll());
      process.on("exit", killAll);
    }
    this.child.on("message", (m: WorkerToParent) => {
      if (m.type === "fatal") this.fail(new Error(`${this.name} failed: ${m.message}`));
      else if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(m);
      } else this.inbox.push(m);
    });
    this.child.on("exit", (code, signal) => {
      live.delete(this);
      this.fail(new Error(`${this.name} exited unexpectedly (${code ?? signal}).`));
      if (live.size === 0 && unregisterHook) {
        unregisterHook();
        unregisterHook = undefined;
        process.off("exit", killAll);
      }
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }

  send(msg: ParentToWorker): void {
    if (this.child.connected) this.child.send(msg);
  }

  /** The next message from the worker (rejects when it fails, exits or the timeout passes). */
  next<T extends WorkerToParent["type"]>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<WorkerToParent, { type: T }>> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(check(queued));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`${this.name} sent no "${type}" within ${Math.round(timeoutMs / 1000)} s.`));
      }, timeoutMs);
      this.waiter = {
        resolve: (m) => {
          clearTimeout(timer);
          try {
            resolve(check(m));
          } catch (e) {
            reject(e as Error);
          }
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
    function check(m: WorkerToParent): Extract<WorkerToParent, { type: T }> {
      if (m.type !== type) throw new Error(`expected "${type}" from the worker, got "${m.type}".`);
      return m as Extract<WorkerToParent, { type: T }>;
    }
  }

  /** Asks the worker to disconnect its client and exit; kills it when it has not within the bound. */
  async close(timeoutMs = 8000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.send({ type: "close" });
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}
