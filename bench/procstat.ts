// CPU accounting from /proc: a process's user+system time (all threads) from /proc/<pid>/stat, and the
// machine's busy time from /proc/stat. Linux only; elsewhere the figures are absent (undefined).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let clockTicks: number | undefined;

/** Clock ticks per second (getconf CLK_TCK), 100 when it cannot be asked. */
export function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Parses utime+stime (fields 14 and 15) of a /proc/<pid>/stat line, in clock ticks. */
export function parseProcStatTicks(stat: string): number {
  // The command name (field 2) is in parentheses and may contain spaces: split after its closing one.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  return Number(rest[11]) + Number(rest[12]);
}

/** CPU seconds a process has used so far, or undefined when it is gone or /proc is missing. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    return parseProcStatTicks(readFileSync(`/proc/${pid}/stat`, "utf8")) / clkTck();
  } catch {
    return undefined;
  }
}

/** Machine-wide busy and total jiffies from the first line of /proc/stat. */
export function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest fields are already in user/nice).
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = f[3] + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Samples the CPU of some pids and the machine; `stop()` gives the use since the sample, in percent of one core. */
export class CpuMeter {
  private readonly t0 = performance.now();
  private readonly start: (number | undefined)[];
  private readonly machine0 = machineTicks();

  constructor(private readonly pids: number[]) {
    this.start = pids.map(processCpuSeconds);
  }

  stop(): {
    processPercent: number | undefined;
    perProcessPercent: (number | undefined)[];
    machineBusyPercent: number | undefined;
    wallMs: number;
  } {
    const wallMs = performance.now() - this.t0;
    const per = this.pids.map((pid, i) => {
      const a = this.start[i];
      const b = processCpuSeconds(pid);
      return a === undefined || b === undefined ? undefined : round1(((b - a) * 100_000) / wallMs);
    });
    const known = per.filter((x): x is number => x !== undefined);
    const m1 = machineTicks();
    const m0 = this.machine0;
    const machineBusyPercent =
      m0 && m1 && m1.total > m0.total
        ? round1(((m1.busy - m0.busy) * 100) / (m1.total - m0.total))
        : undefined;
    return {
      processPercent: known.length ? round1(known.reduce((a, b) => a + b, 0)) : undefined,
      perProcessPercent: per,
      machineBusyPercent,
      wallMs,
    };
  }
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;
