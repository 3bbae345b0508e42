// The Docker engine the docker backend talks to: finding it (a unix socket that answers /_ping),
// and starting Debian's dockerd as a background daemon when none answers (used by `npm run setup`).
// No registry is involved anywhere: images are built from local parts (images.ts).
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { CACHE_DIR, which } from "../tools.ts";

/** Where setup's dockerd writes its log and pid file (per user cache dir, like the other tools). */
export const DOCKERD_DIR = join(CACHE_DIR, "docker");
export const DOCKERD_LOG = join(DOCKERD_DIR, "dockerd.log");
export const DOCKERD_PID = join(DOCKERD_DIR, "dockerd.pid");
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

/**
 * testcontainers, loaded on first use (its import takes seconds on a busy machine, and most users of
 * createCluster never touch Docker), with Ryuk disabled: its image cannot be pulled here, and the
 * docker backend cleans up by label itself (cleanup.ts, reaper.mjs).
 */
export async function loadTestcontainers(): Promise<typeof import("testcontainers")> {
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  return import("testcontainers");
}

/** The unix socket of the engine: DOCKER_HOST when it is a unix:// address, else the default. */
export function dockerSocketPath(): string {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith("unix://")) return host.slice("unix://".length);
  return DEFAULT_DOCKER_SOCKET;
}

export interface EngineInfo {
  version: string;
  apiVersion: string;
  socket: string;
}

function getJson(socketPath: string, path: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET", timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if ((res.statusCode ?? 500) >= 400) reject(new Error(`HTTP ${res.statusCode}: ${body.trim()}`));
        else {
          try {
            resolve(JSON.parse(body));
          } catch {
            resolve(body);
          }
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** The engine's version when one answers on the socket, else undefined. */
export async function pingEngine(
  timeoutMs = 3000,
  socket = dockerSocketPath(),
): Promise<EngineInfo | undefined> {
  if (process.env.DOCKER_HOST && !process.env.DOCKER_HOST.startsWith("unix://")) {
    throw new Error(
      `DOCKER_HOST=${process.env.DOCKER_HOST} is not a unix socket: the docker backend bind-mounts host directories, so it needs a local engine.`,
    );
  }
  if (!existsSync(socket)) return undefined;
  try {
    const v = (await getJson(socket, "/version", timeoutMs)) as { Version?: string; ApiVersion?: string };
    if (!v?.Version) return undefined;
    return { version: v.Version, apiVersion: v.ApiVersion ?? "?", socket };
  } catch {
    return undefined;
  }
}

/** The sentence saying why no engine is there and how to get one. */
export function noEngineSentence(socket = dockerSocketPath()): string {
  return `No Docker engine answers on ${socket}: run \`npm run setup\` (it installs Debian's docker.io and starts dockerd) or start your own engine.`;
}

/**
 * Why tests needing the docker backend cannot run, or undefined when an engine answers. Like
 * missingTools (tools.ts): in CI (CI=true) a missing engine throws instead, since CI runs setup.
 */
export async function dockerMissing(): Promise<string | undefined> {
  const engine = await pingEngine();
  if (engine) return undefined;
  const reason = noEngineSentence();
  if (process.env.CI === "true") throw new Error(`${reason} (CI must not skip this test)`);
  return reason;
}

/** Throws the one-sentence error when no engine answers. */
export async function requireEngine(): Promise<EngineInfo> {
  const engine = await pingEngine();
  if (!engine) throw new Error(noEngineSentence());
  return engine;
}

function tailOf(file: string, lines = 25): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether the iptables binary works here (netfilter usable by this kernel/sandbox). */
function iptablesWorks(): boolean {
  const bin = which("iptables") ?? (existsSync("/usr/sbin/iptables") ? "/usr/sbin/iptables" : undefined);
  if (!bin) return false;
  return spawnSync(bin, ["-t", "nat", "-L", "-n"], { stdio: "ignore", timeout: 10_000 }).status === 0;
}

/** The dockerd command line for this machine; `fallback` = vfs storage (no overlayfs). */
export function dockerdArgs(fallback: { vfs?: boolean } = {}): string[] {
  const args = [`--host=unix://${DEFAULT_DOCKER_SOCKET}`, `--pidfile=${join(DOCKERD_DIR, "docker.pid")}`];
  // Without netfilter, user-defined bridges still connect containers (one L2 segment) and published
  // ports still reach them through docker-proxy (the userland proxy); only outbound NAT is lost.
  if (!iptablesWorks()) args.push("--iptables=false", "--ip-masq=false");
  if (fallback.vfs) args.push("--storage-driver=vfs");
  return args;
}

function dockerdBin(): string | undefined {
  return which("dockerd") ?? (existsSync("/usr/sbin/dockerd") ? "/usr/sbin/dockerd" : undefined);
}

/**
 * Starts dockerd as a background daemon (its own session, log in DOCKERD_LOG) unless an engine
 * already answers, and waits until it answers. Falls back to the vfs storage driver when overlay2
 * does not work here. dockerd keeps running afterwards, like a system service.
 */
export async function startDockerd(
  timeoutMs = 60_000,
): Promise<EngineInfo & { started: boolean; args: string[] }> {
  const running = await pingEngine();
  if (running) return { ...running, started: false, args: [] };
  const bin = dockerdBin();
  if (!bin) throw new Error("dockerd is not installed (Debian: `apt-get install -y docker.io`)");
  if (process.getuid?.() !== 0) throw new Error("starting dockerd needs root");
  mkdirSync(DOCKERD_DIR, { recursive: true });
  let lastError = "";
  for (const vfs of [false, true]) {
    const args = dockerdArgs({ vfs });
    const logFd = openSync(DOCKERD_LOG, "a");
    writeFileSync(logFd, `\n=== ${new Date().toISOString()} gauntlet: ${bin} ${args.join(" ")}\n`);
    // PATH must reach containerd, runc and docker-init (Debian puts them in /usr/bin and /usr/sbin).
    const PATH = `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin`;
    const child = spawn(bin, args, {
      detached: true,
      stdio: ["ignore", logFd, logFd],
      env: { ...process.env, PATH },
    });
    closeSync(logFd);
    const pid = child.pid;
    child.unref();
    if (pid) writeFileSync(DOCKERD_PID, `${pid}\n`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      const engine = await pingEngine(2000);
      if (engine) return { ...engine, started: true, args };
      if (pid && !pidAlive(pid)) break;
    }
    lastError = tailOf(DOCKERD_LOG);
    if (pid && pidAlive(pid)) process.kill(pid, "SIGKILL");
    // Only retry with vfs when overlay2 was the problem.
    if (!/overlay|storage.driver|graphdriver/i.test(lastError)) break;
  }
  throw new Error(`dockerd did not start (log ${DOCKERD_LOG}):\n${lastError}`);
}

/** Storage driver and cgroup facts of the running engine, for setup's one-line report. */
export async function engineDetails(): Promise<string | undefined> {
  const engine = await pingEngine();
  if (!engine) return undefined;
  try {
    const info = (await getJson(engine.socket, "/info", 5000)) as {
      Driver?: string;
      CgroupVersion?: string;
    };
    return `Docker ${engine.version}, ${info.Driver ?? "?"}, cgroup v${info.CgroupVersion ?? "?"}, ${engine.socket}`;
  } catch {
    return `Docker ${engine.version}, ${engine.socket}`;
  }
}
