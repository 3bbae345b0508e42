// Toxiproxy as a container on a docker network of its own, for the fault plane on the docker backend.
// Node containers join that network (DockerClusterOptions.network), so every link between nodes can
// go through a proxy in this container (nodes reach it by the alias "toxiproxy"), and clients on the
// host reach the nodes through client proxies whose container ports are published on 127.0.0.1.
//
// Toxiproxy proxies are created at run time, but docker publishes ports only when a container is
// created: so the container publishes a fixed pool of proxy ports up front (CLIENT_PORT_BASE…), one
// per client proxy; link proxies need no publishing (they listen on a random port inside the network).
//
// Everything carries the run's labels; stop() removes it, the reaper does when the harness dies.
import { randomBytes } from "node:crypto";
import { LOOPBACK } from "../cluster/ports.ts";
import { registerShutdownHook } from "../cluster/process-supervisor.ts";
import type { Address } from "../cluster/types.ts";
import type { ToxiproxyServer } from "../faults/toxiproxy-server.ts";
import { toxiproxyVersion } from "../faults/toxiproxy-server.ts";
import { type Reaper, removeRun, runLabels, startReaper, sweepDeadRuns } from "./cleanup.ts";
import { loadTestcontainers, requireEngine } from "./engine.ts";
import { ensureToxiproxyImage } from "./images.ts";

/** The alias node containers use to reach the Toxiproxy container. */
export const TOXIPROXY_ALIAS = "toxiproxy";
const API_PORT = 8474;
const CLIENT_PORT_BASE = 20_000;

export interface DockerToxiproxy extends ToxiproxyServer {
  /** The docker network the proxy container is on; node containers must join it. */
  readonly network: string;
  /** The run id labelling the container and the network. */
  readonly runId: string;
  /**
   * Takes a free published proxy port: `listen` is what to give Toxiproxy (inside the container),
   * `published` the address a host client connects to.
   */
  takeClientPort(): { listen: string; published: Address };
}

export interface StartToxiproxyContainerOptions {
  /** How many client proxies the container can serve (published ports; default 16). */
  clientPorts?: number;
  /** Bound for the API to answer (default 30 s). */
  readyTimeoutMs?: number;
}

/** Starts the gauntlet/toxiproxy image on a new network and resolves once its API answers on the host. */
export async function startToxiproxyContainer(
  options: StartToxiproxyContainerOptions = {},
): Promise<DockerToxiproxy> {
  await requireEngine();
  await sweepDeadRuns();
  const poolSize = options.clientPorts ?? 16;
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 256)
    throw new Error(`clientPorts must be an integer from 1 to 256, not ${poolSize}.`);
  const image = (await ensureToxiproxyImage()).tag;
  const runId = `gauntlet-${process.pid}-toxiproxy-${randomBytes(3).toString("hex")}`;
  const reaper: Reaper = startReaper(runId);
  let unregister: (() => void) | undefined;
  const removeAll = async () => {
    await removeRun(runId);
    reaper.done();
    unregister?.();
  };
  unregister = registerShutdownHook(removeAll);
  try {
    const tc = await loadTestcontainers();
    const client = await tc.getContainerRuntimeClient();
    await client.network.create({
      Name: runId,
      CheckDuplicate: true,
      Driver: "bridge",
      Labels: runLabels(runId),
    });
    const containerPorts = Array.from({ length: poolSize }, (_, i) => CLIENT_PORT_BASE + i);
    class LoopbackContainer extends tc.GenericContainer {
      protected override async beforeContainerCreated(): Promise<void> {
        for (const bindings of Object.values(this.hostConfig.PortBindings ?? {}) as { HostIp?: string }[][]) {
          for (const binding of bindings) binding.HostIp = LOOPBACK;
        }
      }
    }
    const started = await new LoopbackContainer(image)
      .withName(`${runId}-server`)
      .withLabels({ ...runLabels(runId), "gauntlet.role": "toxiproxy" })
      .withNetworkMode(runId)
      .withNetworkAliases(TOXIPROXY_ALIAS)
      .withExposedPorts(API_PORT, ...containerPorts)
      // no shell in the image: wait for the log line, not a port probe
      .withWaitStrategy(tc.Wait.forLogMessage(/Starting Toxiproxy HTTP server/))
      .withStartupTimeout(options.readyTimeoutMs ?? 30_000)
      .start();
    const url = `http://${LOOPBACK}:${started.getMappedPort(API_PORT)}`;
    const version = await waitForApi(url, options.readyTimeoutMs ?? 30_000);
    const free = [...containerPorts];
    let stopped: Promise<void> | undefined;
    return {
      url,
      external: false,
      pid: undefined,
      port: started.getMappedPort(API_PORT),
      logFile: undefined,
      version,
      network: runId,
      runId,
      takeClientPort() {
        const port = free.shift();
        if (port === undefined) {
          throw new Error(
            `The Toxiproxy container has no free published port left for another client proxy (it has ${poolSize}): open the fault plane with more clientPorts.`,
          );
        }
        return {
          listen: `0.0.0.0:${port}`,
          published: { host: LOOPBACK, port: started.getMappedPort(port) },
        };
      },
      stop() {
        stopped ??= removeAll();
        return stopped;
      },
    };
  } catch (err) {
    await removeAll();
    throw new Error(
      `The Toxiproxy container did not start: ${(err as Error).message.split("\n")[0]} (everything it created was removed).`,
    );
  }
}

async function waitForApi(url: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await toxiproxyVersion(url, 1000);
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`its API did not answer on ${url} (${(err as Error).message})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
