// Helpers for tests that prove nothing a cluster started is left behind.
import { listeningPorts } from "../cluster/ports.ts";
import { isProcessAlive } from "../cluster/process-supervisor.ts";

/** True when no process with this pid exists: process.kill(pid, 0) throws ESRCH. */
export function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Polls `check` until it is true or `ms` passed; returns its last value. */
export async function eventually(check: () => boolean, ms = 5000, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The pids that still exist (zombies count as gone only for `processGone`), and the ports still listening. */
export function leftovers(pids: number[], ports: number[]): { pids: number[]; ports: number[] } {
  const listening = listeningPorts();
  return { pids: pids.filter((pid) => !pidGone(pid)), ports: ports.filter((port) => listening.has(port)) };
}

/** Dead or a zombie: for processes whose parent died, which this machine's init may never reap. */
export function processGone(pid: number): boolean {
  return !isProcessAlive(pid);
}
