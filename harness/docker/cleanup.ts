// Cleanup of the docker backend by label. Every container, network and volume a run creates carries
// `gauntlet.run=<run id>` and `gauntlet.owner=<hostname>:<pid of the harness>`:
//   - removeRun(runId): what DockerCluster.stop() and the reaper (reaper.mjs) do;
//   - sweepDeadRuns(): removes what runs whose harness process is gone left behind (a harness and its
//     reaper both SIGKILLed, a machine restart); DockerCluster.start() runs it first;
//   - `tsx harness/docker/cleanup.ts [--all]`: the same sweep by hand (--all: every gauntlet run,
//     live or not).
import { spawn } from "node:child_process";
import type { Socket } from "node:net";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTestcontainers } from "./engine.ts";

export const RUN_LABEL = "gauntlet.run";
export const OWNER_LABEL = "gauntlet.owner";

/** The value of OWNER_LABEL for this process. */
export function ownerLabel(): string {
  return `${hostname()}:${process.pid}`;
}

/** Labels for everything a run creates. */
export function runLabels(runId: string): Record<string, string> {
  return { [RUN_LABEL]: runId, [OWNER_LABEL]: ownerLabel() };
}

async function dockerode() {
  const { getContainerRuntimeClient } = await loadTestcontainers();
  return (await getContainerRuntimeClient()).container.dockerode;
}

export interface RunResources {
  containers: string[];
  networks: string[];
  volumes: string[];
}

/** Everything labelled with the run id (or with any run id when runId is undefined). */
export async function listRun(runId?: string): Promise<RunResources> {
  const docker = await dockerode();
  const label = [runId ? `${RUN_LABEL}=${runId}` : RUN_LABEL];
  const [containers, networks, volumes] = await Promise.all([
    docker.listContainers({ all: true, filters: { label } }),
    docker.listNetworks({ filters: { label } }),
    docker.listVolumes({ filters: { label } }),
  ]);
  return {
    containers: containers.map((c) => c.Id),
    networks: networks.map((n) => n.Id),
    volumes: (volumes.Volumes ?? []).map((v) => v.Name),
  };
}

function ignoreMissing(err: unknown): void {
  const status = (err as { statusCode?: number }).statusCode;
  if (status === 404 || status === 409) return; // gone already, or its removal is in progress
  throw err;
}

/** Removes every container (with its anonymous volumes), network and volume of the run. */
export async function removeRun(runId: string): Promise<void> {
  const docker = await dockerode();
  const found = await listRun(runId);
  await Promise.all(
    found.containers.map((id) =>
      docker.getContainer(id).remove({ force: true, v: true }).catch(ignoreMissing),
    ),
  );
  await Promise.all(
    found.networks.map(async (id) => {
      const network = docker.getNetwork(id);
      // Containers of another run may still sit on it (a cluster on the fault plane's network).
      const info = (await network.inspect().catch(() => undefined)) as
        | { Containers?: Record<string, unknown> }
        | undefined;
      await Promise.all(
        Object.keys(info?.Containers ?? {}).map((container) =>
          network.disconnect({ Container: container, Force: true }).catch(() => {}),
        ),
      );
      await network.remove().catch(ignoreMissing);
    }),
  );
  await Promise.all(
    found.volumes.map((name) => docker.getVolume(name).remove({ force: true }).catch(ignoreMissing)),
  );
}

function ownerAlive(owner: string | undefined): boolean {
  if (!owner) return false;
  const i = owner.lastIndexOf(":");
  const host = owner.slice(0, i);
  const pid = Number(owner.slice(i + 1));
  if (host !== hostname()) return true; // another machine's engine user: not ours to judge
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes the resources of every run whose owning harness process is gone; returns those run ids. */
export async function sweepDeadRuns(options: { all?: boolean } = {}): Promise<string[]> {
  const docker = await dockerode();
  const filters = { label: [RUN_LABEL] };
  const [containers, networks, volumes] = await Promise.all([
    docker.listContainers({ all: true, filters }),
    docker.listNetworks({ filters }),
    docker.listVolumes({ filters }),
  ]);
  const owners = new Map<string, string | undefined>();
  const note = (labels: Record<string, string> | undefined) => {
    const run = labels?.[RUN_LABEL];
    if (run && !owners.has(run)) owners.set(run, labels?.[OWNER_LABEL]);
  };
  for (const c of containers) note(c.Labels);
  for (const n of networks) note(n.Labels);
  for (const v of volumes.Volumes ?? []) note(v.Labels ?? undefined);
  const dead = [...owners].filter(([, owner]) => options.all || !ownerAlive(owner)).map(([run]) => run);
  for (const run of dead) await removeRun(run);
  return dead;
}

const REAPER = join(dirname(fileURLToPath(import.meta.url)), "reaper.mjs");

/** The handle of a run's reaper: done() tells it the run cleaned up after itself. */
export interface Reaper {
  done(): void;
}

/**
 * Starts the run's reaper (reaper.mjs): detached, with stdin a pipe from this process. If this
 * process dies without calling done(), the reaper removes everything labelled with the run id and
 * the cleanup paths. The pipe does not keep this process alive.
 */
export function startReaper(runId: string, cleanupPaths: string[] = []): Reaper {
  const args = [REAPER, runId, ...cleanupPaths.flatMap((p) => ["--cleanup", p])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ["pipe", "ignore", "ignore"] });
  child.unref();
  child.stdin?.on("error", () => {});
  (child.stdin as unknown as Socket | null)?.unref?.();
  let finished = false;
  return {
    done() {
      if (finished) return;
      finished = true;
      child.stdin?.end("done\n");
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const all = process.argv.includes("--all");
  const removed = await sweepDeadRuns({ all });
  console.log(
    removed.length
      ? `removed the leftovers of ${removed.length} run(s): ${removed.join(", ")}`
      : "nothing to remove",
  );
}
