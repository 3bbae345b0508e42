// The fault plane on the docker backend: Toxiproxy runs as a container on a network the node
// containers join; client proxies are published on 127.0.0.1, link proxies are reached by the alias
// "toxiproxy". Checks that faults really act on those paths (a refused client proxy stops Metadata,
// an isolated controller is replaced) and that nothing labelled with either run remains afterwards.
import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { createCluster } from "../cluster/index.ts";
import { probeMetadata } from "../cluster/kafka-probe.ts";
import type { DockerCluster } from "../docker/cluster.ts";
import { dockerMissing } from "../docker/engine.ts";
import { FaultPlane } from "../faults/fault-plane.ts";
import { missingTools } from "../tools.ts";

const missing = (await dockerMissing()) ?? missingTools("toxiproxy");
if (missing) console.warn(`docker-toxiproxy.it.test.ts skipped: ${missing}`);

/** Retries an async check until it passes or the bound is over (then its last error is thrown). */
async function until(check: () => Promise<void>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function labelled(runId: string): string[] {
  const filter = `label=gauntlet.run=${runId}`;
  const list = (args: string[]) =>
    execFileSync("docker", args, { encoding: "utf8" }).split("\n").filter(Boolean);
  return [...list(["ps", "-aq", "--filter", filter]), ...list(["network", "ls", "-q", "--filter", filter])];
}

describe.skipIf(missing)("fault plane with Toxiproxy in a container (docker backend)", () => {
  test("client and link proxies carry the traffic, faults act on them, and everything is removed", async () => {
    const plane = await FaultPlane.open({ docker: true });
    const network = plane.network!;
    expect(network).toMatch(/^gauntlet-/);
    const cluster = createCluster({
      target: "reference",
      backend: "docker",
      nodes: 3,
      network,
      advertise: plane.advertiseClients(),
      peerAddress: plane.routeLinks(),
    }) as DockerCluster;
    try {
      await cluster.start();
      const proxies = plane.proxies();
      expect(proxies.filter((p) => p.role === "client")).toHaveLength(3);
      // 3 nodes × 2 peers × (controller + replication)
      const links = proxies.filter((p) => p.role === "link");
      expect(links).toHaveLength(12);
      for (const link of links) {
        expect(link.listen.host).toBe("toxiproxy");
        expect(link.upstream.host).toMatch(/^node-\d$/);
      }
      // every node advertises its client proxy, published on loopback
      for (const node of cluster.nodes()) {
        expect(node.advertisedHost).toBe("127.0.0.1");
        expect(node.advertisedPort).toBe(plane.clientAddress(node.nodeId)!.port);
        const md = await probeMetadata(node.advertisedHost, node.advertisedPort);
        expect(md.brokers.map((b) => b.port).sort()).toEqual(
          cluster
            .nodes()
            .map((n) => n.advertisedPort)
            .sort(),
        );
      }

      // a refused client proxy: node 1 cannot be reached through it, then can again
      const refused = await plane.refuse({ client: 1 });
      const n1 = cluster.nodes()[0];
      await expect(probeMetadata(n1.advertisedHost, n1.advertisedPort, 1500)).rejects.toThrow();
      await refused.stop();
      await until(async () => {
        await probeMetadata(n1.advertisedHost, n1.advertisedPort, 1500);
      }, 10_000);

      // isolating the active controller's links: the other two elect another one
      const before = (await probeMetadata(n1.advertisedHost, n1.advertisedPort)).controllerId;
      expect(before).toBeGreaterThan(0);
      const isolated = await plane.partition(
        [before],
        cluster
          .nodes()
          .map((n) => n.nodeId)
          .filter((id) => id !== before),
      );
      const other = cluster.nodes().find((n) => n.nodeId !== before)!;
      await until(async () => {
        const md = await probeMetadata(other.advertisedHost, other.advertisedPort, 1500);
        expect(md.controllerId).toBeGreaterThan(0);
        expect(md.controllerId).not.toBe(before);
      }, 30_000);
      await isolated.stop();
    } finally {
      const runId = cluster.run;
      await cluster.stop();
      await plane.close();
      expect(labelled(runId)).toEqual([]);
      expect(labelled(network)).toEqual([]);
    }
  }, 180_000);
});
