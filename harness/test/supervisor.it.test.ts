// Nothing the harness starts outlives it: not when the runner is SIGKILLed (no cleanup code runs;
// the reapers notice their stdin pipe closing), and not on Ctrl-C (SIGINT: the supervisor stops
// everything gracefully and exits 130).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, test } from "vitest";
import { missingTools, REPO_ROOT } from "../tools.ts";
import { eventually, leftovers, pidGone, processGone } from "./leak-check.ts";

const RUNNER = join(REPO_ROOT, "harness", "test", "fixtures", "runner.ts");

interface Started {
  pids: number[];
  groups: number[];
  dirs: string[];
  ports: number[];
}

const runners: ChildProcess[] = [];
let started: Started | undefined;

/** Starts the runner fixture and resolves with the JSON line it prints once its processes run. */
function startRunner(mode: "sleeper" | "kafka"): Promise<{ runner: ChildProcess; info: Started }> {
  const runner = spawn(process.execPath, ["--import", "tsx", RUNNER, mode], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  runners.push(runner);
  let stderr = "";
  runner.stderr!.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`runner did not report within 90 s: ${stderr}`)), 90_000);
    runner.once("exit", (code) => reject(new Error(`runner exited (${code}) before reporting: ${stderr}`)));
    createInterface({ input: runner.stdout! }).once("line", (line) => {
      clearTimeout(timer);
      const info = JSON.parse(line) as Started;
      started = info;
      resolve({ runner, info });
    });
  });
}

function exitOf(runner: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (runner.exitCode !== null || runner.signalCode !== null) {
    return Promise.resolve({ code: runner.exitCode, signal: runner.signalCode });
  }
  return new Promise((resolve) => runner.once("exit", (code, signal) => resolve({ code, signal })));
}

afterEach(() => {
  // Safety net should an assertion fail midway: nothing of this file may survive it.
  for (const r of runners.splice(0)) if (r.exitCode === null && r.signalCode === null) r.kill("SIGKILL");
  for (const pgid of started?.groups ?? []) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // Gone, as it should be.
    }
  }
  started = undefined;
});

describe("runner crash and Ctrl-C cleanup", () => {
  test("SIGKILL of the runner: its child process is gone within 5 s", async () => {
    const { runner, info } = await startRunner("sleeper");
    expect(pidGone(info.pids[0])).toBe(false);
    runner.kill("SIGKILL");
    await exitOf(runner);
    expect(await eventually(() => info.pids.every(pidGone), 5000)).toBe(true);
    expect(await eventually(() => info.groups.every(processGone), 5000)).toBe(true);
    expect(await eventually(() => info.dirs.every((d) => !existsSync(d)), 5000)).toBe(true);
  });

  test("SIGINT (Ctrl-C) to the runner: it exits 130 and its child process is gone", async () => {
    const { runner, info } = await startRunner("sleeper");
    runner.kill("SIGINT");
    const exit = await exitOf(runner);
    expect(exit.code).toBe(130);
    expect(await eventually(() => [...info.pids, ...info.groups].every(pidGone), 5000)).toBe(true);
    expect(info.dirs.every((d) => !existsSync(d))).toBe(true);
  });
});

const missing = missingTools("java", "kafka");
if (missing) console.warn(`supervisor.it.test.ts: the Kafka cases are skipped: ${missing}`);

describe.skipIf(!!missing)(
  `runner crash and Ctrl-C with a real Kafka broker${missing ? ` (skipped: ${missing})` : ""}`,
  () => {
    test("SIGKILL of the runner: the broker's JVM, port and data directory are gone within a few seconds", async () => {
      const { runner, info } = await startRunner("kafka");
      expect(leftovers(info.pids, []).pids).toEqual(info.pids);
      runner.kill("SIGKILL");
      await exitOf(runner);
      expect(await eventually(() => info.pids.every(pidGone), 5000)).toBe(true);
      expect(await eventually(() => leftovers(info.pids, info.ports).ports.length === 0, 5000)).toBe(true);
      expect(await eventually(() => info.dirs.every((d) => !existsSync(d)), 5000)).toBe(true);
    });

    test("SIGINT (Ctrl-C) to the runner: the broker stops, the runner exits 130, nothing is left", async () => {
      const { runner, info } = await startRunner("kafka");
      runner.kill("SIGINT");
      const exit = await exitOf(runner);
      expect(exit.code).toBe(130);
      expect(leftovers([...info.pids, ...info.groups], info.ports)).toEqual({ pids: [], ports: [] });
      expect(info.dirs.every((d) => !existsSync(d))).toBe(true);
    });
  },
);
