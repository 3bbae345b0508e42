// Fast checks of the cluster factory, the external target and the port helpers (no broker started).
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { type CreateClusterOptions, createCluster } from "../cluster/index.ts";
import { allocatePorts, assertPortsFree, canConnect, listeningPorts } from "../cluster/ports.ts";
import { parseBootstrap } from "../targets/external.ts";
import { KafkaCluster } from "../targets/kafka.ts";
import { missingTools } from "../tools.ts";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

function listenOn(port = 0): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    servers.push(server);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
}

describe("createCluster", () => {
  test("a wrong target name is one sentence listing the valid names", () => {
    expect(() => createCluster({ target: "redpanda" } as unknown as CreateClusterOptions)).toThrow(
      'Unknown target "redpanda": valid targets are kafka, reference, external.',
    );
  });

  test("the reference target runs one node or a cluster", () => {
    expect(() => createCluster({ target: "reference", nodes: 0 })).toThrow(
      "nodes must be a positive integer",
    );
    expect(createCluster({ target: "reference", nodes: 3 }).target).toBe("reference");
    expect(createCluster({ target: "reference", nodes: 1 }).target).toBe("reference");
  });

  test("kafka creates a KafkaCluster without starting anything", () => {
    const cluster = createCluster({ target: "kafka", nodes: 3 });
    expect(cluster).toBeInstanceOf(KafkaCluster);
    expect(cluster.target).toBe("kafka");
    expect(cluster.nodes()).toEqual([]);
  });

  test("kafka rejects a port list that does not match the node count", () => {
    expect(() => createCluster({ target: "kafka", nodes: 3, ports: [9092] })).toThrow(/one port per node/);
  });

  test("the external target refuses lifecycle faults with a clear sentence", async () => {
    const cluster = createCluster({ target: "external", bootstrapServers: "127.0.0.1:9092,127.0.0.1:9093" });
    expect(cluster.bootstrapServers()).toBe("127.0.0.1:9092,127.0.0.1:9093");
    await expect(cluster.kill(1)).rejects.toThrow(
      "The external target cannot kill node 1: its nodes are run outside Gauntlet; use the kafka or reference target for faults that need node control.",
    );
    await expect(cluster.addNode()).rejects.toThrow(/cannot add a node/);
  });

  test("bootstrap lists are parsed and bad entries named", () => {
    expect(parseBootstrap("a:1, [::1]:2")).toEqual([
      { host: "a", port: 1 },
      { host: "::1", port: 2 },
    ]);
    expect(() => parseBootstrap("localhost")).toThrow('"localhost" is not a host:port bootstrap address.');
  });
});

describe("ports", () => {
  test("allocatePorts returns distinct free loopback ports", async () => {
    const ports = await allocatePorts(6);
    expect(new Set(ports).size).toBe(6);
    await assertPortsFree(ports);
  });

  test("a port in use, requested explicitly, is one clear sentence", async () => {
    const port = await listenOn();
    await expect(assertPortsFree([port])).rejects.toThrow(
      `Port ${port} on 127.0.0.1 is already in use: stop what listens there or choose another port (or omit it to get a free one).`,
    );
    expect(listeningPorts().has(port)).toBe(true);
    expect(await canConnect(port)).toBe(true);
  });

  test("starting a Kafka cluster on a port in use fails before anything is spawned", async () => {
    const port = await listenOn();
    const cluster = createCluster({ target: "kafka", nodes: 1, ports: [port] });
    const reason = missingTools("java", "kafka");
    await expect(cluster.start()).rejects.toThrow(reason ?? `Port ${port} on 127.0.0.1 is already in use`);
    expect(cluster.nodes()).toEqual([]);
  });
});
