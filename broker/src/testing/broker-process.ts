/**
 * Test support: runs the reference broker as a real child process (node + tsx loader, no npm in
 * between so signals reach it), waits for its `broker ready` log line and cleans up after itself.
 * Used by broker/test/*.it.test.ts only.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const BROKER_MAIN = join(REPO_ROOT, "broker", "src", "main.ts");

export interface BrokerProcessOptions {
  /** Reuse a data dir (restart); a fresh temporary one otherwise. */
  dataDir?: string;
  /** Fixed Kafka port (restart on the same address); 0 = any free port. */
  port?: number;
  extraArgs?: string[];
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface ReadyLine {
  listen: string;
  admin: string | null;
  clusterId: string;
  [k: string]: unknown;
}

export class BrokerProcess {
  readonly proc: ChildProcess;
  readonly dataDir: string;
  readonly ownsDataDir: boolean;
  port = 0;
  adminPort = 0;
  ready: ReadyLine | undefined;
  /** Every stdout line (JSON logs) and stderr line, for assertions and diagnostics. */
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readyPromise: Promise<ReadyLine>;

  constructor(opts: BrokerProcessOptions = {}) {
    this.ownsDataDir = opts.dataDir === undefined;
    this.dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "gauntlet-broker-test-"));
    const args = [
      "--import",
      "tsx",
      BROKER_MAIN,
      "--node-id",
      "1",
      "--listen",
      `127.0.0.1:${opts.port ?? 0}`,
      "--data-dir",
      this.dataDir,
      "--admin",
      "127.0.0.1:0",
      "--group-initial-rebalance-delay-ms",
      "0",
      ...(opts.extraArgs ?? []),
    ];
    this.proc = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) =>
      this.proc.once("exit", (code, signal) => resolve({ code, signal })),
    );
    const timeoutMs = opts.readyTimeoutMs ?? 30_000;
    this.readyPromise = new Promise<ReadyLine>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`broker not ready after ${timeoutMs} ms:\n${this.lines.slice(-20).join("\n")}`)),
        timeoutMs,
      );
      let buffered = "";
      this.proc.stdout!.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        let nl = buffered.indexOf("\n");
        while (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          this.lines.push(line);
          if (!this.ready && line.includes('"broker ready"')) {
            const parsed = JSON.parse(line) as ReadyLine;
            this.ready = parsed;
            this.port = Number(parsed.listen.split(":").pop());
            this.adminPort = parsed.admin ? Number(parsed.admin.split(":").pop()) : 0;
            clearTimeout(timer);
            resolve(parsed);
          }
          nl = buffered.indexOf("\n");
        }
      });
      this.proc.stderr!.on("data", (chunk: Buffer) =>
        this.lines.push(...chunk.toString("utf8").trimEnd().split("\n")),
      );
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(
          new Error(
            `broker exited (code ${code}, signal ${signal}) before ready:\n${this.lines.slice(-20).join("\n")}`,
          ),
        );
      });
    });
    this.readyPromise.catch(() => {});
  }

  static async start(opts: BrokerProcessOptions = {}): Promise<BrokerProcess> {
    const b = new BrokerProcess(opts);
    try {
      await b.readyPromise;
    } catch (e) {
      await b.kill();
      b.cleanup();
      throw e;
    }
    return b;
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Graceful stop (SIGTERM); resolves with the exit status. */
  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.alive) return this.exited;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  /** Crash (SIGKILL). */
  async kill(): Promise<void> {
    if (this.alive) this.proc.kill("SIGKILL");
    await this.exited;
  }

  /** Removes the data dir if this process created it. */
  cleanup(): void {
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
