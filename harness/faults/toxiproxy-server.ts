// The Toxiproxy server the fault plane talks to: either one this run starts (a supervised child on a
// free loopback port, so it never outlives the run) or an existing one named by TOXIPROXY_URL, which
// is then neither started nor stopped.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allocatePorts, LOOPBACK } from "../cluster/ports.ts";
import { type ManagedProcess, registerCleanupPath, spawnManaged } from "../cluster/process-supervisor.ts";
import { toxiproxyServerBin } from "../tools.ts";

export interface ToxiproxyServer {
  /** Base URL of the HTTP API, e.g. "http://127.0.0.1:34567" (no trailing slash). */
  readonly url: string;
  /** True when the server was given by TOXIPROXY_URL (or options.url) and this run does not own it. */
  readonly external: boolean;
  /** The server's pid while this run owns it and it runs; undefined for an external server. */
  readonly pid: number | undefined;
  /** The API port (for leak checks). */
  readonly port: number;
  /** The server's log file (owned servers only). */
  readonly logFile: string | undefined;
  /** The version string the API reports. */
  readonly version: string;
  /** Stops an owned server and waits until it is gone; does nothing for an external one. */
  stop(): Promise<void>;
}

export interface StartToxiproxyOptions {
  /**
   * Use this existing server instead of starting one. Default: env TOXIPROXY_URL. Pass null to
   * always start a server even when TOXIPROXY_URL is set.
   */
  url?: string | null;
  /** Path of the toxiproxy-server binary (default: located by harness/tools.ts). */
  binary?: string;
  /** Bound for the API to answer (default 15 s). */
  readyTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function normalizeUrl(url: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(url) ? url : `http://${url}`;
  return withScheme.replace(/\/+$/, "");
}

/** GET /version with a bound; resolves to the version text, rejects when the API does not answer. */
export async function toxiproxyVersion(url: string, timeoutMs = 2000): Promise<string> {
  const res = await fetch(`${url}/version`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}/version answered HTTP ${res.status}`);
  const text = (await res.text()).trim();
  // Toxiproxy 2.12 answers {"version": "..."}; older releases answer the bare version.
  try {
    const parsed = JSON.parse(text) as { version?: unknown };
    if (typeof parsed?.version === "string") return parsed.version;
  } catch {
    // Not JSON: the bare version.
  }
  return text;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Starts a Toxiproxy server (or attaches to TOXIPROXY_URL) and resolves once its API answers. */
export async function startToxiproxyServer(options: StartToxiproxyOptions = {}): Promise<ToxiproxyServer> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  const externalUrl = options.url === undefined ? process.env.TOXIPROXY_URL : options.url;
  if (externalUrl) return attachExternal(normalizeUrl(externalUrl), readyTimeoutMs);

  // Throws ToolMissingError ("Toxiproxy is not installed: run `npm run setup`.") when it is missing.
  const binary = options.binary ?? toxiproxyServerBin();
  let lastError: Error | undefined;
  // A free port can be taken between allocation and the server binding it: retry with another.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOwned(binary, readyTimeoutMs);
    } catch (err) {
      lastError = err as Error;
      if (!(err instanceof PortTakenError)) throw err;
    }
  }
  throw lastError!;
}

async function attachExternal(url: string, readyTimeoutMs: number): Promise<ToxiproxyServer> {
  const deadline = Date.now() + readyTimeoutMs;
  let problem = "";
  for (;;) {
    try {
      const version = await toxiproxyVersion(url);
      const port = Number(new URL(url).port || 80);
      return {
        url,
        external: true,
        pid: undefined,
        port,
        logFile: undefined,
        version,
        stop: async () => {},
      };
    } catch (err) {
      problem = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `The Toxiproxy server at ${url} (TOXIPROXY_URL) does not answer (${problem}): start it, or unset TOXIPROXY_URL to let the harness start its own.`,
      );
    }
    await sleep(200);
  }
}

class PortTakenError extends Error {}

async function startOwned(binary: string, readyTimeoutMs: number): Promise<ToxiproxyServer> {
  const [port] = await allocatePorts(1);
  const dir = mkdtempSync(join(tmpdir(), "gauntlet-toxiproxy-"));
  const unregister = registerCleanupPath(dir);
  const logFile = join(dir, "toxiproxy.log");
  const url = `http://${LOOPBACK}:${port}`;
  let proc: ManagedProcess | undefined;
  const cleanup = () => {
    rmSync(dir, { recursive: true, force: true });
    unregister();
  };
  try {
    proc = await spawnManaged({
      name: "toxiproxy-server",
      command: binary,
      args: ["-host", LOOPBACK, "-port", String(port)],
      logFile,
      cleanupPaths: [dir],
    });
    const version = await waitReady(proc, url, logFile, readyTimeoutMs);
    const owned = proc;
    let stopped: Promise<void> | undefined;
    return {
      url,
      external: false,
      get pid() {
        return owned.running ? owned.pid : undefined;
      },
      port,
      logFile,
      version,
      stop() {
        stopped ??= (async () => {
          await owned.terminate(5000);
          cleanup();
        })();
        return stopped;
      },
    };
  } catch (err) {
    await proc?.kill();
    cleanup();
    throw err;
  }
}

async function waitReady(
  proc: ManagedProcess,
  url: string,
  logFile: string,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let problem = "no answer";
  for (;;) {
    if (!proc.running) {
      const log = tail(logFile);
      if (/address already in use/i.test(log)) throw new PortTakenError(`Toxiproxy could not bind ${url}.`);
      const exit = proc.exit;
      throw new Error(
        `toxiproxy-server exited while starting (exit ${exit?.exitCode ?? exit?.signal}). Last lines of ${logFile}:\n${log}`,
      );
    }
    try {
      return await toxiproxyVersion(url, 1000);
    } catch (err) {
      problem = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `toxiproxy-server did not answer on ${url} within ${Math.round(timeoutMs / 1000)} s (${problem}). Last lines of ${logFile}:\n${tail(logFile)}`,
      );
    }
    await sleep(100);
  }
}
